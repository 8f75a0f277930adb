import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { createHmac } from 'node:crypto';
import { createToken, tokenMatches, verifyToken } from '../lib/protocol/token.ts';
import { TokenError, type TokenFailure } from '../lib/protocol/errors.ts';
import { AempError, BadArgumentError } from '../lib/errors.ts';

const subtle = globalThis.crypto.subtle;
const SECRET = 'mesh secret ü';
const NOW = 1_700_000_000_000; // ms

const b64u = (s: string | Buffer) => Buffer.from(s).toString('base64url');
/** A token built by hand from the documented format, with node:crypto. */
function handToken(payload: string, secret = SECRET): string {
  const body = b64u(payload);
  const mac = createHmac('sha256', Buffer.from(secret, 'utf8')).update('aemp-token1 ' + body).digest();
  return `${body}.${b64u(mac)}`;
}

async function rejects(p: Promise<unknown>, reason: TokenFailure): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof TokenError, String(e));
    assert.ok(e instanceof AempError);
    assert.equal(e.code, 'AEMP_ERR_TOKEN');
    assert.equal(e.reason, reason, e.message);
    return true;
  });
}

test('token — createToken produces the documented format', async () => {
  const t = await createToken(subtle, SECRET, { node: 'web/*', ttlSec: 3600, nowMs: NOW });
  assert.equal(t, handToken(JSON.stringify({ node: 'web/*', exp: 1_700_003_600 })));
  assert.match(t, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
});

test('token — a fresh token verifies for a matching node id', async () => {
  const t = await createToken(subtle, SECRET, { node: 'web/*', ttlSec: 60, nowMs: NOW });
  await verifyToken(subtle, SECRET, t, 'web/alice', NOW);
  await verifyToken(subtle, SECRET, t, 'web/', NOW + 59_999);
  await verifyToken(subtle, SECRET, handToken('{"node":"x","exp":2000000000,"iat":1}'), 'x', NOW); // extra fields are fine
});

test('token — expired at exp, not before', async () => {
  const t = await createToken(subtle, SECRET, { node: 'web/*', ttlSec: 60, nowMs: NOW });
  await verifyToken(subtle, SECRET, t, 'web/a', NOW + 59_999);
  await rejects(verifyToken(subtle, SECRET, t, 'web/a', NOW + 60_000), 'expired');
  await rejects(verifyToken(subtle, SECRET, t, 'web/a', NOW + 10 ** 9), 'expired');
});

test('token — node id outside the pattern is refused', async () => {
  const t = await createToken(subtle, SECRET, { node: 'web/*', ttlSec: 60, nowMs: NOW });
  await rejects(verifyToken(subtle, SECRET, t, 'seed1', NOW), 'node_mismatch');
  await rejects(verifyToken(subtle, SECRET, t, 'xweb/a', NOW), 'node_mismatch');
});

test('token — forged or tampered signatures are refused', async () => {
  const t = await createToken(subtle, SECRET, { node: 'web/*', ttlSec: 60, nowMs: NOW });
  await rejects(verifyToken(subtle, 'another secret', t, 'web/a', NOW), 'bad_signature');
  const [, mac] = t.split('.');
  const widened = b64u(JSON.stringify({ node: '*', exp: 1_700_000_060 }));
  await rejects(verifyToken(subtle, SECRET, `${widened}.${mac}`, 'seed1', NOW), 'bad_signature');
  await rejects(verifyToken(subtle, SECRET, handToken('{"node":"*","exp":2000000000}', 'guess'), 'a', NOW), 'bad_signature');
  // a MAC over the payload without the domain prefix (a JWT-style signature) is not accepted
  const body = b64u('{"node":"*","exp":2000000000}');
  const plain = b64u(createHmac('sha256', SECRET).update(body).digest());
  await rejects(verifyToken(subtle, SECRET, `${body}.${plain}`, 'a', NOW), 'bad_signature');
});

test('token — malformed tokens are refused as malformed', async () => {
  const good = await createToken(subtle, SECRET, { node: 'web/*', ttlSec: 60, nowMs: NOW });
  const [body, mac] = good.split('.');
  for (const t of ['', 'abc', `${body}.${mac}.x`, `${body}+.${mac}`, `${body}.${mac.slice(0, 40)}`, `${body}.${mac}=`, 'a'.repeat(5000)]) {
    await rejects(verifyToken(subtle, SECRET, t, 'web/a', NOW), 'malformed');
  }
  // correctly signed, but the payload is not what a token holds
  for (const p of ['not json', '[1]', '{"node":"web/*"}', '{"exp":2000000000}', '{"node":"bad id!","exp":2000000000}', '{"node":"a","exp":"2030"}']) {
    await rejects(verifyToken(subtle, SECRET, handToken(p), 'a', NOW), 'malformed');
  }
  await rejects(verifyToken(subtle, SECRET, 42 as unknown as string, 'a', NOW), 'malformed');
});

test('token — createToken refuses bad arguments', async () => {
  await assert.rejects(createToken(subtle, '', { node: 'a', ttlSec: 1, nowMs: NOW }), BadArgumentError);
  await assert.rejects(createToken(subtle, SECRET, { node: 'bad id', ttlSec: 1, nowMs: NOW }), BadArgumentError);
  await assert.rejects(createToken(subtle, SECRET, { node: '', ttlSec: 1, nowMs: NOW }), BadArgumentError);
  await assert.rejects(createToken(subtle, SECRET, { node: 'a', ttlSec: 0, nowMs: NOW }), BadArgumentError);
  await assert.rejects(createToken(subtle, SECRET, { node: 'a', ttlSec: Infinity, nowMs: NOW }), BadArgumentError);
  await assert.rejects(createToken(subtle, SECRET, { node: 'a', ttlSec: 1, nowMs: NaN }), BadArgumentError);
});

test('token — tokenMatches: * is any run of characters, the whole id must match', () => {
  const cases: [string, string, boolean][] = [
    ['web/*', 'web/alice', true],
    ['web/*', 'web/', true],
    ['web/*', 'web/a/b', true],
    ['web/*', 'web', false],
    ['web/*', 'xweb/a', false],
    ['*', 'anything:at/all', true],
    ['*', '', true],
    ['seed1', 'seed1', true],
    ['seed1', 'seed10', false],
    ['seed1', 'seed', false],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'aXbYc', true],
    ['a*b*c', 'aXbYcZ', false],
    ['a*b*c', 'acb', false],
    ['*-node', 'x-node', true],
    ['*-node', 'x-nodes', false],
    ['**', 'x', true],
    ['a.b', 'aXb', false],
  ];
  for (const [p, id, want] of cases) assert.equal(tokenMatches(p, id), want, `${p} vs ${id}`);
});

