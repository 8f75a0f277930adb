/**
 * Direct links across real processes: nodes (test/fixtures/rtc-peer.ts,
 * real @roamhq/wrtc) joined to a seed over WebSockets move their traffic
 * from the relay to a data channel of their own, without losing or
 * reordering a message, and keep it when the seed dies.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RtcPeer, killAll, pathIs } from './fixtures/rtc-driver.ts';

const SECRET = 'rtc-switch-secret';
const MT = 1000;
const base = { secret: SECRET, monitor_timeout: MT, connect_interval: 200 };
const nodeProc = (nodeid: string, seed: RtcPeer, extra: Record<string, unknown> = {}) =>
  RtcPeer.start({ nodeid, seeds: [seed.url!], ...base, ...extra });


after(() => killAll());

describe('two nodes on one seed', () => {
  let s: RtcPeer, a: RtcPeer, b: RtcPeer, c: RtcPeer, d: RtcPeer;

  before(async () => {
    s = await RtcPeer.start({ nodeid: 'rs', binds: ['127.0.0.1:0'], ...base });
    [a, b, c, d] = await Promise.all([nodeProc('ra', s), nodeProc('rb', s), nodeProc('rc', s), nodeProc('rd', s)]);
  });

  test('direct — the first message is relayed, then linkInfo turns direct on both sides and the seed relays nothing more of theirs', async () => {
    await a.cmd('watchPath', { node: 'rb' });
    await b.cmd('watchPath', { node: 'ra' });
    const inB = await b.cmd<string>('port', { name: 'inB' });
    const inA = await a.cmd<string>('port', { name: 'inA' });
    const r0 = await s.cmd<number>('relayed');
    // linkInfo in the same tick as the first snd: nothing direct yet.
    assert.equal((await a.cmd('snd', { port: inB, msg: ['first', 1] })).path, 'relay');
    assert.deepEqual((await b.waitFor((e) => e.ev === 'msg' && e.name === 'inB')).msg, ['first', 1]);
    assert.ok((await s.cmd<number>('relayed')) > r0, 'the first message went through the seed');

    await a.waitFor(pathIs('rb', 'direct'), { timeoutMs: 10_000 });
    await b.waitFor(pathIs('ra', 'direct'), { timeoutMs: 10_000 });
    const info = await a.cmd('linkInfo', { node: 'rb' });
    assert.equal(info.path, 'direct');
    assert.equal(typeof info.rttMs, 'number');

    const r1 = await s.cmd<number>('relayed');
    const sinceA = a.mark();
    const sinceB = b.mark();
    for (let i = 0; i < 20; i++) {
      await a.cmd('snd', { port: inB, msg: ['n', i] });
      await b.cmd('snd', { port: inA, msg: ['n', i] });
    }
    await b.waitFor((e) => e.ev === 'msg' && e.name === 'inB' && e.msg[1] === 19, { since: sinceB });
    await a.waitFor((e) => e.ev === 'msg' && e.name === 'inA' && e.msg[1] === 19, { since: sinceA });
    assert.deepEqual(b.filter((e) => e.ev === 'msg' && e.name === 'inB', sinceB).map((e) => e.msg[1]), [...Array(20).keys()]);
    assert.deepEqual(a.filter((e) => e.ev === 'msg' && e.name === 'inA', sinceA).map((e) => e.msg[1]), [...Array(20).keys()]);
    assert.equal(await s.cmd<number>('relayed'), r1, 'no message of theirs went through the seed after the switch');
  });

  test('direct — 200,000 numbered messages each way across the switch arrive exactly once and in order', async () => {
    const N = 200_000;
    const sinkD = await d.cmd<string>('sink', { name: 'fromC', last: N - 1 });
    const sinkC = await c.cmd<string>('sink', { name: 'fromD', last: N - 1 });
    const monC = await c.cmd<number>('mon', { port: sinkD });
    const monD = await d.cmd<number>('mon', { port: sinkC });
    const sc = c.mark();
    const sd = d.mark();
    // Both start on the relay; the switch happens while they send.
    await Promise.all([
      c.cmd('stream', { name: 'toD', port: sinkD, count: N, chunk: 500, intervalMs: 2 }),
      d.cmd('stream', { name: 'toC', port: sinkC, count: N, chunk: 500, intervalMs: 2 }),
    ]);
    const [doneC, doneD] = await Promise.all([
      c.waitFor((e) => e.ev === 'streamDone', { since: sc, timeoutMs: 20_000 }),
      d.waitFor((e) => e.ev === 'streamDone', { since: sd, timeoutMs: 20_000 }),
    ]);
    await Promise.all([
      d.waitFor((e) => e.ev === 'sinkLast' && e.name === 'fromC', { timeoutMs: 10_000 }),
      c.waitFor((e) => e.ev === 'sinkLast' && e.name === 'fromD', { timeoutMs: 10_000 }),
    ]);
    for (const [done, who] of [[doneC, 'c'], [doneD, 'd']] as const) {
      const paths = done.paths as Array<[string, number]>;
      assert.equal(paths[0]![0], 'relay', `${who} started on the relay: ${JSON.stringify(paths)}`);
      const sw = paths.find(([p]) => p === 'direct');
      assert.ok(sw && sw[1] > 0 && sw[1] < N, `${who} switched mid-stream: ${JSON.stringify(paths)}`);
    }
    assert.deepEqual(await d.cmd('sinkGet', { name: 'fromC' }), { ranges: [[0, N - 1]], runs: 1, count: N });
    assert.deepEqual(await c.cmd('sinkGet', { name: 'fromD' }), { ranges: [[0, N - 1]], runs: 1, count: N });
    assert.equal(c.filter((e) => e.ev === 'mon' && e.mid === monC).length, 0);
    assert.equal(d.filter((e) => e.ev === 'mon' && e.mid === monD).length, 0);
  });

  test('direct — after the seed process is killed the direct link keeps working, and no monitor fires', async () => {
    const inB = await b.cmd<string>('port', { name: 'afterSeed' });
    const inA = await a.cmd<string>('port', { name: 'afterSeed' });
    const monA = await a.cmd<number>('mon', { port: inB });
    const monB = await b.cmd<number>('mon', { port: inA });
    assert.equal((await a.cmd('linkInfo', { node: 'rb' })).path, 'direct');
    assert.equal((await b.cmd('linkInfo', { node: 'ra' })).path, 'direct');
    const ma = a.mark();
    const mb = b.mark();
    await s.kill();
    await a.waitFor((e) => e.ev === 'node' && e.node === 'rs' && !e.up, { since: ma });
    await b.waitFor((e) => e.ev === 'node' && e.node === 'rs' && !e.up, { since: mb });
    for (let i = 0; i < 5; i++) {
      await a.cmd('snd', { port: inB, msg: ['x', i] });
      await b.cmd('snd', { port: inA, msg: ['y', i] });
    }
    await b.waitFor((e) => e.ev === 'msg' && e.name === 'afterSeed' && e.msg[1] === 4, { since: mb });
    await a.waitFor((e) => e.ev === 'msg' && e.name === 'afterSeed' && e.msg[1] === 4, { since: ma });
    assert.deepEqual(b.filter((e) => e.ev === 'msg' && e.name === 'afterSeed').map((e) => e.msg), [0, 1, 2, 3, 4].map((i) => ['x', i]));
    assert.deepEqual(a.filter((e) => e.ev === 'msg' && e.name === 'afterSeed').map((e) => e.msg), [0, 1, 2, 3, 4].map((i) => ['y', i]));
    assert.equal((await a.cmd('linkInfo', { node: 'rb' })).path, 'direct');
    assert.equal(a.filter((e) => e.ev === 'mon' && e.mid === monA).length, 0);
    assert.equal(b.filter((e) => e.ev === 'mon' && e.mid === monB).length, 0);
    assert.equal(a.filter((e) => e.ev === 'node' && e.node === 'rb' && !e.up).length, 0);
  });
});
