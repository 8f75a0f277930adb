/**
 * The page side of the browser figures (bench/browser-run.ts bundles this
 * with Vite; aemp itself is the built library, imported as /aemp.js). The
 * harness calls `window.bench.*` through Playwright; every loop runs in the
 * page, so what is timed is the page's own work.
 *
 * The raw baselines put the same packets on the wire as bench/raw-wire.ts
 * (['m', dst, ['tag', i, 'x']], msgpack batches) with @msgpack/msgpack; the
 * aemp loops mirror bench/aemp-loops.ts: snd(port, 'm', i, 'x') in chunks of
 * the raw batch size with a macrotask between chunks (aemp puts each chunk
 * in one frame), never more than a window ahead of the receiver's acks.
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
// Resolved by the page at run time: the library as `npm run build` writes it (its types are web/index.ts's).
// @ts-expect-error: a URL of the bench's HTTP server, not a module on disk
import * as aemp from '/aemp.js';

const A = aemp as unknown as typeof import('../web/index.ts');

const encoder = new Encoder();
const decoder = new Decoder();

function encodeBatch(from: number, n: number, dst: string): Uint8Array {
  const a = new Array(n);
  for (let j = 0; j < n; j++) a[j] = ['m', dst, ['tag', from + j, 'x']];
  return encoder.encode(a);
}

/** A macrotask that is not clamped like setTimeout(0) (4 ms once nested). */
const channel = new MessageChannel();
const pending: Array<() => void> = [];
channel.port1.onmessage = () => pending.shift()?.();
const macrotask = (): Promise<void> =>
  new Promise((r) => {
    pending.push(r);
    channel.port2.postMessage(0);
  });

function p50(samples: number[]): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

// ---- raw WebSocket ----------------------------------------------------------------

function openWs(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error(`cannot open ${url}`));
  });
}

// ---- round trips ----------------------------------------------------------------------

/** One side of a round-trip figure: trip(i) sends message i and settles when its echo is back. */
interface Side {
  trip(i: number): Promise<unknown>;
  close?(): void;
}

/** Round trips from..from+n-1, one at a time; the time of each goes to `samples`. */
async function timed(side: Side, from: number, n: number, samples?: number[]): Promise<void> {
  for (let i = from; i < from + n; i++) {
    const t0 = performance.now();
    await side.trip(i);
    samples?.push(performance.now() - t0);
  }
}

/** `count` round trips after `warmup` untimed ones: the median. */
async function rtt(side: Side, count: number, warmup: number): Promise<number> {
  const samples: number[] = [];
  await timed(side, 0, warmup);
  await timed(side, warmup, count, samples);
  side.close?.();
  return p50(samples);
}

/**
 * Raw and aemp round trips alternating in blocks of `block` (the side that
 * goes first alternating too), `count` timed each after `warmup` untimed:
 * [raw median, aemp median]. Both then see the same machine: on a shared
 * 2-core machine the load moves within the second a sequential run of
 * each takes, by more than the difference measured.
 */
async function rttPair(raw: { ws?: string; rtc?: string }, dst: string, count: number, warmup: number, block: number): Promise<[number, number]> {
  const r = raw.ws !== undefined ? await rawWsSide(raw.ws, dst) : await rawRtcSide(raw.rtc!, dst);
  const a = aempSide(dst);
  const rs: number[] = [];
  const as: number[] = [];
  await timed(r, 0, warmup);
  await timed(a, 0, warmup);
  for (let k = 0; k < count; k += block) {
    const n = Math.min(block, count - k);
    const [first, fs, second, ss] = (k / block) % 2 === 0 ? [r, rs, a, as] : [a, as, r, rs];
    await timed(first, warmup + k, n, fs);
    await timed(second, warmup + k, n, ss);
  }
  r.close?.();
  return [p50(rs), p50(as)];
}

/**
 * Ping-pong of one packet per frame against the host's echo (decode +
 * re-encode). The page decodes the reply, as aemp's page does (an
 * application reads what it receives): a page that never touches `ev.data`
 * skips making the ArrayBuffer and is no baseline for one that reads it.
 */
async function rawWsSide(url: string, dst: string): Promise<Side> {
  const ws = await openWs(url);
  return { ...rawSide(ws, dst), close: () => ws.close() };
}

/** The raw side of a round trip over a WebSocket or a data channel: one packet per frame, the reply decoded. */
function rawSide(ch: { onmessage: ((ev: MessageEvent) => void) | null; send(data: Uint8Array<ArrayBuffer>): void }, dst: string): Side {
  let reply: (() => void) | undefined;
  ch.onmessage = (ev) => (decoder.decode(ev.data as ArrayBuffer), reply?.());
  return {
    trip: (i) => {
      const got = new Promise<void>((r) => (reply = r));
      ch.send(encodeBatch(i, 1, dst) as Uint8Array<ArrayBuffer>);
      return got;
    },
  };
}

