/**
 * The figures `npm run bench` measures (see run.ts for how to add one) and
 * the raw-layer measurements that serve as baselines, memoised so a raw
 * figure and the aemp figure compared with it share one measurement.
 */
import { localThroughput } from './local.ts';
import { measureRtt, measureThroughput, type ThroughputOptions } from './measure.ts';
import { startChild } from './child.ts';
import { type DetectKind, measureDetect } from './detect.ts';
import { linkedSignal } from './signals.ts';
import { median, round } from './stats.ts';
import { groupsFigures } from './figures-groups.ts';
import { nodeNodeFigures, rtcFigures } from './figures-rtc.ts';
import { packageFigures } from './figures-package.ts';
import { browserFigures } from './figures-browser.ts';

/** Messages per run of the ws throughput figures (raw and aemp must match). */
export const WS_COUNT = 2_000_000;
/** Messages per run of the WebRTC throughput figures. */
export const RTC_COUNT = 1_000_000;
/** Timed round trips per run of the RTT figures. */
export const RTT_COUNT = 2_000;
/** Ports created for local.port_bytes. */
export const PORT_COUNT = 1_000_000;

export interface MeasureContext {
  /** Measured runs (after any warm-up). */
  runs: number;
  /** Aborted when the figure times out: kill children, stop loops. */
  signal: AbortSignal;
}

export interface Measured {
  value: number[];
  baseline?: number[];
  /** Extra words for the table (not in the JSON). */
  note?: string;
}

export interface Figure {
  name: string;
  unit: 'msg/s' | 'ms' | 'bytes' | 'µs';
  /** Rates are better higher; times and sizes lower (this decides the ratio). */
  better: 'higher' | 'lower';
  about: string;
  /** The whole figure, all runs included (ms). Default 180 s. */
  timeoutMs?: number;
  measure(ctx: MeasureContext): Promise<Measured>;
}

/** Memoise a measurement so a raw figure and the aemp figure that uses it as baseline share one measurement. */
function shared<T>(fn: (ctx: MeasureContext) => Promise<T>): (ctx: MeasureContext) => Promise<T> {
  let p: Promise<T> | undefined;
  return (ctx) => {
    p ??= fn(ctx);
    // A failed measurement is not cached: the next user may try again.
    p.catch(() => (p = undefined));
    return p;
  };
}

export const rawWsThroughput = shared((c) =>
  measureThroughput({ senderScript: 'raw-ws.ts', receiverScript: 'raw-ws.ts', count: WS_COUNT, ...c }),
);
export const rawWsRtt = shared((c) => measureRtt({ echoScript: 'raw-ws.ts', pingScript: 'raw-ws.ts', count: RTT_COUNT, ...c }));
export const rawRtcThroughput = shared((c) =>
  measureThroughput({ senderScript: 'raw-rtc.ts', receiverScript: 'raw-rtc.ts', count: RTC_COUNT, ...c }),
);
export const rawRtcRtt = shared((c) => measureRtt({ echoScript: 'raw-rtc.ts', pingScript: 'raw-rtc.ts', count: RTT_COUNT, ...c }));

/** The child script of every aemp figure across processes. */
const AEMP_REMOTE = 'aemp-remote.ts';
/** Runs of a detect figure at most: each run starts a process, and hang waits out monitor_timeout. */
const DETECT_RUNS = 3;
/** monitor_timeout (ms) for detect.hang_ms, so a run takes ~2 s rather than the default 6 s. */
const HANG_MONITOR_TIMEOUT = 2000;

/** A monitor reason, short enough for the table. */
const shortReason = (r: unknown): string => {
  const s = JSON.stringify(r) ?? String(r);
  return s.length > 90 ? s.slice(0, 87) + '…' : s;
};

/** A detect figure: median of DETECT_RUNS (or fewer) runs; no baseline (Erlang's DOWN after kill -9 is ~10 ms). */
function detectFigure(kind: DetectKind, warmupRuns: number, monitorTimeoutMs?: number): Figure['measure'] {
  return async ({ runs, signal }) => {
    const r = await measureDetect({ kind, runs: Math.min(runs, DETECT_RUNS), warmupRuns, monitorTimeoutMs, signal });
    const mt = monitorTimeoutMs !== undefined ? `monitor_timeout ${monitorTimeoutMs} ms, ` : '';
    return { value: r.values, note: `${mt}${r.values.length} runs, watcher→W path ${String(r.path)}, reason ${shortReason(r.reason)}` };
  };
}

/**
 * aemp throughput with fresh processes for every measured run (each set
 * also does one unreported warm-up run). The JIT of one process can settle
 * into a fast or a slow mode for good (V8 optimising the msgpack writer
 * before its type feedback is complete), so runs in one process set are
 * not independent samples; the median over process sets is.
 */
async function aempThroughput(c: MeasureContext, extra: Partial<ThroughputOptions> = {}): Promise<Measured> {
  const value: number[] = [];
  for (let k = 0; k < c.runs; k++) {
    const sub = linkedSignal(c.signal);
    try {
      const o = { senderScript: AEMP_REMOTE, receiverScript: AEMP_REMOTE, count: WS_COUNT, ...extra, runs: 1, signal: sub.signal };
      value.push(...(await measureThroughput(o)));
    } finally {
      sub.done();
    }
  }
  const lo = Math.min(...value) / 1e6;
  const hi = Math.max(...value) / 1e6;
  return { value, note: `${value.length} process sets, ${lo.toFixed(2)}–${hi.toFixed(2)} M msg/s` };
}

