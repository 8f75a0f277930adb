/**
 * The msgpack reader's fast paths: short strings come from a cache keyed by
 * their bytes, and a relaying reader's tails share one copy per batch —
 * always the values @msgpack/msgpack reads, never a view of the frame.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode } from '@msgpack/msgpack';
import { MsgpackReader, MsgpackWriter } from '../lib/protocol/msgpack.ts';
import { RawTail, RelayPackets } from '../lib/protocol/raw-tail.ts';

/** A deterministic pseudo-random generator (xorshift32), so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

test('msgpack reader — 20,000 distinct short strings read twice decode as @msgpack/msgpack decodes them (the cache never hands back another string)', () => {
  const r = rng(0x5eed);
  const alphabet = 'ab#.:/_-0123456789XYZé€';
  const strings: string[] = [];
  for (let i = 0; i < 20_000; i++) {
    const n = Math.floor(r() * 27); // 0..26: across the 24-byte short-string limit
    let s = '';
    for (let j = 0; j < n; j++) s += alphabet[Math.floor(r() * alphabet.length)];
    strings.push(s);
  }
  // Far more strings than cache slots: slots are reused, and neighbours with equal hashes meet.
  const batch = strings.map((s, i) => ['m', s, i, [s, s + 'x']]);
  const bytes = encode(batch);
  const reader = new MsgpackReader(100);
  const expected = decode(bytes);
  assert.deepEqual(reader.read(bytes), expected);
  assert.deepEqual(reader.read(bytes), expected, 'second read, from a warm cache');
  // Same length, same bytes but one: never the cached neighbour.
  assert.deepEqual(reader.read(encode([['node#port.1', 'node#port.2', 'node#port.1']])), [['node#port.1', 'node#port.2', 'node#port.1']]);
});

test('msgpack reader — a relayed batch keeps its tails in one copy of its own: the frame may be reused after read', () => {
  const w = new MsgpackWriter(100);
  const packets = [];
  for (let i = 0; i < 100; i++) packets.push(['r', 'dst', 1, i, 'dst#p.1', ['m', i, 'x'.repeat(i % 7)]]);
  const frame = w.write(packets, 0).slice();
  w.release();
  const reader = new MsgpackReader(100);
  reader.relay = new RelayPackets(100);
  const out = reader.read(frame) as unknown[][];
  const tails = out.map((p) => p[2] as RawTail);
  assert.ok(tails.every((t) => t instanceof RawTail && t.count === 4));
  assert.ok(tails.every((t) => t.src === tails[0]!.src), 'one copy for the batch');
  assert.notEqual(tails[0]!.src.buffer, frame.buffer);
  frame.fill(0); // what a socket reusing its read buffer would do
  // Each tail holds [sid, seq, port, msg] as they came: the same bytes as encoding them anew.
  for (let i = 0; i < tails.length; i++) assert.deepEqual(tails[i]!.bytes, encode([1, i, 'dst#p.1', ['m', i, 'x'.repeat(i % 7)]]).subarray(1));
  // Written back out, as a seed forwards them: the packets the sender meant.
  const fwd = w.write(tails.map((t) => ['f', 'src', t]), 0).slice();
  w.release();
  assert.deepEqual(decode(fwd), packets.map((p) => ['f', 'src', ...p.slice(2)]));
});

test('msgpack writer — a batch that is frozen or ends in a raw tail is written as any other value', () => {
  const w = new MsgpackWriter(100);
  const frozen = Object.freeze([Object.freeze(['m', 1]), Object.freeze(['n', 'x'])]);
  const a = w.write(frozen, 0).slice();
  w.release();
  assert.deepEqual(a, encode(frozen));
  const tail = new RawTail(encode([7, 'y']).subarray(1), 0, 3, 2, 2);
  const b = w.write(['f', 'src', tail], 0).slice();
  w.release();
  assert.deepEqual(decode(b), ['f', 'src', 7, 'y']);
});
