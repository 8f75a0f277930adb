/**
 * The figures `npm run bench` measures (see run.ts for how to add one) and
 * the raw-layer measurements that serve as baselines, memoised so a raw
 * figure and the aemp figure compared with it share one measurement.
 */
import { localThroughput } from './local.ts';
import { measureRtt, measureThroughput } from './measure.ts';
import { startChild } from './child.ts';
import { median, round } from './stats.ts';

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
  unit: 'msg/s' | 'ms' | 'bytes';
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
];
