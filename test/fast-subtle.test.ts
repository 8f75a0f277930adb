/**
 * node/fast-subtle.ts: the same bytes and verdicts as Node's WebCrypto, for
 * the HMAC-SHA-256 it speeds up and for everything it passes through.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fastSubtle } from '../node/fast-subtle.ts';

const base = globalThis.crypto.subtle;
const enc = new TextEncoder();
const alg = { name: 'HMAC', hash: 'SHA-256' };

test('fast-subtle — HMAC-SHA-256 sign gives the bytes WebCrypto gives; verify accepts exactly those', async () => {
  const secret = enc.encode('mesh secret é');
  const k1 = await fastSubtle.importKey('raw', secret, alg, false, ['sign', 'verify']);
  const k2 = await base.importKey('raw', secret, alg, false, ['sign', 'verify']);
  for (const text of ['', 'aemp1 greeting\nother', 'x'.repeat(10_000)]) {
    const data = enc.encode(text);
    const mine = new Uint8Array(await fastSubtle.sign('HMAC', k1, data));
    const theirs = new Uint8Array(await base.sign('HMAC', k2, data));
    assert.deepEqual(mine, theirs);
    assert.equal(await fastSubtle.verify('HMAC', k1, mine, data), true);
    const bad = mine.slice();
    bad[0] ^= 1;
    assert.equal(await fastSubtle.verify('HMAC', k1, bad, data), false);
    assert.equal(await fastSubtle.verify('HMAC', k1, mine.subarray(0, 31), data), false);
  }
  // The same secret imports once: the same key object again.
  assert.equal(await fastSubtle.importKey('raw', secret, alg, false, ['sign', 'verify']), k1);
  const other = await fastSubtle.importKey('raw', enc.encode('another'), alg, false, ['sign', 'verify']);
  assert.notEqual(other, k1);
  assert.notDeepEqual(new Uint8Array(await fastSubtle.sign('HMAC', other, enc.encode('a'))), new Uint8Array(await fastSubtle.sign('HMAC', k1, enc.encode('a'))));
});

test('fast-subtle — a key without the usage is refused as WebCrypto refuses it; other calls pass through', async () => {
  const k = await fastSubtle.importKey('raw', enc.encode('s'), alg, false, ['verify']);
  await assert.rejects(fastSubtle.sign('HMAC', k, enc.encode('a')), { name: 'InvalidAccessError' });
  const d = new Uint8Array(await fastSubtle.digest('SHA-256', enc.encode('abc')));
  assert.deepEqual(d, new Uint8Array(await base.digest('SHA-256', enc.encode('abc'))));
});
