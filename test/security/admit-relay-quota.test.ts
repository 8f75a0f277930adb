/**
 * Relay quotas: pages flood relayed messages to a node through the seed.
 * The seed relays each page's quota (default 2,000 messages/s, 4 MiB/s) and
 * drops the rest; the flooder's monitors on the target fire with
 * AEMP_ERR_QUOTA (no silent hole: what arrived is a prefix of each monitor's
 * epoch); a page over quota without a break loses its link with that code;
 * the honest pair (secret holders, unlimited by default) loses nothing; the
 * seed's RSS stays bounded and comes back.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { checkStream, type Epoch } from '../fixtures/stream-check.ts';
import { MiB, MT, Peer, SECRET, honestPair, hostile, killAll, startSeed, tokenFor, type PeerEvent } from './harness.ts';

after(() => killAll());

const PAGE_MSGS = 2_000; // the default page_relay_msgs_per_sec
const PAGE_BYTES = 4 * MiB; // the default page_relay_bytes_per_sec
const CLOSE_MS = 4_000; // quotaCloseMs for this seed (default 30 s)

type Sink = { ranges: Array<[number, number]>; count: number; max: number };

/** The sink's state once it stopped changing (nothing more in flight): at most `ms`. */
async function settled(peer: Peer, name: string, ms = 20_000): Promise<Sink> {
  const end = Date.now() + ms;
  let last = await peer.cmd<Sink>('sinkGet', { name });
  for (;;) {
    await new Promise((r) => setTimeout(r, 300));
    const now = await peer.cmd<Sink>('sinkGet', { name });
    if (now.count === last.count || Date.now() > end) return now;
    last = now;
  }
}

/**
 * The first flood of small packets grows V8's young generation to its
 * maximum, the first big messages grow the allocator's pools: tens of MiB
 * of RSS that a forced GC does not give back (heap and external memory do
 * come back). So the same shapes run once before measuring, and "RSS
 * returns within 10%" measures what the attack holds, not that first growth.
 */
async function warmUp(url: string, token: string, dst: string, port: string): Promise<void> {
  const raw = await hostile(url, { token, nodeId: 'web/warm-up' });
  for (let b = 0, seq = 0; b < 100 && !raw.isClosed(); b++) {
    const batch: unknown[][] = [];
    for (let k = 0; k < 5_000; k++, seq++) batch.push(['r', dst, 1, seq, port, ['s', seq]]);
    raw.send(batch as never);
    await new Promise((r) => setTimeout(r, 20));
  }
  const blob = new Uint8Array(256 * 1024);
  for (let i = 0; i < 80 && !raw.isClosed(); i++) raw.send([['r', dst, 2, i, port, ['b', i, blob]]] as never);
  raw.link.close('warm-up done');
  await raw.closed;
}