test('token — tokenMatches stays fast on a pathological pattern', () => {
  const t0 = performance.now();
  assert.equal(tokenMatches('a*'.repeat(60) + 'b', 'a'.repeat(256)), false);
  assert.ok(performance.now() - t0 < 500);
});

test('token — caps are signed into the payload and come back from verifyToken', async () => {
  const t = await createToken(subtle, SECRET, { node: 'web/*', ttlSec: 60, nowMs: NOW, caps: ['kil', 'spawn', 'kil'] });
  assert.equal(t, handToken(JSON.stringify({ node: 'web/*', exp: NOW / 1000 + 60, caps: ['kil', 'spawn'] })));
  assert.deepEqual(await verifyToken(subtle, SECRET, t, 'web/a', NOW), { node: 'web/*', exp: NOW / 1000 + 60, caps: ['kil', 'spawn'] });
  // No caps: the payload is exactly what it was before caps existed, and verifies to none.
  const plain = await createToken(subtle, SECRET, { node: 'web/*', ttlSec: 60, nowMs: NOW, caps: [] });
  assert.equal(plain, handToken(JSON.stringify({ node: 'web/*', exp: NOW / 1000 + 60 })));
  assert.deepEqual((await verifyToken(subtle, SECRET, plain, 'web/a', NOW)).caps, []);
});

test('token — a literal token with caps verifies; unknown cap names grant nothing; malformed caps are refused', async () => {
  // Hand-built from the documented format: {"node":"web/*","exp":2000000000,"caps":["trace","sndon","root"]}
  const lit = handToken('{"node":"web/*","exp":2000000000,"caps":["trace","sndon","root"]}');
  assert.deepEqual((await verifyToken(subtle, SECRET, lit, 'web/x', NOW)).caps, ['trace', 'sndon']);
  await rejects(verifyToken(subtle, SECRET, handToken('{"node":"web/*","exp":2000000000,"caps":"kil"}'), 'web/x', NOW), 'malformed');
  await rejects(verifyToken(subtle, SECRET, handToken('{"node":"web/*","exp":2000000000,"caps":[1]}'), 'web/x', NOW), 'malformed');
  // Caps are under the signature: editing them breaks it.
  const t = await createToken(subtle, SECRET, { node: 'web/*', ttlSec: 60, nowMs: NOW, caps: ['kil'] });
  const forged = `${b64u(JSON.stringify({ node: 'web/*', exp: NOW / 1000 + 60, caps: ['kil', 'spawn'] }))}.${t.split('.')[1]}`;
  await rejects(verifyToken(subtle, SECRET, forged, 'web/a', NOW), 'bad_signature');
});

test('token — createToken refuses an unknown capability', async () => {
  await assert.rejects(createToken(subtle, SECRET, { node: 'web/*', ttlSec: 60, nowMs: NOW, caps: ['kil', 'root'] }), (e: unknown) => {
    assert.ok(e instanceof BadArgumentError);
    assert.match((e as Error).message, /unknown capability "root"/);
    return true;
  });
});
