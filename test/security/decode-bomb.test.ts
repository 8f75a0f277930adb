/**
 * Decode bombs from pages (issue 11, deliverable 4): batches whose packets
 * decode to empty arrays (one byte on the wire, ~40 bytes of heap each),
 * whole and fragmented, from a token page and from an anonymous page, at a
 * real seed in its own process with the honest pair streaming through it.
 * Each is refused before it is built: the hostile link alone is closed with
 * a logged reason carrying the code, the honest pair loses nothing, and the
 * seed's RSS stays within +150 MiB and comes back within 10% after GC.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { honestPair, hostile, killAll, MiB, startSeed, tokenFor, type HonestPair, type Seed, flowing, warmUp } from './harness.ts';
import { assertContained, emptyArrays, firstFragment, flatEmpty, fragments, whole } from './decode-shapes.ts';

after(() => killAll());

/** What the attacker sends on one link, and the code the seed must close it with. */
const ATTACKS: Array<[string, () => Uint8Array[], RegExp]> = [
  // ~1M empty packets in one 1 MiB frame: refused by the batch header's count.
  ['whole: a 1 MiB frame of empty packets', () => [whole(flatEmpty(MiB - 10))], /AEMP_ERR_BATCH_PACKETS/],
  // 120 packets of 8000 empty arrays: under the packet limit, refused by the element budget.
  ['whole: 120 packets of 8000 empty arrays', () => [whole(emptyArrays(120, 8000))], /AEMP_ERR_BATCH_ELEMENTS/],
  // The batch that crashed the seed: 120 MiB announced; refused at its first fragment, nothing buffered.
  [
    'fragmented: the 120 MiB batch of empty packets',
    () => {
      const frames = fragments(flatEmpty(8 * MiB)); // the first 8 of its 120 frames, with the 120 MiB claim patched in
      new DataView(frames[0]!.buffer).setUint32(1, 120 * MiB);
      return frames;
    },
    /AEMP_ERR_FRAME_TOO_LARGE/,
  ],
  // A page's whole allowance (1 MiB) of empty packets in 64 KiB fragments: the header's count is refused at the first.
  ['fragmented: 1 MiB of empty packets', () => fragments(flatEmpty(MiB - 10), 64 * 1024), /AEMP_ERR_BATCH_PACKETS/],
  // 1000 packets of 1040 empty arrays (1 M values in 1 MiB): reassembled, then refused by the element budget.
  ['fragmented: 1000 packets of 1040 empty arrays', () => fragments(emptyArrays(1000, 1040), 64 * 1024), /AEMP_ERR_BATCH_ELEMENTS/],
  // The header of a batch announced by a FIRST that says nothing else.
  ['fragmented: a first fragment announcing 8192 packets', () => [firstFragment(MiB - 1, Uint8Array.of(0xdc, 0x20, 0x00))], /AEMP_ERR_BATCH_PACKETS/],
  // Over a page's limit, though a secret holder could send it.
  ['fragmented: a 2 MiB batch', () => fragments(emptyArrays(2, MiB - 10), 256 * 1024), /AEMP_ERR_FRAME_TOO_LARGE/],
];

describe('decode bombs at a live seed', () => {
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
    const sent = await pair.check();
    assert.ok(sent > 0);
  });

  for (const kind of ['token', 'anon'] as const) {
    test(`decode-bomb — ${kind} page: every amplification batch, whole and fragmented, closes only its own link, with its code`, async (t) => {
      const token = kind === 'token' ? await tokenFor('web/*') : undefined;
      const memBefore = await seed.memory();
      seed.resetPeak();
      const since = seed.peer.mark();
      for (const [what, frames, code] of ATTACKS) {
        const nodeId = `${kind === 'token' ? 'web' : 'anon'}/hostile-${Math.random().toString(36).slice(2, 8)}`;
        const page = await hostile(seed.url, { token, nodeId });
        for (const f of frames()) page.link.send(f);
        const reason = await page.closed;
        assert.match(reason, code, `${what}: closed with "${reason}"`);
        assert.match(reason, /^protocol error from (web|anon)\/hostile-/);
        // The seed says why in its log, with the code.
        await seed.peer.waitFor(
          (e) => e.ev === 'log' && e.ns === 'conn' && String(e.msg).startsWith(`link to ${nodeId} closed: protocol error from ${nodeId}: `) && code.test(String(e.msg)),
          { since, timeoutMs: 30_000, what: `the seed's log line for ${what}` },
        );
      }
      t.diagnostic(await assertContained(seed, memBefore, `${kind} page, ${ATTACKS.length} decode bombs`));
      // The honest pair is still streaming (its full check runs at the end).
      const mark = pair.b.mark();
      await pair.b.waitFor((e) => e.ev === 'sink' && e.name === 'honest', { since: mark, timeoutMs: 30_000, what: 'honest stream still flowing' });
    });
  }
});
