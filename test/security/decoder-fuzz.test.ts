/**
 * Fuzz of the pure frame decoder with amplification-shaped input: batch
 * and container headers claiming huge counts, long runs of empty arrays and
 * maps (one byte each on the wire), nesting, strings full of JSON
 * structure, cut and fragmented in every way, against small and large
 * budgets. Each case either decodes to no more packets and values than the
 * budget allows, or throws a ProtocolError with a known code — never another
 * error, and never one the decoder merely wrapped (an engine RangeError
 * from allocating what a header claimed would surface as such a wrap).
 *
 * test/codec-fuzz.test.ts mutates honest frames and compares with
 * @msgpack/msgpack; test/fuzz-link.test.ts throws random frames at a live
 * seed. This one is about what the bytes may expand to.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameDecoder, type Framing, type Packet, loadJsonFraming } from '../../lib/protocol/codec.ts';
import { FRAME_CODES, ProtocolError } from '../../lib/protocol/errors.ts';
import type { Frame } from '../../lib/link.ts';
import { prng } from '../fixtures/prng.ts';

// These tests make json codecs themselves (a link's handshake would load it).
await loadJsonFraming();

const SEED = Number(process.env.FUZZ_SEED ?? 0x0dec0de5);
const CASES = Number(process.env.FUZZ_CASES ?? 100_000);
const CODES = new Set<string>([
  FRAME_CODES.TRUNCATED,
  FRAME_CODES.GARBAGE,
  FRAME_CODES.TOO_LARGE,
  FRAME_CODES.UNKNOWN,
  FRAME_CODES.BAD_PACKET,
  FRAME_CODES.FRAGMENT_ORDER,
  FRAME_CODES.BATCH_PACKETS,
  FRAME_CODES.BATCH_ELEMENTS,
  FRAME_CODES.FRAGMENT_TIMEOUT,
]);


const COUNTS = [0, 1, 2, 3, 15, 16, 17, 255, 256, 4096, 4097, 65535, 65536, 2 ** 31, 2 ** 32 - 1];

function gen(rnd: () => number) {
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  /** A clean batch tells no lies (honest counts and lengths): it must decode, or hit a budget. */
  let clean = false;
  const count = () => (clean || rnd() < 0.75 ? int(20) : pick(COUNTS));

  /** A msgpack array (or map: two bytes per entry) header for n. */
  const header = (n: number, map: boolean, out: number[]) => {
    if (n < 16 && rnd() < 0.8) out.push((map ? 0x80 : 0x90) | n);
    else if (n < 0x10000 && rnd() < 0.8) out.push(map ? 0xde : 0xdc, n >> 8, n & 0xff);
    else out.push(map ? 0xdf : 0xdd, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  };

  /** One msgpack value, amplification-shaped; its headers' counts may lie. */
  const mp = (depth: number, out: number[]): void => {
    // Bounded: past 4 000 bytes a batch only gets scalars (honest-count nesting grows fast).
    let k = out.length > 4000 ? 0 : int(depth > 6 ? 4 : 9);
    if (clean && (k === 1 || k === 2 || k === 4)) k = 0;
    switch (k) {
      case 0: // a scalar
        out.push(pick([0x00, 0x7f, 0xe0, 0xc0, 0xc2, 0xc3, 0xa0, 0x90, 0x80]));
        return;
      case 1: // a string or bin whose length may exceed what follows
        out.push(pick([0xd9, 0xc4]), pick([0, 1, 5, 200, 255]));
        for (let i = int(8); i > 0; i--) out.push(0x61);
        return;
      case 2: // a long length header, usually a lie
        out.push(pick([0xdb, 0xc6]), 0xff, 0xff, 0xff, int(256));
        return;
      case 3: { // a run of empty arrays or maps under an honest header
        const n = rnd() < 0.9 ? pick([1, 16, 300]) : pick([2000, 6000]);
        const map = rnd() < 0.2;
        header(n, false, out);
        for (let i = 0; i < n; i++) out.push(map ? 0x80 : 0x90);
        return;
      }
      case 4: // raw junk byte
        out.push(int(256));
        return;
      default: { // an array or map whose header may claim more (or fewer) than follows
        const map = rnd() < 0.25;
        const claimed = count();
        header(claimed, map, out);
        const real = claimed <= 20 && (clean || rnd() < 0.85) ? claimed * (map ? 2 : 1) : int(6);
        for (let i = 0; i < real; i++) {
          // map keys: short strings, but not always
          if (map && i % 2 === 0 && (clean || rnd() < 0.8)) out.push(0xa1, 0x61 + int(26));
          else mp(depth + 1, out);
        }
      }
    }
  };

  const msgpackBatch = (): Uint8Array => {
    const out: number[] = [];
    clean = rnd() < 0.3;
    const packets = int(12);
    if (!clean && rnd() < 0.03) out.push(int(256)); // not an array at all, sometimes
    else header(clean || rnd() < 0.8 ? packets : pick(COUNTS), false, out);
    for (let i = packets; i > 0; i--) {
      if (clean || rnd() < 0.7) {
        // a packet: an array, usually with as many values as it claims
        const n = int(6);
        header(n, false, out);
        for (let j = clean || rnd() < 0.9 ? n : int(6); j > 0; j--) mp(2, out);
      } else mp(1, out);
    }
    return Uint8Array.from(out);
  };

  /** One JSON value as text, amplification-shaped; sometimes ill-formed. */
  let jsBudget = 0;
  const js = (depth: number): string => {
    const k = --jsBudget < 0 ? 0 : int(depth > 8 ? 4 : 9);
    switch (k) {
      case 0:
        return pick(['0', '-1.5e3', 'true', 'null', '""', '[]', '{}']);
      case 1: // structure inside strings
        return JSON.stringify(pick(['a,b', ':[', '{]}', '\\', '"', ',,,,', '\\",[']));
      case 2:
        return pick(['{"$b":"AQID"}', '{"$o":{"$x":1}}', '{"$b":5}', '{"$zz":1}']);
      case 3: // a run of empty containers
        return '[' + new Array(rnd() < 0.9 ? pick([1, 16, 300]) : 3000).fill(pick(['[]', '{}'])).join(',') + ']';
      case 4: // deep nesting
        return '['.repeat(pick([50, 99, 100, 101, 150])) + ']'.repeat(pick([50, 99, 100, 101, 150]));
      case 5: {
        const n = int(6);
        const parts: string[] = [];
        for (let i = 0; i < n; i++) parts.push(`${JSON.stringify(pick(['a', '', '__proto__', '$b']))}:${js(depth + 1)}`);
        return '{' + parts.join(',') + '}';
      }
      default: {
        const n = int(8);
        const parts: string[] = [];
        for (let i = 0; i < n; i++) parts.push(js(depth + 1));
        return '[' + parts.join(pick([',', ',', ',', ', ', ',,'])) + ']';
      }
    }
  };

  const jsonBatch = (): string => {
    // A flat run of empty packets, the crash shape, at and past the packet limits.
    if (rnd() < 0.05) return '[' + '[],'.repeat(pick([63, 64, 4095, 4096, 5000, 70000])) + '[]]';
    jsBudget = 400; // values per batch, so nesting stays bounded
    const parts: string[] = [];
    for (let i = int(12); i > 0; i--) parts.push(rnd() < 0.7 ? '[' + js(2) + ']' : js(1));
    let t = '[' + parts.join(',') + ']';
    if (rnd() < 0.15) t = t.slice(0, int(t.length + 1)); // cut
    if (rnd() < 0.05) t = t.slice(0, int(t.length)) + pick([',', ':', '"', '[', '}', 'x']) + t.slice(int(t.length));
    return t;
  };

  return { int, pick, msgpackBatch, jsonBatch };
}

