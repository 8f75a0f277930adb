/**
 * ICE servers from the seed (lib/mesh/ice.ts), over real WebSockets on
 * 127.0.0.1: a seed with turn_secret and turn_urls hands each node a TURN
 * credential in coturn's REST scheme for that node's ID; a seed without
 * them hands out nothing. (e2e/turn.test.ts checks coturn accepts them.)
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNode, type MpNode } from '../node/index.ts';
import { turnCredential } from '../lib/mesh/ice-seed.ts';
import { viewOf } from '../lib/mesh/mesh-view.ts';

const rcDir = mkdtempSync(join(tmpdir(), 'aemp-ice-'));
process.env.AEMP_RC = join(rcDir, 'rc.json');
after(() => rmSync(rcDir, { recursive: true, force: true }));

const SECRET = 'ice-test-secret';
const opts = { secret: SECRET, monitor_timeout: 1000, connect_interval: 100, direct: false };
const seedUrl = (n: MpNode): string => n.net!.seedLink!.listening()[0]!;

/** The node's iceServers once they hold `count` entries (the seed's answer arrived). */
async function iceServers(n: MpNode, count: number, timeoutMs = 10_000): Promise<readonly RTCIceServer[]> {
  const view = viewOf(n.net)!;
  const deadline = Date.now() + timeoutMs;
  // No event marks the seed's answer: look again until it is there (bounded).
  while (view.iceServers().length < count) {
    if (Date.now() > deadline) throw new Error(`no ICE servers from the seed within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return view.iceServers();
}

test('ice — turnCredential is coturn REST: username "expiry:node", credential base64 HMAC-SHA1 of it', async () => {
  const c = await turnCredential(globalThis.crypto.subtle, 'north', 'web/abc', 3_600_000, 1_700_000_000_000);
  assert.equal(c.username, '1700003600:web/abc');
  assert.equal(c.credential, createHmac('sha1', 'north').update('1700003600:web/abc').digest('base64'));
});

test('ice — a seed with turn_secret and turn_urls hands a node its own TURN credential, after the node\'s own iceServers', async () => {
  const turnUrls = ['turn:127.0.0.1:3478?transport=udp'];
  const seed = await createNode({ ...opts, nodeid: 'ice_seed', binds: ['127.0.0.1:0'], turn_secret: 'turn-shh', turn_urls: turnUrls, turn_ttl: 600_000 });
  const own = { urls: 'stun:127.0.0.1:3478' };
  const node = await createNode({ ...opts, nodeid: 'ice_node', seeds: [seedUrl(seed)], iceServers: [own] });
  try {
    const t0 = Date.now();
    const servers = await iceServers(node, 2);
    assert.deepEqual(servers[0], own);
    const turn = servers[1]!;
    assert.deepEqual(turn.urls, turnUrls);
    const [expiry, who] = String(turn.username).split(/:(.*)/s);
    assert.equal(who, 'ice_node');
    // About ten minutes from now (generous on both sides: this is a clock, not a speed).
    assert.ok(Math.abs(Number(expiry) - (t0 + 600_000) / 1000) < 60, `expiry ${expiry}`);
    assert.equal(turn.credential, createHmac('sha1', 'turn-shh').update(String(turn.username)).digest('base64'));
  } finally {
    await node.shutdown();
    await seed.shutdown();
  }
});

test('ice — a seed without TURN hands out nothing: the node keeps its own iceServers', async () => {
  const seed = await createNode({ ...opts, nodeid: 'ice_seed2', binds: ['127.0.0.1:0'] });
  const node = await createNode({ ...opts, nodeid: 'ice_node2', seeds: [seedUrl(seed)] });
  try {
    // A round trip through the seed after the node's request: its answer came before ours.
    const me = node.port();
    const back = new Promise<void>((r) => node.rcv(me, () => r()));
    node.snd('ice_seed2', 'ice', me);
    await back;
    assert.deepEqual(viewOf(node.net)!.iceServers(), []);
  } finally {
    await node.shutdown();
    await seed.shutdown();
  }
});

test('ice — configure refuses turn_urls that are not turn: URLs and an unknown iceTransportPolicy', async () => {
  await assert.rejects(createNode({ ...opts, nodeid: 'ice_bad', binds: ['127.0.0.1:0'], turn_urls: ['http://x'] }), { code: 'AEMP_ERR_BAD_ARGUMENT' });
  await assert.rejects(createNode({ ...opts, nodeid: 'ice_bad2', seeds: ['ws://127.0.0.1:9/'], iceTransportPolicy: 'none' as 'all' }), { code: 'AEMP_ERR_BAD_ARGUMENT' });
});