test('relay quota — a page flooding a node gets its quota relayed, its monitors fire with AEMP_ERR_QUOTA, the honest pair loses nothing', async (t) => {
  const seed = await startSeed({ quotaCloseMs: CLOSE_MS });
  const pair = await honestPair(seed);
  const victim = await Peer.start({ nodeid: 'victim', seeds: [seed.url], secret: SECRET, monitor_timeout: MT, connect_interval: 200, direct: false });
  const sinkPort = await victim.cmd<string>('sink', { name: 'flood', progressEvery: 1e9 });
  const rawPort = await victim.cmd<string>('sink', { name: 'raw', progressEvery: 1e9 });
  const bigPort = await victim.cmd<string>('sink', { name: 'big', progressEvery: 1e9 });
  const warmPort = await victim.cmd<string>('sink', { name: 'warm', progressEvery: 1e9 });
  await pair.b.waitFor((e) => e.ev === 'sink' && e.name === 'honest', { timeoutMs: 30_000, what: 'stream progress' });
  const token = await tokenFor('web/*');
  await warmUp(seed.url, token, victim.node, warmPort);
  const before = await seed.memory();
  seed.resetPeak();

  // 1. A real page node streams as fast as it can (bursts of 2,000 every 5 ms) with a monitor on the target.
  const flooder = await Peer.start({ nodeid: 'web/flooder', seeds: [seed.url], token, monitor_timeout: MT, connect_interval: 200, direct: false });
  const COUNT = 60_000;
  const t0 = Date.now();
  await flooder.cmd('stream', { name: 'flood', port: sinkPort, count: COUNT, chunk: 2_000, intervalMs: 5 });
  await flooder.waitFor((e) => e.ev === 'streamDone' && e.name === 'flood', { timeoutMs: 60_000, what: 'flood sent' });
  const floodMs = Date.now() - t0;
  const got = await settled(victim, 'flood');
  const st = await flooder.cmd<{ epochs: Epoch[]; sent: number }>('streamGet', { name: 'flood' });
  const fires = flooder.filter((e: PeerEvent) => e.ev === 'streamFire' && e.name === 'flood');
  t.diagnostic(`page stream: ${COUNT} sent in ${floodMs} ms, ${got.count} relayed, ${fires.length} monitor firings, first: ${JSON.stringify(fires[0]?.reason)}`);
  assert.ok(fires.length > 0, 'the flooder heard nothing');
  for (const f of fires) {
    assert.equal(f.reason[0], 'transport_error');
    assert.match(String(f.reason[1]), /^AEMP_ERR_QUOTA: node web\/flooder is over its relay quota at seed sec_seed/);
  }
  checkStream(got.ranges, st.epochs, st.sent); // the AEMP guarantee: every epoch a prefix, no silent hole
  // The quota, with its one-second burst, over however long the flood (and its tail in flight) took.
  const spanS = (Date.now() - t0) / 1000;
  assert.ok(got.count > 0 && got.count <= PAGE_MSGS * (spanS + 1), `${got.count} relayed in ${spanS} s`);
  assert.ok(got.count < COUNT / 2, `${got.count} of ${COUNT} relayed: no quota`);
  assert.equal(flooder.filter((e: PeerEvent) => e.ev === 'node' && e.node === seed.peer.node && !e.up).length, 0, 'the flooder lost its seed');

  // 2. A raw page sends relay requests in batches of 5,000, one session, until the seed cuts it (at most 20 s).
  const raw = await hostile(seed.url, { token, nodeId: 'web/raw-flooder' });
  const sid = 4242;
  let seq = 0;
  const rawStart = Date.now();
  while (!raw.isClosed() && Date.now() - rawStart < 20_000 && seq < 5_000_000) {
    const batch: unknown[][] = [];
    for (let k = 0; k < 5_000; k++, seq++) batch.push(['r', victim.node, sid, seq, rawPort, ['s', seq]]);
    raw.send(batch as never);
    await new Promise((r) => setTimeout(r, 20));
  }
  const why = await Promise.race([raw.closed, new Promise<string>((r) => setTimeout(() => r('not closed'), 10_000))]);
  t.diagnostic(`raw page: ${seq} relay requests in ${Date.now() - rawStart} ms; link closed: ${why}`);
  assert.match(why, /AEMP_ERR_QUOTA: node web\/raw-flooder stayed over its relay quota for 4 s \(\d+ messages dropped\)/);
  const nacks = raw.packets.filter((p) => p[0] === 'nack');
  assert.equal(nacks.length, 1, `one nack per destination and session: ${JSON.stringify(nacks.slice(0, 3))}`);
  assert.equal(nacks[0]![1], victim.node);
  assert.match(String(nacks[0]![2]), /^AEMP_ERR_QUOTA: /);
  const rawGot = await settled(victim, 'raw');
  // One session: the victim took a prefix and dropped the rest of the session at the first gap.
  assert.deepEqual(rawGot.ranges, [[0, rawGot.count - 1]]);
  assert.ok(rawGot.count >= 1 && rawGot.count <= PAGE_MSGS * 2, `${rawGot.count} relayed of the raw flood`);

  // 3. Big messages: 256 KiB each, 80 of them (20 MiB) at once: the byte quota holds them to 4 MiB/s.
  const raw2 = await hostile(seed.url, { token, nodeId: 'web/big-flooder' });
  const blob = new Uint8Array(256 * 1024);
  const bigStart = Date.now();
  for (let i = 0; i < 80; i++) raw2.send([['r', victim.node, 77, i, bigPort, ['s', i, blob]]] as never);
  const bigGot = await settled(victim, 'big');
  const bigS = (Date.now() - bigStart) / 1000;
  t.diagnostic(`big messages: ${bigGot.count} of 80 relayed in ${bigS} s`);
  assert.deepEqual(bigGot.ranges, [[0, bigGot.count - 1]]);
  assert.ok(bigGot.count >= 1 && bigGot.count * blob.length <= PAGE_BYTES * (bigS + 1), `${bigGot.count} big messages relayed in ${bigS} s`);
  assert.ok(raw2.packets.some((p) => p[0] === 'nack' && String(p[2]).startsWith('AEMP_ERR_QUOTA')), 'no nack for the big messages');
  raw2.link.close('done');

  const peak = seed.peakRss();
  await flooder.cmd('shutdown', {});
  const sent = await pair.check();
  const afterMem = await seed.memory();
  t.diagnostic(`before ${JSON.stringify(before)} after ${JSON.stringify(afterMem)}`);
  t.diagnostic(`honest pair: ${sent} messages, none lost; seed RSS ${(before.rss / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB, after ${(afterMem.rss / MiB).toFixed(0)} MiB`);
  assert.ok(peak < before.rss + 150 * MiB, `seed peak RSS ${peak}, ${before.rss} before`);
  assert.ok(afterMem.rss < before.rss * 1.1, `seed RSS ${afterMem.rss} after, ${before.rss} before`);
});
