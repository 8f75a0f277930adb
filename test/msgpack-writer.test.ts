/**
 * The msgpack writer's memory and fan-out paths: writers borrow one shared
 * buffer (no 16 KiB per link), and a frozen array is encoded once and
 * copied after — always the bytes @msgpack/msgpack writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encode } from '@msgpack/msgpack';
import { MsgpackWriter } from '../lib/protocol/msgpack.ts';
import { ProtocolError } from '../lib/protocol/errors.ts';

const bytes = (w: MsgpackWriter, v: unknown): Uint8Array => {
  const b = w.write(v, 0).slice();
  w.release();
  return b;
};

test('msgpack writer — writers share one buffer between writes and still give each write its own bytes', () => {
  const a = new MsgpackWriter(100);
  const b = new MsgpackWriter(100);
  const va = ['m', 1, 2, 'n#p', ['x'.repeat(100)]];
  const vb = ['m', 3, 4, 'n#q', [1.5, null, true]];
  const ba = a.write(va, 0);
  const copy = ba.slice();
  a.release();
  const bb = b.write(vb, 0);
  // The same memory: a's view now shows b's bytes, which is why callers copy before release().
  assert.equal(ba.buffer, bb.buffer);
  assert.deepEqual(bb.slice(), encode(vb));
  b.release();
  assert.deepEqual(copy, encode(va));
  // A write while the buffer is out (not released) gets a buffer of its own.
  const c = new MsgpackWriter(100);
  const held = a.write(va, 0);
  const other = c.write(vb, 0);
  assert.notEqual(held.buffer, other.buffer);
  assert.deepEqual(held.slice(), encode(va));
  a.release();
  c.release();
});

test('msgpack writer — a frozen array is encoded once and copied after; anything mutable inside is encoded every time', () => {
  const w = new MsgpackWriter(100);
  const chg = Object.freeze(['grp_chg', 'g', Object.freeze(['a#1', 'b#2']), Object.freeze([])]);
  for (let i = 0; i < 3; i++) assert.deepEqual(bytes(w, ['m', i, i, 'n#p', chg]), encode(['m', i, i, 'n#p', chg]));
  // A frozen array holding a mutable one: never kept, so a change shows.
  const inner = ['x'];
  const outer = Object.freeze(['o', inner]);
  assert.deepEqual(bytes(w, outer), encode(['o', ['x']]));
  inner.push('y');
  assert.deepEqual(bytes(w, outer), encode(['o', ['x', 'y']]));
  // Maps and bytes inside: encoded every time too.
  const m = { k: 1 };
  const withMap = Object.freeze(['o', m]);
  assert.deepEqual(bytes(w, withMap), encode(['o', { k: 1 }]));
  m.k = 2;
  assert.deepEqual(bytes(w, withMap), encode(['o', { k: 2 }]));
});

test('msgpack writer — the depth limit holds for a kept encoding written deeper than before', () => {
  const w = new MsgpackWriter(4);
  const deep = Object.freeze([Object.freeze([Object.freeze([1])])]); // 3 levels, 4 with the scalar
  assert.deepEqual(bytes(w, deep), encode(deep));
  assert.throws(() => w.write([deep], 0), (e: unknown) => e instanceof ProtocolError && e.code === 'AEMP_ERR_ENCODE');
  w.release();
  assert.deepEqual(bytes(w, deep), encode(deep));
});
