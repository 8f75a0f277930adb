/**
 * Ping flood: WebSocket ping frames are no aemp frames, so no quota counts
 * them, and `ws` would answer every one with a pong (a write each). The
 * seed answers at most one per 10 ms per link (node/ws.ts): a client that
 * sends 20,000 pings in a burst gets a handful of pongs, not 20,000. The
 * honest pair, whose seed links keep alive by such pings, loses nothing.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { WebSocket } from 'ws';
import { honestPair, killAll, startSeed } from './harness.ts';

after(() => killAll());

const PINGS = 20_000;

test('ping flood — 20,000 pings from one client before its greeting get at most one pong per 10 ms; the honest pair loses nothing', async (t) => {
  const seed = await startSeed();
  const pair = await honestPair(seed);
  const ws = new WebSocket(seed.url, { perMessageDeflate: false, autoPong: false });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let pongs = 0;
  ws.on('pong', () => pongs++);
  // The seed's answer to our greeting (its auth frame) comes after every pong it wrote for the pings before that
  // greeting: the end of the flood, as an event. (Its own greeting may have come with the upgrade, unseen here.)
  let answered!: (frame: string) => void;
  const auth = new Promise<string>((r) => (answered = r));
  ws.on('message', (data: Buffer) => {
    const f = data.toString();
    if (!f.startsWith('{"aemp"')) answered(f);
  });
  const t0 = performance.now();
  for (let i = 0; i < PINGS; i++) ws.ping();
  ws.send(JSON.stringify({ aemp: 1, node: 'anon/pinger', nonce: 'ab'.repeat(16), seed: false, auth: ['none'], framing: ['msgpack'] }));
  const answer = await auth;
  const elapsed = performance.now() - t0;
  t.diagnostic(`${pongs} pongs for ${PINGS} pings in ${Math.round(elapsed)} ms`);
  assert.match(answer, /^\{"mac":"[0-9a-f]{64}"\}$/, 'the seed went on with the handshake');
  assert.ok(pongs >= 1, 'a ping is still answered');
  // One at once, then at most one per 10 ms while the flood was being read.
  assert.ok(pongs <= 1 + Math.ceil(elapsed / 10), `${pongs} pongs in ${Math.round(elapsed)} ms`);
  ws.close();
  await pair.check();
});
