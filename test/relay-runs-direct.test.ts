/**
 * Relay runs across a direct-link switch, in separate processes
 * (test/fixtures/rtc-peer.ts): two Node nodes stream 4,000 messages per
 * tick to each other, so every tick on the relay is one run each way; they
 * switch to a direct WebSocket in the middle of the runs (the marker rides
 * in a run, behind everything relayed before it), the link is cut, and the
 * unconfirmed messages go back over the relay ahead of new runs. Every
 * message arrives once and in order, no monitor fires.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RtcPeer, killAll } from './fixtures/rtc-driver.ts';
import { cutMidStream } from './fixtures/fallback-check.ts';

const SECRET = 'relay-runs-direct-secret';
const base = { secret: SECRET, monitor_timeout: 1000, connect_interval: 200 };

after(() => killAll());

describe('relay runs and direct links', () => {
  let s: RtcPeer;
  before(async () => {
    s = await RtcPeer.start({ nodeid: 'rrd', binds: ['127.0.0.1:0'], ...base });
  });

  test('relay runs — runs of 4,000 switch to a direct WebSocket and back after a cut: 400,000 messages each way once, in order, relay → direct → relay, no monitor fires', async () => {
    const N = 400_000;
    const r0 = await s.cmd<number>('relayed');
    const [e, f] = await Promise.all([
      RtcPeer.start({ nodeid: 'rre', seeds: [s.url!], binds: ['127.0.0.1:0'], seed: false, directRetryMs: 60_000, ...base }),
      RtcPeer.start({ nodeid: 'rrf', seeds: [s.url!], directRetryMs: 60_000, ...base }),
    ]);
    await cutMidStream(e, f, N, async () => assert.equal(await e.cmd('linkKind', { node: 'rrf' }), 'ws'), 4000);
    assert.ok((await s.cmd<number>('relayed')) - r0 >= 2 * 4000, 'runs went through the seed before the switch');
  });
});
