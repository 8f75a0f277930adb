import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unmask, unmaskJs } from '../node/ws-mask.ts';
import { prng } from './fixtures/prng.ts';

/** RFC 6455 §5.3, byte by byte. */
function reference(b: Buffer, key: Buffer, k: number): void {
  for (let i = 0; i < b.length; i++) b[i] ^= key[k + (i % 4)]!;
}

test('ws-mask — unmask and its loop without bufferutil equal the RFC byte by byte, at every length, alignment and key position', () => {
  const rnd = prng(53);
  const byte = () => Math.floor(rnd() * 256);
  const lengths = [0, 1, 2, 3, 4, 5, 31, 32, 63, 64, 65, 66, 67, 68, 127, 128, 1000, 65_539];
  for (let round = 0; round < 400; round++) {
    const n = round < lengths.length ? lengths[round]! : Math.floor(rnd() * 300);
    const start = round % 8; // the payload at any offset of its ArrayBuffer
    const k = Math.floor(rnd() * 5);
    const key = Buffer.from(Array.from({ length: k + 4 + 2 }, byte));
    const bytes = Buffer.from(Array.from({ length: start + n + 3 }, byte));
    const want = Buffer.from(bytes);
    reference(want.subarray(start, start + n), key, k);
    for (const f of [unmask, unmaskJs]) {
      const got = Buffer.from(bytes);
      f(got.subarray(start, start + n), key, k);
      assert.deepEqual(got, want, `${f.name}: ${n} bytes at ${start}, key at ${k}`);
    }
  }
});

test('ws-mask — a zero key (a Node node\'s) changes nothing', () => {
  const b = Buffer.from('a payload of some length, over sixty-four bytes, to take the long way');
  const before = Buffer.from(b);
  unmask(b, Buffer.from([9, 0, 0, 0, 0]), 1);
  assert.deepEqual(b, before);
});
