/**
 * Unfinished fragments (issue 11, deliverable 4): a page announces a batch,
 * sends most of it, then trickles one byte per second — each byte is a
 * frame, so the link never looks idle. The seed cuts it at its deadline
 * (monitor_timeout after the FIRST fragment), six such links at once hold
 * no more than their page limit each, and everything they held is gone
 * once they are: RSS back within 10% after GC. The honest pair streams
 * through the seed all along and loses nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RawNode } from '../fixtures/raw-client.ts';
import { honestPair, hostile, killAll, MiB, MT, startSeed, tokenFor, type HonestPair, type Seed, flowing, warmUp } from './harness.ts';
import { assertContained } from './decode-shapes.ts';

after(() => killAll());

/** 768 KiB of a batch announced as 1 MiB − 1 (just under a page's limit), in 256 KiB frames. */
function headFrames(): Uint8Array[] {
  const total = MiB - 1;
  const size = 256 * 1024;
  const first = new Uint8Array(size);
  first[0] = 0x02;
  new DataView(first.buffer).setUint32(1, total);
  first.set([0x91, 0x91, 0xc6], 5); // [[bin32 of the rest]]: a valid start
  new DataView(first.buffer).setUint32(8, total - 7);
  const middle = () => {
    const f = new Uint8Array(size);
    f[0] = 0x03;
    return f;
  };
  return [first, middle(), middle()];
}

interface Trickler {
  page: RawNode;
  nodeId: string;
  /** Date.now() just before the FIRST fragment left. */
  startedAt: number;
  /** Resolves with [close reason, ms from the FIRST fragment to the close]. */
  done: Promise<[string, number]>;
}

/** A page that sends the head of a batch, then one byte a second until the seed closes the link. */
async function trickler(url: string, token: string | undefined): Promise<Trickler> {
  const nodeId = `${token !== undefined ? 'web' : 'anon'}/trickle-${Math.random().toString(36).slice(2, 8)}`;
  // pong: false — an answer to the seed's heartbeat would be a whole frame inside the open batch.
  const page = await hostile(url, { token, nodeId, pong: false });
  const startedAt = Date.now();
  for (const f of headFrames()) page.link.send(f);
  let sent = 0;
  const timer = setInterval(() => {
    // Bounded: the deadline is MT; 60 bytes means the seed never cut it.
    if (page.isClosed() || ++sent > 60) return clearInterval(timer);
    page.link.send(Uint8Array.of(0x03, 0x00));
  }, 1000);
  const done = page.closed.then((reason): [string, number] => {
    clearInterval(timer);
    return [reason, Date.now() - startedAt];
  });
  return { page, nodeId, startedAt, done };
}

describe('unfinished fragments at a live seed', () => {
  let seed: Seed;
  let pair: HonestPair;

  before(async () => {
    seed = await startSeed({ logLevel: 7 });
    pair = await honestPair(seed);
    await flowing(pair);
    // The baseline is a seed in use: pages of both kinds have joined and sent a big (fragmented) honest batch.
    await warmUp(seed);
  });

  after(async () => {
    assert.ok((await pair.check()) > 0);
  });

  test('decode-fragments — a token page trickling one byte a second is cut at monitor_timeout after its first fragment', async (t) => {
    const since = seed.peer.mark();
    const tr = await trickler(seed.url, await tokenFor('web/*'));
    const [reason, ms] = await tr.done;
    assert.match(reason, new RegExp(`^protocol error from ${tr.nodeId}: AEMP_ERR_FRAGMENT_TIMEOUT: `));
    // Not before its deadline (the seed's clock starts after our send).
    assert.ok(ms >= MT, `cut after ${ms} ms`);
    await seed.peer.waitFor(
      (e) => e.ev === 'log' && e.ns === 'conn' && String(e.msg).startsWith(`link to ${tr.nodeId} closed: protocol error from ${tr.nodeId}: AEMP_ERR_FRAGMENT_TIMEOUT`),
      { since, timeoutMs: 30_000, what: 'the seed logging the cut' },
    );
    t.diagnostic(`cut after ${ms} ms (monitor_timeout ${MT} ms): ${reason}`);
  });

  test('decode-fragments — six trickling pages at once (token and anonymous): all cut, memory bounded and back after they close', async (t) => {
    const memBefore = await seed.memory();
    seed.resetPeak();
    const token = await tokenFor('web/*');
    const all = await Promise.all(Array.from({ length: 6 }, (_, i) => trickler(seed.url, i % 2 === 0 ? token : undefined)));
    const results = await Promise.all(all.map((x) => x.done));
    for (const [i, [reason, ms]] of results.entries()) {
      assert.match(reason, /AEMP_ERR_FRAGMENT_TIMEOUT/, `trickler ${i}`);
      assert.ok(ms >= MT, `trickler ${i} cut after ${ms} ms`);
    }
    t.diagnostic(await assertContained(seed, memBefore, '6 tricklers holding 768 KiB each'));
    const mark = pair.b.mark();
    await pair.b.waitFor((e) => e.ev === 'sink' && e.name === 'honest', { since: mark, timeoutMs: 30_000, what: 'honest stream still flowing' });
  });
});
