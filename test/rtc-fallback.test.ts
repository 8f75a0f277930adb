/**
 * Direct links that end: a channel that dies mid-stream falls back to the
 * relay without a hole (unconfirmed messages are resent), an idle link
 * closes and comes back with traffic, and a link that cannot form (ICE
 * fails) leaves the relay in place. Real processes, real @roamhq/wrtc.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RtcPeer, direct, killAll, pathIs } from './fixtures/rtc-driver.ts';
import { cutMidStream } from './fixtures/fallback-check.ts';

const SECRET = 'rtc-fallback-secret';
const MT = 1000;
const base = { secret: SECRET, monitor_timeout: MT, connect_interval: 200 };


after(() => killAll());

describe('direct links that end', () => {
  let s: RtcPeer;
  let e: RtcPeer, f: RtcPeer, g: RtcPeer, h: RtcPeer, i: RtcPeer, j: RtcPeer;
  const nodeProc = (nodeid: string, extra: Record<string, unknown> = {}) =>
    RtcPeer.start({ nodeid, seeds: [s.url!], ...base, ...extra });

  before(async () => {
    s = await RtcPeer.start({ nodeid: 'fs', binds: ['127.0.0.1:0'], ...base });
    // No second attempt within a test: the fallback stays visible.
    const noRetry = { directRetryMs: 60_000 };
    const failing = { directDropCandidates: true, directConnectTimeoutMs: 800, directRetryMs: 60_000 };
    [e, f, g, h, i, j] = await Promise.all([
      nodeProc('fe', noRetry),
      nodeProc('ff', noRetry),
      nodeProc('fg', { directIdleMs: 400 }),
      nodeProc('fh', { directIdleMs: 400 }),
      nodeProc('fi', failing),
      nodeProc('fj', failing),
    ]);
  });

  test('fallback — a channel cut mid-stream falls back to the relay: every message arrives once, in order, no monitor fires', async (t) => {
    const N = 200_000;
    const { resentE, resentF } = await cutMidStream(e, f, N);
    t.diagnostic(`e: ${resentE.msg}; f: ${resentF.msg}`);
  });

  test('idle — a direct link without messages closes after directIdleMs; the next message goes over the relay and upgrades again', async () => {
    await g.cmd('watchPath', { node: 'fh' });
    const inH = await h.cmd<string>('port', { name: 'inH' });
    const mon = await g.cmd<number>('mon', { port: inH });
    const sg = g.mark();
    await g.cmd('snd', { port: inH, msg: ['one'] });
    const up = await g.waitFor(pathIs('fh', 'direct'), { since: sg, timeoutMs: 10_000 });
    const down = await g.waitFor(pathIs('fh', 'relay'), { since: g.events.indexOf(up) + 1, timeoutMs: 5000 });
    const idleMs = down.t - up.t;
    assert.ok(idleMs >= 300 && idleMs < 10_000, `closed ${idleMs} ms after the switch (directIdleMs 400)`);
    const sh = h.mark();
    assert.equal((await g.cmd('snd', { port: inH, msg: ['two'] })).path, 'relay');
    assert.deepEqual((await h.waitFor((x) => x.ev === 'msg' && x.name === 'inH', { since: sh })).msg, ['two']);
    await g.waitFor(pathIs('fh', 'direct'), { since: g.events.indexOf(down) + 1, timeoutMs: 10_000 });
    assert.equal(g.filter((x) => x.ev === 'mon' && x.mid === mon).length, 0);
    assert.deepEqual(h.filter((x) => x.ev === 'msg' && x.name === 'inH').map((x) => x.msg), [['one'], ['two']]);
  });

  test('ice — when no direct link can form the relay stays: messages flow, linkInfo says relay, no monitor fires', async () => {
    const inJ = await j.cmd<string>('port', { name: 'inJ' });
    const inI = await i.cmd<string>('port', { name: 'inI' });
    const monI = await i.cmd<number>('mon', { port: inJ });
    const monJ = await j.cmd<number>('mon', { port: inI });
    const si = i.mark();
    const sj = j.mark();
    await i.cmd('snd', { port: inJ, msg: ['before', 0] });
    const failed = await i.waitFor(direct('no direct link with fj'), { since: si, timeoutMs: 5000 });
    assert.match(failed.msg, /messages stay on the relay/);
    for (let k = 1; k <= 3; k++) {
      await i.cmd('snd', { port: inJ, msg: ['after', k] });
      await j.cmd('snd', { port: inI, msg: ['back', k] });
    }
    await j.waitFor((x) => x.ev === 'msg' && x.name === 'inJ' && x.msg[1] === 3, { since: sj });
    await i.waitFor((x) => x.ev === 'msg' && x.name === 'inI' && x.msg[1] === 3, { since: si });
    assert.deepEqual(j.filter((x) => x.ev === 'msg' && x.name === 'inJ').map((x) => x.msg), [['before', 0], ['after', 1], ['after', 2], ['after', 3]]);
    assert.equal((await i.cmd('linkInfo', { node: 'fj' })).path, 'relay');
    assert.equal((await j.cmd('linkInfo', { node: 'fi' })).path, 'relay');
    assert.equal(i.filter((x) => x.ev === 'mon' && x.mid === monI).length, 0);
    assert.equal(j.filter((x) => x.ev === 'mon' && x.mid === monJ).length, 0);
    assert.equal(i.filter((x) => x.ev === 'node' && x.node === 'fj' && !x.up).length, 0);
  });
});
