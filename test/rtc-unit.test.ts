/**
 * The pieces of direct links in one process: compact sending and resending, duplicate
 * detection in sessions, the Conn's hard close on overflow and its
 * heartbeat after a busy spell, mDNS candidates, option parsing, and two
 * in-process nodes where one has direct links turned off.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock, TimerId } from '../lib/clock.ts';
import type { Frame, Link, LinkHandlers } from '../lib/link.ts';
import { isMdnsCandidate } from '../lib/links/rtc.ts';
import { Conn } from '../lib/mesh/conn.ts';
import { directOptions, DIRECT_DEFAULTS } from '../lib/mesh/direct-options.ts';
import { DirectTx } from '../lib/mesh/direct-resend.ts';
import { FrameDecoder, FrameEncoder } from '../lib/protocol/codec.ts';
import { Sessions, type TxSession } from '../lib/mesh/sessions.ts';
import { RELAY_RUNS } from '../lib/mesh/relay-runs.ts';
import { createNodeRtcLink } from '../node/rtc-env.ts';
import { createNode, setLogLevel, setLogSink, type MpNode } from '../node/index.ts';
import { getLogLevel } from '../lib/log.ts';

const rcDir = mkdtempSync(join(tmpdir(), 'aemp-rtc-unit-'));
process.env.AEMP_RC = join(rcDir, 'rc.json');
after(() => rmSync(rcDir, { recursive: true, force: true }));

/** A DirectTx over a recorder of the wire packets; flush() encodes what was sent since the last one, as a Conn does per tick. */
function tx(limit = 100) {
  const codec = { framing: 'msgpack' as const, maxFrameSize: 64 };
  const enc = new FrameEncoder(codec);
  const dec = new FrameDecoder(codec);
  const wire: unknown[][] = [];
  let flushed = 0;
  const t = new DirectTx({ send: (p) => wire.push(p) }, limit, (frames) => frames.flatMap((f) => dec.decode(f)));
  const flush = () => {
    const batch = wire.slice(flushed);
    flushed = wire.length;
    t.encoded(enc.encode(batch));
  };
  return { t, wire, flush };
}

test('direct tx — consecutive messages of one session travel compactly as [n, port, msg]', () => {
  const { t, wire } = tx();
  t.send(7, 0, 'n#p', ['a']);
  t.send(7, 1, 'n#p', ['b']);
  t.send(7, 2, 'n#q', ['c']);
  t.send(9, 0, 'n#p', ['d']); // a new session
  t.send(9, 5, 'n#p', ['e']); // not the next number
  assert.deepEqual(wire, [
    ['m', 7, 0, 'n#p', ['a']],
    ['n', 'n#p', ['b']],
    ['n', 'n#q', ['c']],
    ['m', 9, 0, 'n#p', ['d']],
    ['m', 9, 5, 'n#p', ['e']],
  ]);
  assert.equal(t.pushed, 5);
});

test('direct tx — keeps what was sent (encoded or not) until acknowledged and gives the rest back numbered, oldest first', () => {
  const { t, wire, flush } = tx();
  for (let i = 0; i < 4; i++) t.send(7, i, 'n#p', ['x', i]);
  flush();
  for (let i = 4; i < 8; i++) t.send(7, i, 'n#p', ['x', i]);
  wire.push(['ack', 1, 1]); // control packets in the same frames are skipped
  flush();
  for (let i = 8; i < 10; i++) t.send(7, i, 'n#p', ['x', i]); // not encoded yet
  assert.equal(t.size, 10);
  t.ack(7, 3);
  assert.equal(t.size, 6, 'the first frames are confirmed as a whole');
  t.ack(8, 9); // another session: not ours
  assert.equal(t.size, 6);
  t.ack(7, 5); // part of the second frames: those stay, their first two are filtered on resend
  assert.equal(t.size, 6);
  assert.deepEqual(t.take(), [6, 7, 8, 9].map((i) => ['m', 7, i, 'n#p', ['x', i]]));
  assert.equal(t.size, 0);
  t.send(7, 10, 'n#p', ['x', 10]);
  flush();
  t.ack(7, 10);
  assert.equal(t.size, 0);
  t.send(7, 11, 'n#p', ['x', 11]);
  assert.deepEqual(t.take(), [['m', 7, 11, 'n#p', ['x', 11]]]);
});