/** Frames for a batch encoding: whole, or fragments of a random size, sometimes with a lying total or a piece missing. */
function framesOf(g: ReturnType<typeof gen>, framing: Framing, batch: Uint8Array | string, maxFrameSize: number): Frame[] {
  const n = batch.length;
  const lie = g.int(10) === 0 ? g.pick([-1, 1, 1000, 2 ** 31]) : 0;
  if (n + 1 <= maxFrameSize && g.int(4) !== 0) {
    if (typeof batch === 'string') return [batch];
    const f = new Uint8Array(n + 1);
    f[0] = 0x01;
    f.set(batch, 1);
    return [f];
  }
  // At most ~100 fragments: smaller cuts of a big batch test nothing new.
  const size = Math.min(maxFrameSize, Math.max(8, Math.ceil(n / 100), g.pick([8, 64, 1000, 4096, maxFrameSize])));
  const frames: Frame[] = [];
  if (typeof batch === 'string') {
    const head = `F${Math.max(0, n + lie)}:`;
    const firstLen = Math.max(0, size - head.length);
    frames.push(head + batch.slice(0, firstLen));
    for (let off = firstLen; off < n; off += size - 1) frames.push((off + size - 1 >= n ? 'L' : 'M') + batch.slice(off, off + size - 1));
  } else {
    const first = new Uint8Array(Math.min(size, n + 5));
    first[0] = 0x02;
    new DataView(first.buffer).setUint32(1, Math.max(0, Math.min(2 ** 32 - 1, n + lie)));
    first.set(batch.subarray(0, first.length - 5), 5);
    frames.push(first);
    for (let off = first.length - 5; off < n; off += size - 1) {
      const end = Math.min(off + size - 1, n);
      const f = new Uint8Array(end - off + 1);
      f[0] = end === n ? 0x04 : 0x03;
      f.set(batch.subarray(off, end), 1);
      frames.push(f);
    }
  }
  if (frames.length > 1 && g.int(10) === 0) frames.splice(g.int(frames.length), 1);
  return frames;
}

