/**
 * Measurements across processes, independent of what carries the messages:
 * the same functions measure raw ws, raw WebRTC and (later) aemp links, so
 * a figure and its baseline are the same work by construction.
 *
 * A pair is two helper scripts (see child-io.ts). Each gets its role in
 * `args.role` ('recv'/'send' for throughput, 'echo'/'ping' for RTT), the
 * message count in `args.count`, plus `args.helpers`: the `ready` events of
 * helper processes started before the pair (e.g. a seed for relay figures).
 * `peer` events are forwarded between the two, so they can exchange an
 * address or WebRTC signals. Both must emit `ready` once connected.
 *
 * Throughput, per run k (the harness sends {"cmd":"go","run":k} to the sender):
 *   sender:   emits {"ev":"started","run":k,"t":wallNow()} right before its first send,
 *             then sends `count` messages, respecting backpressure;
 *   receiver: emits {"ev":"done","run":k,"t":wallNow()} when the count-th message of
 *             the run was decoded (it counts runs itself, from 0).
 *   msg/s = count / (done.t - started.t).
 * RTT, per run k ({"cmd":"go","run":k} to the pinger):
 *   pinger:   does args.warmup round trips, then `count` timed ones, and emits
 *             {"ev":"rtts","run":k,"samples":[ms, …]}; the echo side answers each.
 *   value = p50 of the samples.
 * The first `warmup` runs (default 1) are done but not reported.
 */
import { readFileSync } from 'node:fs';
import { type Child, type ChildEvent, startChild, pairUp } from './child.ts';
import { quantile } from './stats.ts';

/** Linux clock ticks per second (USER_HZ) for /proc/PID/stat's utime and stime. */
const USER_HZ = 100;

/** CPU time (user + system, all threads) of process `pid` so far, µs; undefined where /proc is missing. */
export function cpuMicros(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) in parentheses: utime and stime are the 12th and 13th.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1e6) / USER_HZ;
  } catch {
    return undefined;
  }
}

export interface ScriptSpec {
  /** Path relative to bench/ (or absolute). */
  script: string;
  args?: Record<string, unknown>;
  nodeFlags?: string[];
}

export interface PairOptions {
  /** Measured runs (after warm-up runs). */
  runs: number;
  /** Unreported runs first, so JIT and connection set-up do not count. Default 1. */
  warmupRuns?: number;
  /** Extra args for both scripts of the pair. */
  args?: Record<string, unknown>;
  /** Started first, in order; each must emit `ready`. Their ready events go to the pair as args.helpers. */
  helpers?: ScriptSpec[];
  /** Limit for start-up and connection (ms). Default 30 s. */
  startTimeoutMs?: number;
  /** Limit for one run (ms). Default 60 s. */
  runTimeoutMs?: number;
  /** Aborting kills every process of the pair. */
  signal?: AbortSignal;
  /** Called per measured run with the CPU time (µs) all processes (helpers and pair) spent in it. */
  onCpu?: (micros: number) => void;
}

export interface ThroughputOptions extends PairOptions {
  senderScript: string;
  receiverScript: string;
  /** Messages per run. */
  count: number;
}

export interface RttOptions extends PairOptions {
  echoScript: string;
  pingScript: string;
  /** Timed round trips per run. */
  count: number;
  /** Untimed round trips before the timed ones, every run. Default 200. */
  warmup?: number;
}

/** Throughput in msg/s of each measured run. */
export async function measureThroughput(o: ThroughputOptions): Promise<number[]> {
  return withPair(o, { script: o.receiverScript, role: 'recv' }, { script: o.senderScript, role: 'send' }, async (recv, send, k) => {
    const tmo = o.runTimeoutMs ?? 60_000;
    const isRun = (e: ChildEvent): boolean => e.run === k;
    const [started, done] = await Promise.all([send.next('started', tmo, isRun), recv.next('done', tmo, isRun)]);
    const ms = (done.t as number) - (started.t as number);
    if (!(ms > 0)) throw new Error(`run ${k}: nonsensical duration ${ms} ms`);
    return (o.count / ms) * 1000;
  });
}

/** The RTT p50 in ms of each measured run. */
export async function measureRtt(o: RttOptions): Promise<number[]> {
  const args = { warmup: o.warmup ?? 200, ...o.args };
  return withPair({ ...o, args }, { script: o.echoScript, role: 'echo' }, { script: o.pingScript, role: 'ping' }, async (_echo, ping, k) => {
    const e = await ping.next('rtts', o.runTimeoutMs ?? 60_000, (x) => x.run === k);
    const samples = e.samples as number[];
    if (!Array.isArray(samples) || samples.length !== o.count) throw new Error(`run ${k}: expected ${o.count} samples`);
    return quantile(samples, 0.5);
  });
}

/** Start helpers and a pair, wait until both are ready, do the runs, and tear everything down. */
async function withPair(
  o: PairOptions & { count: number },
  passive: { script: string; role: string },
  active: { script: string; role: string },
  oneRun: (passive: Child, active: Child, k: number) => Promise<number>,
): Promise<number[]> {
  const startTmo = o.startTimeoutMs ?? 30_000;
  const children: Child[] = [];
  try {
    const helpers: unknown[] = [];
    for (const h of o.helpers ?? []) {
      const c = startChild(h.script, { args: { ...h.args, count: o.count }, nodeFlags: h.nodeFlags, signal: o.signal });
      children.push(c);
      helpers.push(await c.next('ready', startTmo));
    }
    const common = { ...o.args, count: o.count, helpers };
    const p = startChild(passive.script, { args: { ...common, role: passive.role }, signal: o.signal, label: `${passive.script}(${passive.role})` });
    children.push(p);
    const a = startChild(active.script, { args: { ...common, role: active.role }, signal: o.signal, label: `${active.script}(${active.role})` });
    children.push(a);
    pairUp(p, a);
    await Promise.all([p.next('ready', startTmo), a.next('ready', startTmo)]);

    const warm = o.warmupRuns ?? 1;
    const out: number[] = [];
    const cpu = (): number => children.reduce((sum, c) => sum + (cpuMicros(c.proc.pid) ?? NaN), 0);
    for (let k = 0; k < warm + o.runs; k++) {
      if (o.signal?.aborted) throw new Error('aborted');
      const cpu0 = o.onCpu !== undefined ? cpu() : 0;
      a.send({ cmd: 'go', run: k });
      const v = await oneRun(p, a, k);
      if (k >= warm) {
        out.push(v);
        o.onCpu?.(cpu() - cpu0);
      }
    }
    return out;
  } finally {
    await Promise.all(children.map((c) => c.stop()));
  }
}
