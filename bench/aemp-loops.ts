/**
 * The measuring loops both aemp child scripts run (aemp-remote.ts over the
 * WebSocket mesh, rtc-node.ts over a direct link), so their figures come from
 * the same work as each other and as the raw baselines:
 *
 * - throughput: the sender sends `snd(port, 'm', i, 'x')` in chunks
 *   (default 10,000) with a macrotask between chunks, never more than a
 *   window (default 200,000) ahead of the receiver's last ack; the receiver
 *   acks with `snd(ackPort, 'ack', total)` every ackEvery (default 100,000)
 *   messages and emits {ev:'done', run, t} after each run of `count`.
 *   Counts are totals over all runs, so a late ack of one run cannot
 *   confuse the next.
 * - RTT: the pinger sends one 'm' at a time and waits for the echo.
 */
import type { MpNode, PortId } from '../node/index.ts';
import { wallNow, type ChildIo } from './child-io.ts';

export interface LoopOptions {
  count: number;
  chunk?: number;
  window?: number;
  ackEvery?: number;
  warmup?: number;
  fail: (e: unknown) => void;
  /** Runs after each measured run (e.g. a path check); may call fail. */
  afterRun?: () => void;
}

const macrotask = (): Promise<void> => new Promise((r) => setImmediate(r));

/** The passive side on `port`: count in order and ack (role 'recv'), or echo every 'm' (role 'echo'). */
export function passiveLoop(role: string, node: MpNode, port: PortId, peerPort: () => PortId | undefined, io: ChildIo, o: LoopOptions): void {
  if (role !== 'recv') {
    node.rcv(port, 'm', (i: number, x: string) => node.snd(peerPort()!, 'm', i, x));
    return;
  }
  const ackEvery = o.ackEvery ?? 100_000;
  let run = 0;
  let next = 0;
  let total = 0;
  node.rcv(port, 'm', (i: number) => {
    if (i !== next) throw new Error(`run ${run}: message ${i} arrived, expected ${next}`);
    next++;
    if (++total % ackEvery === 0) node.snd(peerPort()!, 'ack', total);
    if (next === o.count) {
      io.emit({ ev: 'done', run, t: wallNow() });
      run++;
      next = 0;
    }
  });
}

/** The active side from port `me` to `dst`: on every `go`, a windowed send run (role 'send') or a ping-pong run (role 'ping'). */
export function activeLoop(role: string, node: MpNode, me: PortId, dst: PortId, io: ChildIo, o: LoopOptions): void {
  const after = o.afterRun ?? (() => {});
  if (role === 'send') {
    const chunk = o.chunk ?? 10_000;
    const windowSize = o.window ?? 200_000;
    let sent = 0;
    let acked = 0;
    let wake: (() => void) | undefined;
    node.rcv(me, 'ack', (n: number) => {
      acked = n;
      const w = wake;
      wake = undefined;
      w?.();
    });
    io.on('go', (g) => {
      void (async () => {
        io.emit({ ev: 'started', run: g.run, t: wallNow() });
        for (let i = 0; i < o.count; ) {
          const n = Math.min(chunk, o.count - i);
          while (sent + n - acked > windowSize) await new Promise<void>((r) => (wake = r));
          for (const end = i + n; i < end; i++) node.snd(dst, 'm', i, 'x');
          sent += n;
          await macrotask();
        }
        after();
      })().catch(o.fail);
    });
    return;
  }
  const warmup = o.warmup ?? 200;
  let reply: (() => void) | undefined;
  node.rcv(me, 'm', () => {
    const r = reply;
    reply = undefined;
    r?.();
  });
  io.on('go', (g) => {
    void (async () => {
      const samples: number[] = [];
      for (let i = 0; i < warmup + o.count; i++) {
        const t0 = performance.now();
        const got = new Promise<void>((r) => (reply = r));
        node.snd(dst, 'm', i, 'x');
        await got;
        if (i >= warmup) samples.push(performance.now() - t0);
      }
      after();
      io.emit({ ev: 'rtts', run: g.run, samples });
    })().catch(o.fail);
  });
}
