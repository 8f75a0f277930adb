/**
 * detect.* figures: how long after a node dies (SIGKILL), hangs (SIGSTOP)
 * or leaves (shutdown()) a monitor on one of its ports fires on another node.
 *
 * Processes (aemp-remote.ts): a seed, a watcher node and, per run, a fresh
 * node W, all on the WebSocket mesh. The watcher sets `mon` on W's port
 * (relayed through the seed, as W and the watcher have no link of their
 * own), then the harness hits W. Times are wall-clock milliseconds across
 * processes (child-io.ts wallNow):
 *   kill / hang: harness stamp right before process.kill → watcher's stamp when the monitor fires;
 *   shutdown:    W's stamp right before it calls shutdown() → the same.
 */
import { type Child, startChild } from './child.ts';
import { wallNow } from './child-io.ts';
import { linkedSignal } from './signals.ts';

export type DetectKind = 'kill' | 'hang' | 'shutdown';

export interface DetectOptions {
  kind: DetectKind;
  /** Measured runs. */
  runs: number;
  /** Unreported runs first. Default 0. */
  warmupRuns?: number;
  /** monitor_timeout (ms) of every node; undefined keeps the default (6000). */
  monitorTimeoutMs?: number;
  /** Limit for start-up and for one detection (ms). Default 30 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface DetectResult {
  /** Milliseconds per measured run. */
  values: number[];
  /** The monitor's reason in the last run (for the table's note). */
  reason: unknown;
  /** How the watcher reached W (linkInfo path). */
  path: unknown;
}

const SCRIPT = 'aemp-remote.ts';

/** Measure one detect figure; every process is killed before this returns. */
export async function measureDetect(o: DetectOptions): Promise<DetectResult> {
  const tmo = o.timeoutMs ?? 30_000;
  const timing = o.monitorTimeoutMs !== undefined ? { monitor_timeout: o.monitorTimeoutMs } : {};
  const children: Child[] = [];
  const sub = linkedSignal(o.signal);
  const start = (args: Record<string, unknown>, label: string): Child => {
    const c = startChild(SCRIPT, { args: { ...args, ...timing }, signal: sub.signal, label });
    children.push(c);
    return c;
  };
  try {
    const seed = start({ role: 'seed' }, 'detect seed');
    const seedUrl = (await seed.next('ready', tmo)).url as string;
    const watcher = start({ role: 'watcher', seedUrl }, 'detect watcher');
    await watcher.next('ready', tmo);

    const warm = o.warmupRuns ?? 0;
    const values: number[] = [];
    let reason: unknown;
    let path: unknown;
    for (let k = 0; k < warm + o.runs; k++) {
      if (o.signal?.aborted) throw new Error('aborted');
      const w = start({ role: 'watched', seedUrl, nodeid: `w${k}` }, `detect W${k}`);
      const port = (await w.next('ready', tmo)).port as string;
      watcher.send({ cmd: 'watch', port, run: k });
      path = (await watcher.next('armed', tmo, (e) => e.run === k)).path;
      const fired = watcher.next('fired', tmo, (e) => e.run === k);
      fired.catch(() => {}); // awaited below; do not let an early failure go unhandled
      let t0: number;
      if (o.kind === 'shutdown') {
        w.send({ cmd: 'shutdown' });
        t0 = (await w.next('shutting', tmo)).t as number;
      } else {
        t0 = wallNow();
        w.proc.kill(o.kind === 'kill' ? 'SIGKILL' : 'SIGSTOP');
      }
      const e = await fired;
      // SIGKILL also ends a stopped process; nothing of W survives the run.
      w.kill();
      await w.exited;
      const ms = (e.t as number) - t0;
      if (!(ms >= 0)) throw new Error(`run ${k}: nonsensical detection time ${ms} ms`);
      if (k >= warm) values.push(ms);
      reason = e.reason;
    }
    return { values, reason, path };
  } finally {
    // kill() rather than stop(): a stopped W would not answer an exit command.
    for (const c of children) c.kill();
    await Promise.all(children.map((c) => c.exited));
    sub.done();
  }
}
