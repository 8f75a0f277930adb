/**
 * The rtc figures: aemp messages between two node processes over their
 * direct WebRTC data channel (bench/rtc-node.ts; a seed process relays
 * until the two have switched), against a raw @roamhq/wrtc data channel
 * (bench/raw-rtc.ts) measured in the same run.
 *
 * figures.ts imports this file and this file uses figures.ts's shared raw
 * measurements: only inside `measure`, after both modules are loaded.
 */
import type { Figure, MeasureContext, Measured } from './figures.ts';
import { RTC_COUNT, RTT_COUNT, rawRtcThroughput } from './figures.ts';
import { measureRtt, measureThroughput } from './measure.ts';
import { linkedSignal } from './signals.ts';

const SCRIPT = 'rtc-node.ts';
const SEED = [{ script: SCRIPT, args: { role: 'seed' } }];

/** Fresh processes per measured run, as remote.throughput does (one JIT mode per process set). */
async function rtcThroughput(c: MeasureContext): Promise<Measured> {
  const baseline = await rawRtcThroughput(c);
  const value: number[] = [];
  for (let k = 0; k < c.runs; k++) {
    const sub = linkedSignal(c.signal);
    try {
      const o = { senderScript: SCRIPT, receiverScript: SCRIPT, count: RTC_COUNT, helpers: SEED, runs: 1, signal: sub.signal };
      value.push(...(await measureThroughput(o)));
    } finally {
      sub.done();
    }
  }
  const lo = Math.min(...value) / 1e6;
  const hi = Math.max(...value) / 1e6;
  return { value, baseline, note: `linkInfo path 'direct' both ways, checked; ${value.length} process sets, ${lo.toFixed(2)}–${hi.toFixed(2)} M msg/s` };
}

/**
 * Round trips on this machine come in two speeds: ~0.15 ms while other
 * processes keep the CPUs busy, ~0.45 ms when they idle (waking a halted
 * vCPU costs that much), for raw wrtc and aemp alike. So the baseline is
 * measured run by run, alternating with aemp, in fresh processes each,
 * instead of in one block before or after (raw.rtc.rtt_p50 is that block).
 */
async function rtcRtt(c: MeasureContext): Promise<Measured> {
  const baseline: number[] = [];
  const value: number[] = [];
  for (let k = 0; k < c.runs; k++) {
    const sub = linkedSignal(c.signal);
    try {
      const o = { count: RTT_COUNT, runs: 1, signal: sub.signal };
      baseline.push(...(await measureRtt({ ...o, echoScript: 'raw-rtc.ts', pingScript: 'raw-rtc.ts' })));
      value.push(...(await measureRtt({ ...o, echoScript: SCRIPT, pingScript: SCRIPT, helpers: SEED })));
    } finally {
      sub.done();
    }
  }
  const pairs = value.map((v, i) => `${v.toFixed(3)}/${baseline[i]!.toFixed(3)}`).join(' ');
  return { value, baseline, note: `linkInfo path 'direct' both ways, checked; aemp/raw per run ${pairs} ms` };
}

/**
 * Two non-seed Node nodes, one listening (binds, seed: false), after their
 * switch to a direct WebSocket; the baseline is remote.rtt_p50's
 * measurement (node ↔ seed node over ws), run by run, alternating.
 */
async function nodeNodeRtt(c: MeasureContext): Promise<Measured> {
  const baseline: number[] = [];
  const value: number[] = [];
  for (let k = 0; k < c.runs; k++) {
    const sub = linkedSignal(c.signal);
    try {
      const o = { count: RTT_COUNT, runs: 1, signal: sub.signal };
      baseline.push(...(await measureRtt({ ...o, echoScript: 'aemp-remote.ts', pingScript: 'aemp-remote.ts' })));
      value.push(...(await measureRtt({ ...o, echoScript: SCRIPT, pingScript: SCRIPT, helpers: SEED, args: { listen: true } })));
    } finally {
      sub.done();
    }
  }
  const pairs = value.map((v, i) => `${v.toFixed(3)}/${baseline[i]!.toFixed(3)}`).join(' ');
  return { value, baseline, note: `direct WebSocket link (link kind 'ws', linkInfo 'direct'), checked; node_node/remote per run ${pairs} ms` };
}

export const nodeNodeFigures: Figure[] = [
  {
    name: 'node_node.rtt_p50',
    unit: 'ms',
    better: 'lower',
    about: `two non-seed Node nodes (one with binds, seed: false) ping-pong over their direct WebSocket, 2000 round trips; baseline remote.rtt_p50's measurement, interleaved; target ≤ 1.2×`,
    timeoutMs: 300_000,
    measure: nodeNodeRtt,
  },
];

export const rtcFigures: Figure[] = [
  {
    name: 'rtc.throughput',
    unit: 'msg/s',
    better: 'higher',
    about: "node → node over their direct data channel (wrtc), 3 processes with a seed, snd(port, 'm', i, 'x'), 1,000,000 msgs; baseline raw.rtc.throughput",
    timeoutMs: 300_000,
    measure: rtcThroughput,
  },
  {
    name: 'rtc.rtt_p50',
    unit: 'ms',
    better: 'lower',
    about: 'node ↔ node ping-pong over their direct data channel, 2000 round trips; baseline raw wrtc ping-pong (raw-rtc.ts), interleaved',
    timeoutMs: 300_000,
    measure: rtcRtt,
  },
];