async function rawWsRtt(url: string, count: number, warmup: number, dst: string): Promise<number> {
  return rtt(await rawWsSide(url, dst), count, warmup);
}

/** `count` packets in batches; waits while more than highWater bytes are buffered; the host says 'done' when all arrived. */
async function rawWsThroughput(url: string, count: number, batch: number, highWater: number, dst: string): Promise<number> {
  const ws = await openWs(url);
  const done = new Promise<void>((r) => (ws.onmessage = (ev) => ev.data === 'done' && r()));
  const t0 = performance.now();
  for (let i = 0; i < count; ) {
    const n = Math.min(batch, count - i);
    ws.send(encodeBatch(i, n, dst));
    i += n;
    while (ws.bufferedAmount > highWater) await new Promise((r) => setTimeout(r, 1));
  }
  await done;
  const rate = count / ((performance.now() - t0) / 1000);
  ws.close();
  return rate;
}

// ---- raw RTCDataChannel -------------------------------------------------------------

const pcs = new Map<string, { pc: RTCPeerConnection; dc?: RTCDataChannel }>();

async function gathered(pc: RTCPeerConnection): Promise<RTCSessionDescriptionInit> {
  if (pc.iceGatheringState !== 'complete')
    await new Promise<void>((r) => pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && r()));
  return pc.localDescription!.toJSON();
}

function channelOpen(dc: RTCDataChannel): Promise<RTCDataChannel> {
  dc.binaryType = 'arraybuffer';
  if (dc.readyState === 'open') return Promise.resolve(dc);
  return new Promise((r) => dc.addEventListener('open', () => r(dc), { once: true }));
}

/** Offer side: an ordered reliable channel named `label`; the whole offer (candidates included) for the other side. */
async function rtcOffer(key: string, label: string): Promise<RTCSessionDescriptionInit> {
  const pc = new RTCPeerConnection({ iceServers: [] });
  const dc = pc.createDataChannel(label);
  pcs.set(key, { pc, dc });
  await pc.setLocalDescription(await pc.createOffer());
  return gathered(pc);
}

async function rtcAnswer(key: string, offer: RTCSessionDescriptionInit): Promise<RTCSessionDescriptionInit> {
  const pc = new RTCPeerConnection({ iceServers: [] });
  const entry: { pc: RTCPeerConnection; dc?: RTCDataChannel } = { pc };
  pcs.set(key, entry);
  pc.ondatachannel = (ev) => (entry.dc = ev.channel);
  await pc.setRemoteDescription(offer);
  await pc.setLocalDescription(await pc.createAnswer());
  return gathered(pc);
}

async function rtcFinish(key: string, answer: RTCSessionDescriptionInit): Promise<void> {
  await pcs.get(key)!.pc.setRemoteDescription(answer);
  await channelOpen(pcs.get(key)!.dc!);
}

/** Offer to the host (signalling over its raw ws at sigUrl) and wait for the channel. */
async function rtcToHost(key: string, sigUrl: string, label: string): Promise<void> {
  const offer = await rtcOffer(key, label);
  const ws = await openWs(sigUrl);
  const answer = await new Promise<RTCSessionDescriptionInit>((r) => {
    ws.onmessage = (ev) => r(JSON.parse(ev.data as string));
    ws.send(JSON.stringify(offer));
  });
  ws.close();
  await rtcFinish(key, answer);
}

async function waitChannel(key: string): Promise<RTCDataChannel> {
  for (let i = 0; i < 2000 && !pcs.get(key)?.dc; i++) await new Promise((r) => setTimeout(r, 5));
  return channelOpen(pcs.get(key)!.dc!);
}

/** As rawWsSide: the page decodes the reply. */
async function rawRtcSide(key: string, dst: string): Promise<Side> {
  return rawSide(await waitChannel(key), dst);
}

async function rawRtcRtt(key: string, count: number, warmup: number, dst: string): Promise<number> {
  return rtt(await rawRtcSide(key, dst), count, warmup);
}

/** The echo side of a page↔page raw ping-pong. */
async function rawRtcEcho(key: string): Promise<void> {
  const dc = await waitChannel(key);
  dc.onmessage = (ev) => dc.send(encoder.encode(decoder.decode(ev.data as ArrayBuffer)) as Uint8Array<ArrayBuffer>);
}

async function rawRtcThroughput(key: string, count: number, batch: number, highWater: number, lowWater: number, dst: string): Promise<number> {
  const dc = await waitChannel(key);
  dc.bufferedAmountLowThreshold = lowWater;
  const done = new Promise<void>((r) => (dc.onmessage = (ev) => ev.data === 'done' && r()));
  const t0 = performance.now();
  for (let i = 0; i < count; ) {
    const n = Math.min(batch, count - i);
    dc.send(encodeBatch(i, n, dst) as Uint8Array<ArrayBuffer>);
    i += n;
    if (dc.bufferedAmount > highWater) await new Promise((r) => dc.addEventListener('bufferedamountlow', r, { once: true }));
  }
  await done;
  return count / ((performance.now() - t0) / 1000);
}