test('direct tx — past its limit it gives up until everything sent is acknowledged', () => {
  const { t, flush } = tx(3);
  for (let i = 0; i < 5; i++) t.send(1, i, 'n#p', [i]);
  flush();
  assert.equal(t.intact, false);
  t.ack(1, 3);
  assert.equal(t.intact, false, 'message 4 is still unconfirmed and was not kept');
  t.ack(1, 4);
  assert.equal(t.intact, true);
  t.send(1, 5, 'n#p', [5]);
  assert.deepEqual(t.take(), [['m', 1, 5, 'n#p', [5]]]);
  for (let i = 6; i < 10; i++) t.send(1, i, 'n#p', [i]);
  flush();
  assert.equal(t.take(), undefined);
});

test('sessions — a resent copy of an accepted message is a duplicate, not a gap', () => {
  const s = new Sessions(() => 0.5);
  assert.equal(s.accept('a', 9, 0), 'ok');
  assert.equal(s.accept('a', 9, 1), 'ok');
  assert.equal(s.accept('a', 9, 0), 'dup');
  assert.equal(s.accept('a', 9, 1), 'dup');
  assert.equal(s.accept('a', 9, 2), 'ok');
  assert.equal(s.accept('a', 9, 4), 'gap');
  assert.equal(s.accept('a', 9, 3), 'drop');
});

/** A link that records how it was closed. */
function fakeLink(maxFrameSize = 16 * 1024): Link & { sent: Frame[]; closedHow?: string; buffered: number } {
  const l = {
    kind: 'rtc' as const,
    maxFrameSize,
    buffered: 0,
    get bufferedAmount() {
      return l.buffered;
    },
    isOpen: true,
    sent: [] as Frame[],
    closedHow: undefined as string | undefined,
    send(f: Frame) {
      l.sent.push(f);
    },
    close(reason?: string) {
      l.closedHow ??= `close: ${reason}`;
    },
    terminate(reason: string) {
      l.closedHow ??= `terminate: ${reason}`;
    },
    setHandlers(_h: Partial<LinkHandlers>) {},
  };
  return l;
}

/** A clock whose timers run only when the test says, at whatever time it sets. */
function handClock() {
  let now = 1000;
  const timers = new Map<number, { at: number; fn: () => void }>();
  let seq = 0;
  const clock: Clock = {
    now: () => now,
    setTimeout: (fn, ms) => (timers.set(++seq, { at: now + ms, fn }), seq),
    clearTimeout: (id: TimerId) => void timers.delete(id as number),
  };
  /** Jump to time t and run the timers due by then (once each, oldest first). */
  const runAt = (t: number) => {
    now = t;
    for (const [id, x] of [...timers].sort((p, q) => p[1].at - q[1].at)) {
      if (x.at > t) continue;
      timers.delete(id);
      x.fn();
    }
  };
  return { clock, runAt, pending: () => timers.size };
}

function conn(link: Link, clock: Clock, extra: { maxQueuedPackets?: number; maxBufferedBytes?: number } = {}) {
  const closed: string[] = [];
  const c = new Conn({
    link, framing: 'msgpack', peer: 'peer', peerIsSeed: false, kind: 'secret', outbound: true, clock,
    monitorTimeoutMs: 1000, maxBufferedBytes: extra.maxBufferedBytes ?? 1 << 30, maxQueuedPackets: extra.maxQueuedPackets ?? 1000,
    maxMessageSize: 1 << 20, onPacket: () => {}, onClose: (r) => closed.push(r),
  });
  return { c, closed };
}

test('conn — messages appended to a queued relay run count toward maxQueuedPackets: the run builder cannot queue without bound', async () => {
  const { clock } = handClock();
  const l = fakeLink();
  const a = conn(l, clock, { maxQueuedPackets: 10 });
  const s = { sid: 7, seq: 0 } as TxSession;
  for (let i = 0; i < 10; i++) RELAY_RUNS.send(a.c, 'dst', s, 'dst#p', ['x', i]);
  assert.equal(l.closedHow, undefined, 'one run of 10 messages is within the bound');
  assert.equal(a.c.queued()!.length, 4 + 2 * 10);
  RELAY_RUNS.send(a.c, 'dst', s, 'dst#p', ['x', 10]);
  assert.match(l.closedHow!, /^terminate: send queue overflow: more than 10 packets queued/);
  assert.deepEqual(l.sent, []);
  // After a flush the count starts again.
  const l2 = fakeLink();
  const b = conn(l2, clock, { maxQueuedPackets: 10 });
  for (let i = 0; i < 10; i++) RELAY_RUNS.send(b.c, 'dst', s, 'dst#p', ['x', i]);
  await Promise.resolve();
  assert.equal(l2.sent.length, 1);
  for (let i = 0; i < 10; i++) RELAY_RUNS.send(b.c, 'dst', s, 'dst#p', ['x', i]);
  assert.equal(l2.closedHow, undefined);
});

