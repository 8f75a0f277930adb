/**
 * Log flood: a page sends 100,000 malformed messages and 100,000 unknown
 * node-port requests to the seed, each of which the seed refuses with a
 * warning. The seed's log shows a handful of lines per kind and then one
 * line per interval with the count of the rest: the counts add up to
 * exactly what was sent. The honest pair loses nothing meanwhile; the
 * seed's RSS stays bounded and comes back.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { rawNode } from '../fixtures/raw-client.ts';
import { MiB, SECRET, honestPair, hostile, killAll, startSeed, tokenFor, type PeerEvent } from './harness.ts';

after(() => killAll());

const N = 100_000;
const BATCH = 2_000;
/** lib/log.ts LOG_LIMIT_DEFAULTS.burst */
const BURST = 5;
const MORE = /\((\d+) more like this in the last \d+ s\)$/;

/**
 * Decoding the first flood grows V8's young generation to its maximum (RSS
 * a forced GC does not give back; the heap does come back): a flood of
 * relay requests to an unknown node (answered with a nack each, logged
 * nowhere) first, so "RSS returns within 10%" measures what the attack holds.
 */
async function warmUp(url: string): Promise<void> {
  const raw = await rawNode(url, { nodeId: 'warm_up', secret: SECRET });
  for (let b = 0, seq = 0; b < 100 && !raw.isClosed(); b++) {
    const batch: unknown[][] = [];
    for (let k = 0; k < 4_000; k++, seq++) batch.push(['r', 'no_such_node', 1, seq, 'p', ['x']]);
    raw.send(batch as never);
    await new Promise((r) => setTimeout(r, 5));
  }
  raw.link.close('warm-up done');
  await raw.closed;
}

test('log flood — 200,000 refused requests from a page give a bounded number of seed log lines, with counts', async (t) => {
  // The seed's own ports take a page's messages within its relay quota (admit-relay-quota.test.ts): lifted here, so
  // that all 200,000 refusals reach the log.
  const seed = await startSeed({ page_relay_msgs_per_sec: 0, page_relay_bytes_per_sec: 0 });
  const pair = await honestPair(seed);
  await pair.b.waitFor((e) => e.ev === 'sink' && e.name === 'honest', { timeoutMs: 30_000, what: 'stream progress' });
  await warmUp(seed.url);
  const before = await seed.memory();
  seed.resetPeak();
  const from = seed.peer.events.length;

  const page = await hostile(seed.url, { token: await tokenFor('web/*'), nodeId: 'web/log-flooder' });
  // 'm' to the seed with a session id that is not a number: "dropping malformed message" (mesh.ts);
  // a node-port request nobody serves: "refused unknown request" (kernel.ts).
  for (let i = 0; i < N / BATCH && !page.isClosed(); i++) {
    const batch: unknown[][] = [];
    for (let k = 0; k < BATCH; k++) batch.push(['m', 'not-a-session', 0, 'p', ['x']]);
    for (let k = 0; k < BATCH; k++) batch.push(['m', 7, i * BATCH + k, seed.peer.node, ['no_such_request_kind', k]]);
    page.send(batch as never);
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(page.isClosed(), false, 'the seed closed the page: refusals are not link errors');

  // Wait (bounded) for the count lines to add up to every request sent.
  const total = (re: RegExp) => {
    const lines = seed.peer.filter((e: PeerEvent) => e.ev === 'log' && re.test(e.msg), from);
    let n = 0;
    for (const l of lines) n += MORE.test(l.msg) ? Number(MORE.exec(l.msg)![1]) : 1;
    return { lines: lines.length, n };
  };
  const malformed = /dropping malformed message from web\/log-flooder/;
  const unknown = /refused unknown request .*no_such_request_kind.* from web\/log-flooder/;
  await seed.peer.waitFor(() => total(malformed).n >= N && total(unknown).n >= N, { timeoutMs: 60_000, what: 'count lines adding up' });
  const m = total(malformed);
  const u = total(unknown);
  const allLines = seed.peer.filter((e: PeerEvent) => e.ev === 'log', from).length;
  t.diagnostic(`malformed: ${m.lines} lines for ${m.n}; unknown requests: ${u.lines} lines for ${u.n}; seed log lines in all: ${allLines}`);
  assert.equal(m.n, N);
  assert.equal(u.n, N);
  // A burst, then at most one count line per 10 s interval (the flood and the wait take well under 10 intervals).
  assert.ok(m.lines >= BURST + 1 && m.lines <= BURST + 10, `${m.lines} lines`);
  assert.ok(u.lines >= BURST + 1 && u.lines <= BURST + 10, `${u.lines} lines`);
  assert.ok(allLines < 100, `${allLines} seed log lines`);

  page.link.close('done');
  const peak = seed.peakRss();
  const sent = await pair.check();
  const afterMem = await seed.memory();
  t.diagnostic(`honest pair: ${sent} messages, none lost; seed heap ${(before.heapUsed / MiB).toFixed(1)} → ${(afterMem.heapUsed / MiB).toFixed(1)} MiB, RSS ${(before.rss / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB, after ${(afterMem.rss / MiB).toFixed(0)} MiB`);
  assert.ok(peak < before.rss + 150 * MiB, `seed peak RSS ${peak}, ${before.rss} before`);
  assert.ok(afterMem.rss < before.rss * 1.1, `seed RSS ${afterMem.rss} after, ${before.rss} before`);
});
