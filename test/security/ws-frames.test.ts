/**
 * WebSocket frames written by hand. A seed reads the frames of the links
 * it accepted itself (node/ws-read.ts), masked as a browser masks them,
 * and hands anything else to `ws`. A token page that speaks the wire by
 * hand: its frames masked with random keys are read (a ping packet
 * answered); an unmasked frame is refused with 1002 and text that is not
 * UTF-8 with 1007, each closing that one link; pages trickling one frame a
 * byte per write hold about their bytes (not an object per read) and are
 * cut by the heartbeat timeout, since only whole frames count as life. The
 * honest pair streams through the seed all along and loses nothing.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, test } from 'node:test';
import { encode } from '@msgpack/msgpack';
import { KIND } from '../../lib/protocol/codec.ts';
import { handFrame } from '../fixtures/hand-frame.ts';
import type { RawNode } from '../fixtures/raw-client.ts';
import { flowing, honestPair, hostile, killAll, MiB, MT, startSeed, tokenFor, warmUp } from './harness.ts';

after(() => killAll());

const randomKey = () => globalThis.crypto.getRandomValues(new Uint8Array(4));
/** The page's TCP socket under its link (private to WsLink): what is written here goes to the seed as it is. */
const tcp = (page: RawNode) => (page.link as unknown as { raw: Socket }).raw;
const write = (s: Socket, b: Uint8Array) => new Promise<void>((r, j) => s.write(b, (e) => (e ? j(e) : r())));

test('ws frames — a page\'s frames masked with random keys are read; an unmasked frame is refused with 1002, text that is not UTF-8 with 1007; the honest pair loses nothing', async () => {
  const seed = await startSeed();
  const pair = await honestPair(seed);
  await flowing(pair);
  const token = await tokenFor('web/*');

  // pong: false — the page writes nothing of its own between the frames below.
  const page = await hostile(seed.url, { token, pong: false });
  for (let i = 0; i < 20; i++) {
    // Payloads of 6 to ~750 bytes: under and over the length where unmasking takes the long way (node/ws-mask.ts).
    const batch = Buffer.concat([Buffer.of(KIND.WHOLE), encode([['p', `${i}:${'x'.repeat(i * 37)}`]])]);
    await write(tcp(page), handFrame(0x82, batch, randomKey()));
  }
  // Each ['p', t] is answered with ['P', t].
  await page.waitFrame(() => page.packets.filter((p) => p[0] === 'P').length === 20, 10_000);
  assert.deepEqual(page.packets.filter((p) => p[0] === 'P').map((p) => p[1]), Array.from({ length: 20 }, (_, i) => `${i}:${'x'.repeat(i * 37)}`));
  await write(tcp(page), handFrame(0x82, Uint8Array.of(KIND.WHOLE, 0x90, 0x90))); // unmasked
  assert.equal(await page.closed, 'ws: closed by peer (1002 protocol error)');

  const texter = await hostile(seed.url, { token, pong: false });
  await write(tcp(texter), handFrame(0x81, Uint8Array.of(0x68, 0xc3, 0x28), randomKey()));
  assert.equal(await texter.closed, 'ws: closed by peer (1007 invalid payload)');
  await pair.check();
});

test('ws frames — pages trickling a frame a byte per write are cut by the heartbeat timeout, the seed\'s memory rises by about their bytes; the honest pair loses nothing', async (t) => {
  const seed = await startSeed({ logLevel: 7 });
  const pair = await honestPair(seed);
  await flowing(pair);
  await warmUp(seed);
  const token = await tokenFor('web/*');
  const before = seed.peakRss();
  seed.resetPeak();
  const PAGES = 4;
  const pages = await Promise.all(Array.from({ length: PAGES }, () => hostile(seed.url, { token, pong: false })));
  const t0 = Date.now();
  const trickled = await Promise.all(
    pages.map(async (page) => {
      const s = tcp(page);
      // A frame announced as 1 MiB − 64, then its payload a byte per write, until the seed closes the link.
      await write(s, handFrame(0x82, new Uint8Array(0), randomKey(), MiB - 64));
      let bytes = 0;
      // Bounded: the seed cuts a silent link 1.1 × MT after its last whole frame; 10 × MT means it never did.
      while (!page.isClosed() && Date.now() - t0 < 10 * MT && bytes < 1_000_000) {
        await write(s, Uint8Array.of(bytes & 0xff)).catch(() => {});
        bytes++;
        // A write's callback comes on the next tick: without a turn of the event loop nothing would be read.
        await new Promise((r) => setImmediate(r));
      }
      return { reason: await page.closed, ms: Date.now() - t0, bytes };
    }),
  );
  const peak = seed.peakRss();
  t.diagnostic(`trickled ${trickled.map((x) => `${x.bytes} bytes in ${x.ms} ms`).join(', ')}; peak RSS ${Math.round(peak / MiB)} MiB (before ${Math.round(before / MiB)} MiB)`);
  for (const x of trickled) {
    assert.match(x.reason, /heartbeat timeout: nothing from web\/hostile-\w+ for \d+ ms/);
    assert.ok(x.ms < 10 * MT, `cut after ${x.ms} ms`);
  }
  // What waited was the bytes themselves (a few hundred KB in all), not ~250 bytes of heap per read.
  const total = trickled.reduce((a, x) => a + x.bytes, 0);
  assert.ok(peak - before < 32 * MiB + 4 * total, `peak RSS rose ${Math.round((peak - before) / MiB)} MiB for ${total} bytes trickled`);
  await pair.check();
});
