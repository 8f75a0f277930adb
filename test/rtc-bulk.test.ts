/**
 * Bulk over a direct link: a 20 MB message (fragmented to the channel's
 * 64 KiB frames) and a burst of 1,000,000 small messages sent in one tick
 * arrive whole and in order; the channel's own buffer stays at the
 * high-water mark (Chromium closes a channel past 16 MiB) and memory
 * returns to where it was.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RtcPeer, killAll, pathIs } from './fixtures/rtc-driver.ts';

const SECRET = 'rtc-bulk-secret';
// The default monitor_timeout: queueing and encoding a million messages in one tick keeps the
// sender's event loop busy for a second or two, which peers rightly see as a hang past that.
const base = { secret: SECRET, monitor_timeout: 6000, connect_interval: 200 };
/** The rtc link's default high-water mark plus one frame (directMaxFrame): the most the channel may hold. */
const CHANNEL_LIMIT = 1024 * 1024 + 64 * 1024;
const MB = 1024 * 1024;


after(() => killAll());

describe('bulk over a direct link', () => {
  let s: RtcPeer, a: RtcPeer, b: RtcPeer;
  let heapA0 = 0, heapB0 = 0;

  before(async () => {
    s = await RtcPeer.start({ nodeid: 'bs', binds: ['127.0.0.1:0'], ...base });
    [a, b] = await Promise.all([
      RtcPeer.start({ nodeid: 'ba', seeds: [s.url!], ...base }),
      RtcPeer.start({ nodeid: 'bb', seeds: [s.url!], ...base }),
    ]);
    await a.cmd('watchPath', { node: 'bb' });
    await b.cmd('watchPath', { node: 'ba' });
    const p = await b.cmd<string>('port', { name: 'hello' });
    const q = await a.cmd<string>('port', { name: 'hello' });
    await a.cmd('snd', { port: p, msg: ['hi'] });
    await b.cmd('snd', { port: q, msg: ['hi'] });
    await a.waitFor(pathIs('bb', 'direct'), { timeoutMs: 10_000 });
    await b.waitFor(pathIs('ba', 'direct'), { timeoutMs: 10_000 });
    heapA0 = (await a.cmd('mem', { node: 'bb' })).heapUsed;
    heapB0 = (await b.cmd('mem', { node: 'ba' })).heapUsed;
  });

  test('bulk — a 20 MB message crosses the direct link in 64 KiB frames, intact', async () => {
    const sink = await b.cmd<string>('bigSink', { name: 'big' });
    const mon = await a.cmd<number>('mon', { port: sink });
    const since = b.mark();
    await a.cmd('big', { port: sink, size: 20_000_000 });
    const got = await b.waitFor((e) => e.ev === 'big', { since, timeoutMs: 20_000 });
    assert.deepEqual([got.size, got.ok], [20_000_000, true]);
    const ma = await a.cmd('mem', { node: 'bb' });
    assert.equal(ma.maxFrameSize, 64 * 1024);
    assert.ok(ma.peakChannelBuffered > 0 && ma.peakChannelBuffered <= CHANNEL_LIMIT, `channel held ${ma.peakChannelBuffered} bytes at most`);
    assert.equal((await a.cmd('linkInfo', { node: 'bb' })).path, 'direct');
    assert.equal(a.filter((e) => e.ev === 'mon' && e.mid === mon).length, 0);
  });

  test('bulk — 1,000,000 messages sent in one tick arrive in order; the channel buffer stays bounded and memory comes back', async (t) => {
    const N = 1_000_000;
    const sink = await b.cmd<string>('sink', { name: 'burst', last: N - 1 });
    const mon = await a.cmd<number>('mon', { port: sink });
    const t0 = Date.now();
    await a.cmd('burst', { port: sink, count: N }, 20_000);
    await b.waitFor((e) => e.ev === 'sinkLast' && e.name === 'burst', { timeoutMs: 25_000 });
    const ms = Date.now() - t0;
    assert.deepEqual(await b.cmd('sinkGet', { name: 'burst' }), { ranges: [[0, N - 1]], runs: 1, count: N });
    const ma = await a.cmd('mem', { node: 'bb' });
    const mb = await b.cmd('mem', { node: 'ba' });
    assert.ok(ma.peakChannelBuffered <= CHANNEL_LIMIT, `channel held ${ma.peakChannelBuffered} bytes at most`);
    // Nothing kept once delivered and confirmed: the heaps are back near where they started.
    assert.ok(ma.heapUsed - heapA0 < 40 * MB, `sender heap grew by ${((ma.heapUsed - heapA0) / MB).toFixed(1)} MB`);
    assert.ok(mb.heapUsed - heapB0 < 40 * MB, `receiver heap grew by ${((mb.heapUsed - heapB0) / MB).toFixed(1)} MB`);
    assert.ok(ma.rss < 1024 * MB && mb.rss < 1024 * MB, `rss ${ma.rss / MB | 0} / ${mb.rss / MB | 0} MB`);
    assert.equal((await a.cmd('linkInfo', { node: 'bb' })).path, 'direct');
    assert.equal(a.filter((e) => e.ev === 'mon' && e.mid === mon).length, 0);
    t.diagnostic(`1M burst in ${ms} ms; rss ${ma.rss / MB | 0} / ${mb.rss / MB | 0} MB; channel peak ${ma.peakChannelBuffered} B`);
  });
});