/** One child per run: a fresh heap each time. */
async function portBytes({ runs, signal }: MeasureContext): Promise<Measured> {
  const cb: number[] = [];
  const bare: number[] = [];
  for (let k = 0; k < runs; k++) {
    const c = startChild('port-bytes.ts', { args: { count: PORT_COUNT }, nodeFlags: ['--expose-gc'], signal });
    try {
      const e = await c.next('result', 60_000);
      cb.push(e.withCallback as number);
      bare.push(e.bare as number);
    } finally {
      await c.stop();
    }
  }
  return { value: cb, note: `port(cb); port() ${round(median(bare), 1)} B` };
}

export const figures: Figure[] = [
  {
    name: 'local.throughput',
    unit: 'msg/s',
    better: 'higher',
    about: 'snd → tag callback, one node; baseline: plain Map + array queue',
    measure: ({ runs }) => localThroughput({ runs, count: 5_000_000, chunk: 10_000, timeoutMs: 30_000 }),
  },
  {
    name: 'local.port_bytes',
    unit: 'bytes',
    better: 'lower',
    about: `heap per idle port, ${PORT_COUNT.toLocaleString('en-US')} ports`,
    measure: portBytes,
  },
  {
    name: 'raw.ws.throughput',
    unit: 'msg/s',
    better: 'higher',
    about: `raw ws, 2 processes, msgpack batches of 1000, ${WS_COUNT.toLocaleString('en-US')} msgs`,
    measure: async (c) => ({ value: await rawWsThroughput(c) }),
  },
  {
    name: 'raw.ws.rtt_p50',
    unit: 'ms',
    better: 'lower',
    about: `raw ws ping-pong, ${RTT_COUNT} round trips`,
    measure: async (c) => ({ value: await rawWsRtt(c) }),
  },
  {
    name: 'raw.rtc.throughput',
    unit: 'msg/s',
    better: 'higher',
    about: `raw wrtc data channel, batches of 256, ${RTC_COUNT.toLocaleString('en-US')} msgs`,
    measure: async (c) => ({ value: await rawRtcThroughput(c) }),
  },
  {
    name: 'raw.rtc.rtt_p50',
    unit: 'ms',
    better: 'lower',
    about: `raw wrtc data channel ping-pong, ${RTT_COUNT} round trips`,
    measure: async (c) => ({ value: await rawRtcRtt(c) }),
  },
  {
    name: 'remote.throughput',
    unit: 'msg/s',
    better: 'higher',
    about: `node → seed node over ws, 2 processes, snd(port, 'm', i, 'x'), ${WS_COUNT.toLocaleString('en-US')} msgs; baseline raw ws`,
    measure: async (c) => {
      const baseline = await rawWsThroughput(c);
      const m = await aempThroughput(c);
      return { ...m, baseline, note: `chunks of 10,000, ≤200,000 unacked; ${m.note}` };
    },
  },
  {
    name: 'remote.rtt_p50',
    unit: 'ms',
    better: 'lower',
    about: `node ↔ seed node ping-pong over ws, ${RTT_COUNT} round trips; baseline raw ws`,
    measure: async (c) => ({
      baseline: await rawWsRtt(c),
      value: await measureRtt({ echoScript: AEMP_REMOTE, pingScript: AEMP_REMOTE, count: RTT_COUNT, ...c }),
    }),
  },
  {
    name: 'relay.throughput',
    unit: 'msg/s',
    better: 'higher',
    about: `node → seed → node over ws, 3 processes, ${WS_COUNT.toLocaleString('en-US')} msgs; baseline raw ws`,
    measure: async (c) => {
      const baseline = await rawWsThroughput(c);
      const m = await aempThroughput(c, {
        helpers: [{ script: AEMP_REMOTE, args: { role: 'seed' } }],
        // The sender fails the figure unless linkInfo(receiver).path is 'relay'.
        args: { expectPath: 'relay' },
      });
      return { ...m, baseline, note: `sender's linkInfo(receiver).path === 'relay', checked; ${m.note}` };
    },
  },
  {
    name: 'relay.cpu_us_per_msg',
    unit: 'µs',
    better: 'lower',
    about: `CPU time of sender, seed and receiver (user + system, all threads, /proc) per message of relay.throughput's run, ${WS_COUNT.toLocaleString('en-US')} msgs; target ≤ 1.0`,
    measure: async (c) => {
      const value: number[] = [];
      const m = await aempThroughput(c, {
        helpers: [{ script: AEMP_REMOTE, args: { role: 'seed' } }],
        args: { expectPath: 'relay' },
        onCpu: (us) => value.push(us / WS_COUNT),
      });
      if (value.some((v) => !Number.isFinite(v))) throw new Error('no CPU times (needs /proc)');
      return { value, note: `per process set; ${m.note}` };
    },
  },
  {
    name: 'detect.kill_ms',
    unit: 'ms',
    better: 'lower',
    about: 'SIGKILL of node W → mon on its port fires on another node (seed + watcher + W); target ≤ 100 ms, Erlang ~10 ms',
    measure: detectFigure('kill', 1),
  },
  {
    name: 'detect.hang_ms',
    unit: 'ms',
    better: 'lower',
    about: `SIGSTOP of node W → mon fires elsewhere; target ≤ 1.2 × monitor_timeout`,
    measure: detectFigure('hang', 0, HANG_MONITOR_TIMEOUT),
  },
  {
    name: 'detect.shutdown_ms',
    unit: 'ms',
    better: 'lower',
    about: 'shutdown() of node W → mon fires on another node; target ≤ 200 ms',
    measure: detectFigure('shutdown', 1),
  },
  ...groupsFigures,
  ...rtcFigures,
  ...nodeNodeFigures,
  ...packageFigures,
  ...browserFigures,
];
