/**
 * Heartbeat frames from a page. Ping flood: WebSocket ping frames are no
 * aemp frames, so no quota counts them, and `ws` would answer every one with
 * a pong (a write each). The seed answers at most one per 10 ms per link
 * (node/ws.ts): a client that sends 20,000 pings in a burst gets a handful
 * of pongs, not 20,000. A page claiming "ping": true in its greeting gets
 * ping frames, which it need not see; once it pings with ['p'] itself the
 * seed pings it with packets. The honest pair, whose seed links keep alive
 * by ping frames, loses nothing.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { WebSocket } from 'ws';
import { MT, honestPair, hostile, killAll, startSeed, tokenFor } from './harness.ts';

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

test('ping claim — a page saying "ping": true gets ping frames until it pings with [\'p\'] itself, then [\'p\'] packets; its link stays up, the honest pair loses nothing', async () => {
  const seed = await startSeed();
  const pair = await honestPair(seed);
  // Never pings on its own until told; its link answers ping frames (as a browser's WebSocket would).
  const page = await hostile(seed.url, { token: await tokenFor('web/*'), claimsPings: true, pingEveryMs: 0 });
  let frames = 0;
  let second!: () => void;
  const twice = new Promise<void>((r) => (second = r));
  page.link.setHandlers({ alive: () => ++frames === 2 && second() });
  await twice; // two heartbeat periods (0.8 × monitor_timeout each): kept alive by the answers alone
  assert.deepEqual(page.packets.filter((p) => p[0] === 'p'), [], 'heartbeats came as ping frames');
  page.send([['p', 42]]);
  await page.waitFrame(() => page.packets.some((p) => p[0] === 'P' && p[1] === 42), 10_000);
  // The next heartbeat is a packet (within one period, 0.8 × monitor_timeout, and a sweep).
  await page.waitFrame(() => page.packets.some((p) => p[0] === 'p'), 3 * MT);
  assert.equal(page.isClosed(), false);
  page.link.close('done');
  await pair.check();
});