/** Values in a decoded batch, counted as the budget counts them: array elements, map keys and values. */
function countElements(v: unknown): number {
  if (Array.isArray(v)) {
    let n = v.length;
    for (const x of v) n += countElements(x);
    return n;
  }
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) {
    let n = 0;
    for (const k of Object.keys(v)) n += 2 + countElements((v as Record<string, unknown>)[k]);
    return n;
  }
  return 0;
}

function fuzz(framing: Framing, seed: number) {
  const rnd = prng(seed);
  const g = gen(rnd);
  const codes = new Map<string, number>();
  let decoded = 0;
  let maxElements = 0;
  let now = 0;
  const rss0 = process.memoryUsage().rss;
  let rssMax = rss0;
  for (let c = 0; c < CASES; c++) {
    const maxBatchPackets = g.pick([4, 64, 4096, 65536, 65536]);
    const maxBatchElements = g.pick([16, 256, 5000, 131072, 131072]);
    const maxFrameSize = g.pick([64, 256, 4096, 65536]);
    const maxMessageSize = g.pick([4000, 1 << 20, 1 << 20, 1 << 20]);
    const lateAt = g.int(20) === 0 ? g.int(8) : -1; // a fragment after the deadline, sometimes
    const dec = new FrameDecoder({ framing, maxFrameSize, maxMessageSize, maxBatchPackets, maxBatchElements, fragmentTimeoutMs: 50, now: () => now });
    const batch = framing === 'msgpack' ? g.msgpackBatch() : g.jsonBatch();
    const frames = framesOf(g, framing, batch, maxFrameSize);
    let out: Packet[] = [];
    try {
      for (const [i, f] of frames.entries()) {
        if (i === lateAt) now += 60;
        out = dec.decode(f);
      }
      if (out.length > 0) {
        decoded++;
        assert.ok(out.length <= maxBatchPackets, `case ${c}: ${out.length} packets > ${maxBatchPackets}`);
        const n = countElements(out);
        assert.ok(n <= maxBatchElements, `case ${c}: ${n} values > ${maxBatchElements}`);
        maxElements = Math.max(maxElements, n);
      }
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw new Error(`case ${c} (seed ${seed}): ${String(e)}`, { cause: e });
      if (!CODES.has(e.code)) throw new Error(`case ${c} (seed ${seed}): unexpected code ${e.code}: ${e.message}`);
      // The decoder wraps anything unexpected as GARBAGE with a cause: only JSON.parse's SyntaxError may be one.
      const cause = (e as { cause?: unknown }).cause;
      if (cause !== undefined && !(cause instanceof ProtocolError) && !(framing === 'json' && cause instanceof SyntaxError)) {
        throw new Error(`case ${c} (seed ${seed}): the decoder hit ${String(cause)}`, { cause });
      }
      codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
    }
    if (c % 5000 === 0) rssMax = Math.max(rssMax, process.memoryUsage().rss);
  }
  return { codes, decoded, maxElements, rssGrowth: rssMax - rss0 };
}

for (const [framing, seed] of [['msgpack', SEED], ['json', SEED + 1]] as const) {
  test(`decoder-fuzz — ${framing}: 100,000 amplification-shaped batches decode within budget or fail with a ProtocolError code`, { timeout: 600_000 }, (t) => {
    const r = fuzz(framing, seed);
    t.diagnostic(`FUZZ_SEED=${seed}: ${r.decoded} decoded (largest ${r.maxElements} values), errors ${JSON.stringify([...r.codes])}, RSS +${(r.rssGrowth / 2 ** 20).toFixed(1)} MiB`);
    // Every path was reached: honest-looking batches decode, every bound refuses.
    assert.ok(r.decoded > 1000, `only ${r.decoded} decoded`);
    for (const code of [FRAME_CODES.BATCH_PACKETS, FRAME_CODES.BATCH_ELEMENTS, FRAME_CODES.TRUNCATED, FRAME_CODES.GARBAGE, FRAME_CODES.FRAGMENT_TIMEOUT, FRAME_CODES.TOO_LARGE]) {
      assert.ok((r.codes.get(code) ?? 0) > 100, `${code} reached ${r.codes.get(code) ?? 0} times`);
    }
    // Budgets of at most 131072 values: nothing close to a header's claim was ever allocated.
    assert.ok(r.rssGrowth < 256 * 2 ** 20, `RSS grew ${r.rssGrowth} bytes`);
  });
}
