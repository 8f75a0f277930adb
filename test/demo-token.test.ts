/**
 * The demo's GET /token: a fresh node ID and token for anyone; a renewal
 * (?nodeid=ID) only for the page that presents that ID's previous token, so
 * no page can take over another page's ID.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { demoHttpHandler, RENEW_WINDOW_SEC } from '../node/chat/http.ts';
import { createToken, verifyToken } from '../lib/protocol/token.ts';

const SECRET = 'demo-token-secret';
const subtle = globalThis.crypto.subtle;
let server: http.Server;
let base: string;

before(async () => {
  server = http.createServer(demoHttpHandler({ dir: '/nonexistent', secret: SECRET, tokenTtlSec: 60 }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

async function get(path: string, bearer?: string): Promise<{ status: number; text: string }> {
  const res = await fetch(base + path, { headers: bearer === undefined ? {} : { authorization: `Bearer ${bearer}` } });
  return { status: res.status, text: await res.text() };
}

test('demo token — GET /token hands out a new web/ ID and a token for exactly that ID', async () => {
  const r = await get('/token');
  assert.equal(r.status, 200);
  const { nodeid, token } = JSON.parse(r.text) as { nodeid: string; token: string };
  assert.match(nodeid, /^web\/[A-Za-z0-9]{10}$/);
  assert.equal((await verifyToken(subtle, SECRET, token, nodeid, Date.now())).node, nodeid);
});

test("demo token — a renewal with the ID's previous token (even expired) gets a fresh token for the same ID", async () => {
  const nodeid = 'web/renewer';
  const expired = await createToken(subtle, SECRET, { node: nodeid, ttlSec: 1, nowMs: Date.now() - 3600_000 });
  const r = await get(`/token?nodeid=${encodeURIComponent(nodeid)}`, expired);
  assert.equal(r.status, 200, r.text);
  const body = JSON.parse(r.text) as { nodeid: string; token: string };
  assert.equal(body.nodeid, nodeid);
  assert.equal((await verifyToken(subtle, SECRET, body.token, nodeid, Date.now())).node, nodeid);
});

test("demo token — a renewal without the ID's own token is refused with 403 and the reason", async () => {
  const victim = 'web/victim';
  const cases: Array<[string | undefined, RegExp]> = [
    [undefined, /^renewing the token of web\/victim needs its previous token/],
    ['garbage', /^the token presented does not renew web\/victim: .*expected two parts/],
    // Another page's own token: valid, but for another ID.
    [await createToken(subtle, SECRET, { node: 'web/attacker', ttlSec: 60, nowMs: Date.now() }), /does not renew web\/victim: .*does not match pattern/],
    // A wildcard token matches the ID but is not for it alone.
    [await createToken(subtle, SECRET, { node: 'web/*', ttlSec: 60, nowMs: Date.now() }), /^the token presented is for web\/\*, not for web\/victim alone/],
    // Signed with another secret.
    [await createToken(subtle, 'other-secret', { node: victim, ttlSec: 60, nowMs: Date.now() }), /not signed with this mesh secret/],
    // Expired too long ago.
    [await createToken(subtle, SECRET, { node: victim, ttlSec: 1, nowMs: Date.now() - (RENEW_WINDOW_SEC + 60) * 1000 }), /expired more than \d+ s ago/],
  ];
  for (const [bearer, why] of cases) {
    const r = await get(`/token?nodeid=${encodeURIComponent(victim)}`, bearer);
    assert.equal(r.status, 403, `${bearer}: ${r.text}`);
    assert.match(r.text.trim(), why);
  }
  const bad = await get('/token?nodeid=other%2Fx');
  assert.equal(bad.status, 400);
  assert.match(bad.text, /^nodeid must be web\/…/);
});
