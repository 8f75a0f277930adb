/**
 * The seed's own ports under the relay quota: a page floods the seed with
 * node-port requests it may send — 'ice', each of which costs the seed an
 * HMAC for TURN credentials. The seed serves the page's quota (2,000/s with
 * a one-second burst), drops the rest, tells the page once per session
 * (['nack', seed, 'AEMP_ERR_QUOTA: …']) and closes a page that stays over
 * quota; the honest pair, relayed by the same seed, loses nothing.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { honestPair, hostile, killAll, startSeed, tokenFor } from './harness.ts';

after(() => killAll());

const PAGE_MSGS = 2_000; // the default page_relay_msgs_per_sec
const CLOSE_MS = 4_000;

// Sent as full 'm' packets, or as one 'm' and then compact 'n' packets numbered on from it (docs/protocol.md).
for (const form of ['m', 'n'] as const) {
  test(`own-port quota — a page flooding the seed's node port with 'ice' requests${form === 'n' ? " (as 'n' packets)" : ''} gets its quota served, one nack, then loses its link; the honest pair loses nothing`, async (t) => {
    const seed = await startSeed({ quotaCloseMs: CLOSE_MS, turn_secret: 'turn-test-secret', turn_urls: ['turn:127.0.0.1:3478'] });
    const pair = await honestPair(seed);
    await pair.b.waitFor((e) => e.ev === 'sink' && e.name === 'honest', { timeoutMs: 30_000, what: 'stream progress' });

    const nodeId = 'web/ice-flooder';
    const page = await hostile(seed.url, { token: await tokenFor('web/*'), nodeId });
    const reply = `${nodeId}#ice`;
    const start = Date.now();
    let seq = 0;
    while (!page.isClosed() && Date.now() - start < 20_000 && seq < 2_000_000) {
      const batch: unknown[][] = [];
      for (let k = 0; k < 5_000; k++, seq++) batch.push(form === 'n' && seq > 0 ? ['n', seed.peer.node, ['ice', reply]] : ['m', 99, seq, seed.peer.node, ['ice', reply]]);
      page.send(batch as never);
      await new Promise((r) => setTimeout(r, 20));
    }
    const why = await Promise.race([page.closed, new Promise<string>((r) => setTimeout(() => r('not closed'), 10_000))]);
    const spanS = (Date.now() - start) / 1000;
    // The seed's answers: ['m', sid, seq, port, msg], or ['n', port, msg] for the next ones of a run (docs/protocol.md).
    const answers = page.packets
      .map((p) => (p[0] === 'm' ? [p[3], p[4]] : p[0] === 'n' ? [p[1], p[2]] : []))
      .filter(([port, msg]) => port === reply && Array.isArray(msg) && msg[0] === 'ice');
    const nacks = page.packets.filter((p) => p[0] === 'nack');
    t.diagnostic(`${seq} 'ice' requests in ${Math.round(spanS * 1000)} ms; ${answers.length} answered; link closed: ${why}`);

    assert.match(why, /AEMP_ERR_QUOTA: node web\/ice-flooder stayed over its relay quota for 4 s \(\d+ messages dropped\)/);
    assert.equal(nacks.length, 1, `one nack per destination and session: ${JSON.stringify(nacks.slice(0, 3))}`);
    assert.equal(nacks[0]![1], seed.peer.node);
    assert.match(String(nacks[0]![2]), /^AEMP_ERR_QUOTA: node web\/ice-flooder is over its relay quota at seed sec_seed/);
    // Served: the first of the session, in order, up to the quota and its burst; then the session is cut.
    assert.ok(answers.length >= 1 && answers.length <= PAGE_MSGS * (spanS + 1), `${answers.length} answered in ${spanS} s`);
    assert.ok(answers.length < seq / 10, `${answers.length} of ${seq} answered: no quota`);
    const creds = answers[0]![1] as [string, Array<{ urls: string[]; username: string; credential: string }>, number];
    assert.deepEqual(creds[1][0]!.urls, ['turn:127.0.0.1:3478']);

    const sent = await pair.check();
    t.diagnostic(`honest pair: ${sent} messages, none lost`);
  });
}
