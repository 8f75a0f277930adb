/**
 * Malformed relay runs (['R', dst, sid, seq0, port, msg, …]: docs/protocol.md)
 * sent by hand, from a secret holder (whose pairs the seed keeps as bytes)
 * and from a token page (whose run the seed decodes and screens): each one
 * closes the sender's link with the reason, and the honest pair, streaming
 * runs through the same seed the whole time, loses nothing.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { BATCH_LIMIT_DEFAULTS } from '../../lib/mesh/batch-limits.ts';
import { FrameEncoder, type Packet } from '../../lib/protocol/codec.ts';
import { rawNode, type RawNode } from '../fixtures/raw-client.ts';
import { SECRET, flowing, honestPair, hostile, killAll, startSeed, tokenFor } from './harness.ts';

after(() => killAll());

/** A run of `pairs` pairs ['p', 0], as one packet (over any element budget when large). */
function hugeRun(dst: string, pairs: number): Packet {
  const p: unknown[] = ['R', dst, 1, 0];
  for (let i = 0; i < pairs; i++) p.push(`${dst}#p`, 0);
  return p;
}

/** Send `packets` as one batch, encoded without this end's own limits (the seed applies its own). */
function sendUnchecked(raw: RawNode, packets: Packet[]): void {
  const enc = new FrameEncoder({ framing: 'msgpack', maxFrameSize: raw.link.maxFrameSize, maxBatchElements: 8 * 1024 * 1024 });
  for (const f of enc.encode(packets)) raw.link.send(f);
}

test('relay runs — malformed runs from a secret holder or a page close the sender\'s link with the reason; the honest pair loses nothing', async (t) => {
  const seed = await startSeed();
  const pair = await honestPair(seed);
  await flowing(pair);
  const dst = pair.b.node;
  const port = `${dst}#p`;
  const token = await tokenFor('web/*');
  const cases: Array<[string, Packet, RegExp]> = [
    ['an odd number of elements after seq0', ['R', dst, 1, 0, port, ['s', 0], port], /bad packet "R"/],
    ['seq0 not a number', ['R', dst, 1, '0', port, ['s', 0]], /bad packet "R"/],
    ['sid not a number', ['R', dst, null, 0, port, ['s', 0]], /bad packet "R"/],
    ['no pairs', ['R', dst, 1, 0], /bad packet "R"/],
    ['dst not a node ID', ['R', 42, 1, 0, port, ['s', 0]], /bad packet "R"/],
    ['a seed-to-seed run from a node', ['Q', 'sec_x', dst, 1, 0, port, ['s', 0]], /bad packet "Q"/],
    ['a seed-to-node run sent to the seed', ['G', 'sec_x', 1, 0, port, ['s', 0]], /bad packet "G"/],
  ];
  let n = 0;
  for (const kind of ['secret', 'page'] as const) {
    let id = '';
    const open = (): Promise<RawNode> => {
      id = kind === 'secret' ? `evil_runs_${n++}` : `web/evil-runs-${n++}`;
      return kind === 'secret' ? rawNode(seed.url, { nodeId: id, secret: SECRET }) : hostile(seed.url, { token, nodeId: id });
    };
    for (const [what, packet, reason] of cases) {
      const raw = await open();
      raw.send([packet]);
      const why = await raw.closed;
      t.diagnostic(`${kind}, ${what}: ${why}`);
      assert.match(why, reason, `${kind}, ${what}`);
      assert.ok(why.endsWith(` from ${id}`), `${kind}, ${what}: ${why}`);
    }
    // Over the element budget of the sender's kind (2 Mi values for a secret holder, 128 Ki for a page), in one run.
    const raw = await open();
    const budget = kind === 'secret' ? BATCH_LIMIT_DEFAULTS.maxBatchElements : BATCH_LIMIT_DEFAULTS.pageMaxBatchElements;
    sendUnchecked(raw, [hugeRun(dst, budget / 2 + 16)]);
    const why = await raw.closed;
    t.diagnostic(`${kind}, over the element budget: ${why}`);
    assert.match(why, /AEMP_ERR_BATCH_ELEMENTS/);
  }
  // Well-formed runs by hand from a secret holder are relayed: 100 pairs to the honest receiver's sink, in order.
  const sink = await pair.b.cmd<string>('sink', { name: 'byHand', progressEvery: 1e9 });
  const raw = await rawNode(seed.url, { nodeId: 'good_runs', secret: SECRET });
  const run: unknown[] = ['R', dst, 5, 0];
  for (let i = 0; i < 100; i++) run.push(sink, ['s', i]);
  raw.send([run]);
  const got = await pair.b.cmd<{ ranges: Array<[number, number]>; count: number }>('sinkWait', { name: 'byHand', count: 100 }, 30_000);
  assert.deepEqual(got.ranges, [[0, 99]]);
  assert.equal(raw.isClosed(), false);
  raw.link.close('done');
  const sent = await pair.check();
  t.diagnostic(`honest pair: ${sent} messages, none lost`);
});
