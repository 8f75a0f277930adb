/**
 * Direct WebSocket links between secret holders, across real processes
 * (test/fixtures/rtc-peer.ts): a non-seed node with binds (`seed: false`)
 * and another Node node move their traffic from the relay to a WebSocket
 * between them — not WebRTC — with AEMP's guarantee kept: every message
 * once and in order across the switch and across a cut link, monitors
 * firing when the listening node dies. A page (token node) is refused the
 * direct WebSocket, with the reason, and gets WebRTC instead.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createToken } from '../lib/protocol/token.ts';
import { parseRefusal } from '../lib/protocol/handshake.ts';
import { runHandshake } from '../lib/mesh/dial.ts';
import { systemClock } from '../lib/clock.ts';
import { connectWs } from '../node/ws.ts';
import { RtcPeer, direct, killAll, pathIs } from './fixtures/rtc-driver.ts';
import { cutMidStream } from './fixtures/fallback-check.ts';

const SECRET = 'ws-direct-secret';
const MT = 1000;
const base = { secret: SECRET, monitor_timeout: MT, connect_interval: 200 };


after(() => killAll());

describe('direct WebSocket links', () => {
  let s: RtcPeer;
  const listener = (nodeid: string, extra: Record<string, unknown> = {}) =>
    RtcPeer.start({ nodeid, seeds: [s.url!], binds: ['127.0.0.1:0'], seed: false, ...base, ...extra });
  const plain = (nodeid: string, extra: Record<string, unknown> = {}) => RtcPeer.start({ nodeid, seeds: [s.url!], ...base, ...extra });

  before(async () => {
    s = await RtcPeer.start({ nodeid: 'ws', binds: ['127.0.0.1:0'], auth_accept: ['hmac_sha256', 'token'], ...base });
  });

  test('ws direct — a listening node and a plain Node node switch to a WebSocket between them; 200,000 messages each way arrive once, in order; the seed relays nothing more of theirs', async () => {
    const N = 200_000;
    // 'wa' < 'wb': the plain node has the smaller ID (it would offer WebRTC); the listener's invitation wins.
    const [a, b] = await Promise.all([plain('wa'), listener('wb')]);
    assert.match(b.url!, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
    await a.cmd('watchPath', { node: 'wb' });
    await b.cmd('watchPath', { node: 'wa' });
    const toB = await b.cmd<string>('sink', { name: 'fromA', last: N - 1 });
    const toA = await a.cmd<string>('sink', { name: 'fromB', last: N - 1 });
    const monA = await a.cmd<number>('mon', { port: toB });
    const monB = await b.cmd<number>('mon', { port: toA });
    const sa = a.mark();
    const sb = b.mark();
    await a.cmd('stream', { name: 'aToB', port: toB, count: N, chunk: 200, intervalMs: 2 });
    await b.cmd('stream', { name: 'bToA', port: toA, count: N, chunk: 200, intervalMs: 2 });
    await a.waitFor(pathIs('wb', 'direct'), { timeoutMs: 10_000 });
    await b.waitFor(pathIs('wa', 'direct'), { timeoutMs: 10_000 });
    assert.equal(await a.cmd('linkKind', { node: 'wb' }), 'ws');
    assert.equal(await b.cmd('linkKind', { node: 'wa' }), 'ws');
    await Promise.all([
      a.waitFor((x) => x.ev === 'streamDone', { since: sa, timeoutMs: 30_000 }),
      b.waitFor((x) => x.ev === 'streamDone', { since: sb, timeoutMs: 30_000 }),
    ]);
    await b.waitFor((x) => x.ev === 'sinkLast' && x.name === 'fromA', { timeoutMs: 20_000 });
    await a.waitFor((x) => x.ev === 'sinkLast' && x.name === 'fromB', { timeoutMs: 20_000 });
    assert.deepEqual(await b.cmd('sinkGet', { name: 'fromA' }), { ranges: [[0, N - 1]], runs: 1, count: N });
    assert.deepEqual(await a.cmd('sinkGet', { name: 'fromB' }), { ranges: [[0, N - 1]], runs: 1, count: N });
    assert.equal(a.filter((x) => x.ev === 'mon' && x.mid === monA).length, 0);
    assert.equal(b.filter((x) => x.ev === 'mon' && x.mid === monB).length, 0);
    // wa offered WebRTC (the smaller ID offers); the listener never answered it, it invited wa instead.
    assert.equal(a.filter(direct('answering a direct link')).length + b.filter(direct('answering a direct link')).length, 0);
    assert.ok(b.filter(direct('inviting wa to a direct WebSocket link')).length >= 1);
    const r = await s.cmd<number>('relayed');
    const inB = await b.cmd<string>('port', { name: 'inB' });
    for (let i = 0; i < 10; i++) await a.cmd('snd', { port: inB, msg: ['n', i] });
    await b.waitFor((x) => x.ev === 'msg' && x.name === 'inB' && x.msg[1] === 9);
    assert.equal(await s.cmd<number>('relayed'), r, 'nothing of theirs went through the seed after the switch');
  });

  test('ws fallback — the direct WebSocket cut mid-stream falls back to the relay: every message once, in order, no monitor fires', async () => {
    const N = 200_000;
    const [e, f] = await Promise.all([listener('we', { directRetryMs: 60_000 }), plain('wf', { directRetryMs: 60_000 })]);
    await cutMidStream(e, f, N, async () => assert.equal(await e.cmd('linkKind', { node: 'wf' }), 'ws'));
  });

  test('ws kill — the listening node SIGKILLed over its direct WebSocket: the peer\'s monitor fires with a transport error, and the node counts as down', async () => {
    const [g, h] = await Promise.all([plain('wg'), listener('wh')]);
    await g.cmd('watchPath', { node: 'wh' });
    const inH = await h.cmd<string>('port', { name: 'inH' });
    const mon = await g.cmd<number>('mon', { port: inH });
    await g.cmd('snd', { port: inH, msg: ['one'] });
    await g.waitFor(pathIs('wh', 'direct'), { timeoutMs: 10_000 });
    assert.equal(await g.cmd('linkKind', { node: 'wh' }), 'ws');
    const sg = g.mark();
    await h.kill();
    const fired = await g.waitFor((x) => x.ev === 'mon' && x.mid === mon, { since: sg, timeoutMs: 10_000 });
    assert.equal(fired.reason[0], 'transport_error');
    await g.waitFor((x) => x.ev === 'node' && x.node === 'wh' && x.up === false, { since: sg, timeoutMs: 10_000 });
    assert.equal(g.filter((x) => x.ev === 'mon' && x.mid === mon, sg).length, 1, 'the monitor fired once');
  });

  test('ws page — a token node that dials the listening node is refused with AEMP_ERR_DIRECT_REFUSED and the reason', async () => {
    const l = await listener('wl');
    const token = await createToken(globalThis.crypto.subtle, SECRET, { node: 'web/*', ttlSec: 600, nowMs: Date.now(), caps: [] });
    const link = await connectWs(l.url!, { timeoutMs: 5000 });
    const hs = await runHandshake(
      link,
      {
        nodeId: 'web/page1',
        isSeed: false,
        token,
        authOffer: ['token'],
        authAccept: ['hmac_sha256', 'token'],
        framings: ['msgpack', 'json'],
        nonce: globalThis.crypto.getRandomValues(new Uint8Array(16)),
        subtle: globalThis.crypto.subtle,
        now: () => Date.now(),
      },
      5000,
      systemClock,
    );
    assert.equal(hs.result.peerNode, 'wl');
    const [frame, closed] = await new Promise<[unknown, string]>((resolve) => {
      let first: unknown;
      hs.attach((f) => (first ??= f));
      link.setHandlers({ close: (why) => resolve([first, why]) });
    });
    const r = parseRefusal(frame as string);
    assert.equal(r?.code, 'AEMP_ERR_DIRECT_REFUSED');
    assert.equal(r?.reason, 'direct WebSocket links are for holders of the mesh secret; web/page1 joined with a token and reaches wl through the seeds (or WebRTC)');
    assert.match(closed, /AEMP_ERR_DIRECT_REFUSED/);
  });

  test('ws page — a token page and a listening node are not invited to the WebSocket: they link over WebRTC', async () => {
    const token = await createToken(globalThis.crypto.subtle, SECRET, { node: 'web/*', ttlSec: 600, nowMs: Date.now(), caps: [] });
    const [l, p] = await Promise.all([listener('wm'), RtcPeer.start({ nodeid: 'web/wpage', seeds: [s.url!], token, monitor_timeout: MT, connect_interval: 200 })]);
    await l.cmd('watchPath', { node: 'web/wpage' });
    const inL = await l.cmd<string>('port', { name: 'inL' });
    const inP = await p.cmd<string>('port', { name: 'inP' });
    await p.cmd('snd', { port: inL, msg: ['hi'] });
    await l.waitFor((x) => x.ev === 'msg' && x.name === 'inL');
    await l.cmd('snd', { port: inP, msg: ['back'] });
    await l.waitFor(pathIs('web/wpage', 'direct'), { timeoutMs: 20_000 });
    assert.equal(await l.cmd('linkKind', { node: 'web/wpage' }), 'rtc');
    assert.equal(l.filter(direct('inviting web/wpage')).length, 0);
  });
});