/** The counting side of a page↔page raw run: in-order check, 'done' after `count`. */
async function rawRtcCount(key: string, count: number): Promise<void> {
  const dc = await waitChannel(key);
  let next = 0;
  dc.onmessage = (ev) => {
    const batch = decoder.decode(ev.data as ArrayBuffer) as Array<[string, string, [string, number, string]]>;
    for (const p of batch) {
      if (p[2][1] !== next) throw new Error(`raw rtc: packet ${p[2][1]} arrived, expected ${next}`);
      next++;
    }
    if (next === count) {
      next = 0;
      dc.send('done');
    }
  };
}

// ---- aemp ---------------------------------------------------------------------------

let me: string | undefined;
let answer: ((m: unknown[]) => void) | undefined;
let ackWake: (() => void) | undefined;
let acked = 0;
let doneWake: (() => void) | undefined;

async function aempJoin(seed: string, nodeid: string, token: string): Promise<string> {
  const id = await A.configure({ seeds: [seed], nodeid, token });
  me = A.port();
  A.rcv(me, {
    m: () => answer?.([]),
    hi: () => answer?.([]),
    path: (p: unknown) => answer?.([p]),
    ack: (n: number) => {
      acked = n;
      const w = ackWake;
      ackWake = undefined;
      w?.();
    },
    done: () => doneWake?.(),
  });
  return id;
}

function ask(dst: string, ...msg: unknown[]): Promise<unknown[]> {
  const p = new Promise<unknown[]>((r) => (answer = r));
  A.snd(dst, ...msg, me);
  return p;
}

/** Talk to `dst` until both sides' linkInfo path is 'direct' (or `want`). */
async function aempPath(dst: string, want: string, timeoutMs: number): Promise<string> {
  const peer = A.nodeOf(dst);
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const theirs = (await ask(dst, 'path?'))[0];
    const ours = A.linkInfo(peer)?.path;
    if (ours === want && theirs === want) return want;
    if (performance.now() > deadline) throw new Error(`no ${want} path to ${peer} after ${timeoutMs} ms (ours ${ours}, theirs ${String(theirs)})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function aempSide(dst: string): Side {
  return {
    trip: (i) => {
      const got = new Promise<unknown[]>((r) => (answer = r));
      A.snd(dst, 'm', i, 'x');
      return got;
    },
  };
}

async function aempRtt(dst: string, count: number, warmup: number): Promise<number> {
  return rtt(aempSide(dst), count, warmup);
}

/** snd(dst, 'm', i, 'x') × count in chunks, a macrotask between chunks, at most `window` ahead of the acks. */
async function aempThroughput(dst: string, count: number, chunk: number, windowSize: number): Promise<number> {
  // The receiver counts totals over runs; it acks and says 'done' to this page's port.
  acked = 0;
  let sent = 0;
  const done = new Promise<void>((r) => (doneWake = r));
  A.snd(dst, 'run', me, count);
  await new Promise<unknown[]>((r) => (answer = r));
  const t0 = performance.now();
  for (let i = 0; i < count; ) {
    const n = Math.min(chunk, count - i);
    while (sent + n - acked > windowSize) await new Promise<void>((r) => (ackWake = r));
    for (const end = i + n; i < end; i++) A.snd(dst, 'm', i, 'x');
    sent += n;
    await macrotask();
  }
  await done;
  return count / ((performance.now() - t0) / 1000);
}

/** A port on this page that answers like the host's: 'path?', echo of 'm', or counting runs. */
function aempServe(): string {
  let reply: string | undefined;
  let counting = 0;
  let next = 0;
  let total = 0;
  const ackEvery = 10_000;
  const p = A.port();
  A.rcv(p, {
    'path?': (from: string) => A.snd(from, 'path', A.linkInfo(A.nodeOf(from))?.path ?? null),
    hello: (from: string) => A.snd((reply = from), 'hi'),
    run: (from: string, count: number) => {
      reply = from;
      counting = count;
      next = 0;
      total = 0;
      A.snd(from, 'hi');
    },
    m: (i: number, x: string) => {
      if (counting === 0) return A.snd(reply!, 'm', i, x);
      if (i !== next) throw new Error(`aemp: message ${i} arrived, expected ${next}`);
      next++;
      if (++total % ackEvery === 0) A.snd(reply!, 'ack', total);
      if (next === counting) {
        counting = 0;
        A.snd(reply!, 'done');
      }
    },
  });
  return p;
}

(window as unknown as { bench: unknown }).bench = {
  rawWsRtt,
  rawWsThroughput,
  rtcOffer,
  rtcAnswer,
  rtcFinish,
  rtcToHost,
  rawRtcRtt,
  rawRtcEcho,
  rawRtcThroughput,
  rawRtcCount,
  aempJoin,
  aempPath,
  aempRtt,
  rttPair,
  aempThroughput,
  aempServe,
  hello: (dst: string) => ask(dst, 'hello'),
};
