/**
 * Hostile batches for the decode tests, built byte by byte (the codec's
 * encoder would split them into honest ones): msgpack arrays of empty
 * arrays, the shape that costs ~40 bytes of heap per byte on the wire.
 */
import assert from 'node:assert/strict';
import type { Memory, Seed } from './harness.ts';
import { MiB } from './harness.ts';

/** msgpack array header for n elements. */
function arrayHeader(n: number): number[] {
  if (n < 16) return [0x90 | n];
  if (n < 0x10000) return [0xdc, n >> 8, n & 0xff];
  return [0xdd, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

/** A batch of `packets` packets, each an array of `inner` empty arrays: 1 + packets·(3 + inner) bytes or so. */
export function emptyArrays(packets: number, inner: number): Uint8Array {
  const ph = arrayHeader(inner);
  const bh = arrayHeader(packets);
  const out = new Uint8Array(bh.length + packets * (ph.length + inner));
  out.set(bh, 0);
  let p = bh.length;
  for (let i = 0; i < packets; i++) {
    out.set(ph, p);
    p += ph.length;
    out.fill(0x90, p, p + inner);
    p += inner;
  }
  return out;
}

/** A flat batch of n empty packets (each 0x90): the crash shape of the issue. */
export function flatEmpty(n: number): Uint8Array {
  const h = arrayHeader(n);
  const out = new Uint8Array(h.length + n).fill(0x90);
  out.set(h, 0);
  return out;
}

/** WHOLE frame around a batch encoding. */
export function whole(batch: Uint8Array): Uint8Array {
  const f = new Uint8Array(batch.length + 1);
  f[0] = 0x01;
  f.set(batch, 1);
  return f;
}

/** FIRST/MIDDLE/LAST frames of at most `max` bytes around a batch encoding (as the codec cuts them). */
export function fragments(batch: Uint8Array, max = MiB): Uint8Array[] {
  const n = batch.length;
  const first = new Uint8Array(max);
  first[0] = 0x02;
  new DataView(first.buffer).setUint32(1, n);
  first.set(batch.subarray(0, max - 5), 5);
  const out = [first];
  for (let off = max - 5; off < n; off += max - 1) {
    const end = Math.min(off + max - 1, n);
    const f = new Uint8Array(end - off + 1);
    f[0] = end === n ? 0x04 : 0x03;
    f.set(batch.subarray(off, end), 1);
    out.push(f);
  }
  return out;
}

/** A FIRST fragment announcing `total` bytes, carrying `chunk`. */
export function firstFragment(total: number, chunk: Uint8Array): Uint8Array {
  const f = new Uint8Array(5 + chunk.length);
  f[0] = 0x02;
  new DataView(f.buffer).setUint32(1, total);
  f.set(chunk, 5);
  return f;
}

const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

/**
 * RSS a GC may leave behind with nothing retained: V8 keeps freed pages for
 * reuse and glibc its arenas, in steps of ~10 MiB that depend on when GCs
 * ran, not on the attack. Measured on the same seed and attacks, ten runs:
 * after GC +3 to +12 MiB over ~115 MiB (peaks +19, +29 or +40 MiB), with
 * heap and external back to within 0.4 MiB every time.
 */
const RSS_SLACK = 16 * MiB;

/**
 * The seed's memory stayed bounded: peak RSS since resetPeak() at most
 * +150 MiB over `before`; after a GC the heap and external memory back to
 * what they were (nothing the attack sent is still reachable) and RSS within
 * 10% of before (or RSS_SLACK, the larger). Returns the figures for the report.
 */
export async function assertContained(seed: Seed, before: Memory, what: string): Promise<string> {
  const peak = seed.peakRss();
  const after = await seed.memory();
  const line =
    `${what}: seed RSS before ${mib(before.rss)}, peak ${mib(peak)} (+${mib(peak - before.rss)}), after GC ${mib(after.rss)}` +
    ` (heap ${mib(before.heapUsed)} → ${mib(after.heapUsed)}, external ${mib(before.external)} → ${mib(after.external)})`;
  assert.ok(peak - before.rss <= 150 * MiB, line);
  assert.ok(after.heapUsed <= before.heapUsed + 2 * MiB, `heap not back: ${line}`);
  assert.ok(after.external <= before.external + 2 * MiB, `external memory not back: ${line}`);
  assert.ok(after.rss <= before.rss + Math.max(before.rss * 0.1, RSS_SLACK), line);
  return line;
}