test('conn — overflow cuts the link hard (terminate), so what it buffered is never delivered', async () => {
  const { clock } = handClock();
  const l1 = fakeLink();
  const a = conn(l1, clock, { maxQueuedPackets: 10 });
  for (let i = 0; i < 12; i++) a.c.send(['m', 1, i, 'n#p', []]);
  assert.match(l1.closedHow!, /^terminate: send queue overflow: more than 10 packets queued/);
  assert.deepEqual(l1.sent, []);
  assert.equal(a.closed.length, 1);

  const l2 = fakeLink();
  const b = conn(l2, clock, { maxBufferedBytes: 100 });
  l2.buffered = 101;
  b.c.send(['m', 1, 0, 'n#p', []]);
  await Promise.resolve();
  assert.match(l2.closedHow!, /^terminate: send queue overflow: 101 bytes buffered \(limit 100\)/);

  const l3 = fakeLink();
  const c = conn(l3, clock);
  c.c.close('plain close');
  assert.equal(l3.closedHow, 'close: plain close');
});

test('conn — a heartbeat sweep that runs late (this process was busy) allows the stall as silence before declaring the peer dead', () => {
  const h = handClock();
  const l = fakeLink();
  const { c, closed } = conn(l, h.clock);
  // The first sweep is due at +25 ms; it runs 3 s late, as after a long synchronous burst: 3,100 ms of silence
  // is within 1.1 × monitor_timeout + the stall (at most 2 × monitor_timeout of it).
  h.runAt(4100);
  assert.deepEqual(closed, [], 'no verdict straight after a busy spell');
  assert.equal(h.pending(), 1);
  // Nothing arrived while input had its turn (25 ms of running uses 25 ms of the allowance): now it is a timeout.
  h.runAt(4125);
  assert.deepEqual(closed, ['heartbeat timeout: nothing from peer for 3125 ms']);
  assert.equal(c.isOpen, false);
});

test('conn — a process that stays busy (every timer late) still declares a silent peer dead', () => {
  const h = handClock();
  const { closed } = conn(fakeLink(), h.clock);
  h.runAt(4100); // late: looks again
  assert.deepEqual(closed, []);
  h.runAt(4600); // late again: no second grace
  assert.deepEqual(closed, ['heartbeat timeout: nothing from peer for 3600 ms']);
});

test('conn — on-time heartbeat sweeps declare a silent peer dead past 1.1 × monitor_timeout', () => {
  const h = handClock();
  const { closed } = conn(fakeLink(), h.clock);
  // Every sweep on time (monitor_timeout / 40 apart).
  for (let t = 1025; t <= 2100; t += 25) h.runAt(t);
  assert.deepEqual(closed, []);
  h.runAt(2125);
  assert.deepEqual(closed, ['heartbeat timeout: nothing from peer for 1125 ms']);
});

test('rtc — mDNS .local host candidates (as browsers send) do not break a Node peer', async () => {
  const lines: string[] = [];
  const level = getLogLevel();
  setLogLevel(8);
  setLogSink((_l, ns, msg) => ns === 'rtc' && lines.push(msg));
  // a plays the browser: every candidate it offers names its host by a random .local name.
  const hide = (d: object): object => {
    const c = (d as { candidate?: { candidate?: string } }).candidate;
    if (!c?.candidate) return d;
    const f = c.candidate.split(' ');
    f[4] = `${randomUUID()}.local`;
    return { candidate: { ...c, candidate: f.join(' ') } };
  };
  const a = createNodeRtcLink({ initiator: true, signal: (d) => b.receiveSignal(hide(d)), timeoutMs: 5000 });
  const b = createNodeRtcLink({ initiator: false, signal: (d) => a.receiveSignal(d), timeoutMs: 5000 });
  try {
    await Promise.all([a.ready, b.ready]);
    const got = new Promise<Frame>((r) => b.link.setHandlers({ frame: r }));
    a.link.send('over a peer-reflexive pair');
    assert.equal(await got, 'over a peer-reflexive pair');
    assert.ok(lines.some((l) => l.includes('dropping mDNS candidate') && l.includes('.local')), 'the Node side dropped them');
  } finally {
    a.destroy('test over');
    b.destroy('test over');
    setLogSink(undefined);
    setLogLevel(level);
  }
});

