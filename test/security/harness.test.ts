/**
 * The security harness itself: a quiet seed, the honest pair streaming
 * through it, a token page and an anonymous page joined beside them.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { honestPair, hostile, killAll, startSeed, tokenFor } from './harness.ts';

after(() => killAll());

test('security harness — the honest pair streams through a seed with a token page and an anonymous page joined', async () => {
  const seed = await startSeed();
  const pair = await honestPair(seed);
  const page = await hostile(seed.url, { token: await tokenFor('web/*') });
  const anon = await hostile(seed.url);
  assert.equal(page.result.auth, 'hmac_sha256'); // how the page accepted the seed
  await pair.b.waitFor((e) => e.ev === 'sink' && e.name === 'honest', { timeoutMs: 30_000, what: 'stream progress' });
  const before = await seed.memory();
  assert.ok(before.rss > 0 && before.heapUsed > 0);
  seed.resetPeak();
  assert.ok(seed.peakRss() >= 0.5 * before.rss);
  const sent = await pair.check();
  assert.ok(sent >= 10_000, `sent ${sent}`);
  assert.equal(page.isClosed() || anon.isClosed(), false);
  page.link.close('done');
  anon.link.close('done');
});