test('rtc — isMdnsCandidate tells mDNS host names from addresses', () => {
  assert.equal(isMdnsCandidate('candidate:1 1 udp 2122260223 0f1c9a2e-2b4e-4d0b-9d0e-1a2b3c4d5e6f.local 54321 typ host'), true);
  assert.equal(isMdnsCandidate('a=candidate:1 1 udp 2122260223 host.LOCAL 54321 typ host'), true);
  assert.equal(isMdnsCandidate('candidate:1 1 udp 2122260223 192.168.1.7 54321 typ host'), false);
  assert.equal(isMdnsCandidate('candidate:1 1 udp 1686052607 203.0.113.5 6000 typ srflx raddr local. rport 0'), false);
  assert.equal(isMdnsCandidate('garbage'), false);
});

test('options — direct-link options parse yes/no and positive numbers, and refuse the rest', () => {
  const w = {};
  assert.deepEqual(directOptions({}, undefined), {});
  assert.deepEqual(directOptions({ direct: 'no', directIdleMs: 500, iceServers: [{ urls: 'stun:x' }] }, w), {
    wrtc: w, direct: false, directIdleMs: 500, iceServers: [{ urls: 'stun:x' }],
  });
  assert.deepEqual(directOptions({ direct: true, directDropCandidates: 'yes' }, undefined), { direct: true, directDropCandidates: true });
  assert.throws(() => directOptions({ direct: 'maybe' }, w), { code: 'AEMP_ERR_BAD_ARGUMENT' });
  assert.throws(() => directOptions({ directConnectTimeoutMs: -1 }, w), { code: 'AEMP_ERR_BAD_ARGUMENT' });
  assert.throws(() => directOptions({ iceServers: 'stun:x' }, w), { code: 'AEMP_ERR_BAD_ARGUMENT' });
  assert.equal(DIRECT_DEFAULTS.direct, true);
});

test('direct — with direct: false on one node the other one\'s offer is refused and messages stay on the relay', async () => {
  const lines: string[] = [];
  let refusedNow!: () => void;
  const refused = new Promise<void>((r) => (refusedNow = r));
  const level = getLogLevel();
  setLogLevel(7);
  setLogSink((_l, ns, msg) => {
    if (ns !== 'direct') return;
    lines.push(msg);
    if (msg.startsWith('no direct link with ub')) refusedNow();
  });
  const o = { secret: 'unit', monitor_timeout: 2000, connect_interval: 200 };
  const nodes: MpNode[] = [];
  try {
    const seed = await createNode({ nodeid: 'us', binds: ['127.0.0.1:0'], ...o });
    nodes.push(seed);
    const url = seed.net!.seedLink!.listening()[0]!;
    // ua < ub: ua offers, ub (direct off) refuses.
    const ua = await createNode({ nodeid: 'ua', seeds: [url], ...o });
    const ub = await createNode({ nodeid: 'ub', seeds: [url], direct: false, ...o });
    nodes.push(ua, ub);
    const echo = ub.port((...m: unknown[]) => ub.snd(m.pop() as string, 'echo', ...m));
    assert.deepEqual(await ua.call(echo, ['one'], { timeoutMs: 5000 }), ['echo', 'one']);
    await refused;
    assert.ok(lines.some((l) => l.includes('direct links are turned off on ub')), lines.join('\n'));
    assert.deepEqual(await ua.call(echo, ['two'], { timeoutMs: 5000 }), ['echo', 'two']);
    assert.equal(ua.linkInfo('ub')?.path, 'relay');
    assert.equal(ub.linkInfo('ua')?.path, 'relay');
    assert.equal(lines.filter((l) => l.startsWith('offering')).length, 1, 'asked once, not again soon');
  } finally {
    for (const n of nodes.reverse()) await n.shutdown();
    setLogSink(undefined);
    setLogLevel(level);
  }
});
