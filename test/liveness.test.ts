/**
 * Link liveness (lib/mesh/liveness.ts): one sweep timer for all links,
 * pings only on idle links and only from the side that accepted, any frame
 * counting as liveness. In-memory links and a ManualClock: exact counts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, type Clock } from '../lib/clock.ts';
import { memoryLinkPair } from '../lib/links/memory.ts';
import { Conn } from '../lib/mesh/conn.ts';
import { Liveness, livenessFor, type Live } from '../lib/mesh/liveness.ts';
import type { Packet } from '../lib/protocol/codec.ts';
import type { Frame } from '../lib/link.ts';
import type { LinkView } from '../lib/network.ts';

const MT = 1000;

/** An accepting conn (a, it pings) and its dialling, answering peer (b) over in-memory links; pings and pongs counted per side. */
function pair(clock: ManualClock, i = 0, mtA = MT, mtB = MT, latencyMs = 1) {
  const [la, lb] = memoryLinkPair({ clock, latencyMs });
  const closed: string[] = [];
  const seen = { a: [] as string[], b: [] as string[] };
  const mk = (link: typeof la, outbound: boolean, name: 'a' | 'b', mt = MT) =>
    new Conn({
      link, framing: 'msgpack', peer: `${name === 'a' ? 'b' : 'a'}${i}`, peerIsSeed: false, kind: 'secret', outbound, clock,
      monitorTimeoutMs: mt, maxBufferedBytes: 1 << 30, maxQueuedPackets: 1 << 20, maxMessageSize: 1 << 20,
      onPacket: (p: Packet) => seen[name].push(String(p[0])),
      onClose: (r) => closed.push(`${name}: ${r}`),
    });
  const a = mk(la, false, 'a', mtA);
  const b = mk(lb, true, 'b', mtB);
  // Count heartbeats on the wire: wrap each link's send.
  const wire = { a: [] as string[], b: [] as string[] };
  for (const [l, name] of [[la, 'a'], [lb, 'b']] as const) {
    const send = l.send.bind(l);
    l.send = (f) => {
      const bytes = f as Uint8Array;
      // [0x01 WHOLE][0x91 one packet][0x92 two elements][0xa1 'p' | 'P'] … : a lone heartbeat.
      if (bytes[1] === 0x91 && bytes[2] === 0x92 && bytes[3] === 0xa1 && (bytes[4] === 0x70 || bytes[4] === 0x50)) wire[name].push(String.fromCharCode(bytes[4]!));
      else wire[name].push('data');
      send(f);
    };
  }
  return { a, b, closed, seen, wire };
}

/**
 * As pair(), over links with a heartbeat of their own (Link.ping: a WebSocket ping frame, 1 ms each way,
 * answered by the far transport by itself). `aHearsPings` / `bHearsPings`: whether that side's transport tells
 * its conn of a heartbeat (Node's ws does; a browser's WebSocket answers pings but does not tell the page, nor
 * can it send one). `bSaysItHears`: what b's greeting claims, if not the truth (a page may say anything).
 */
function transportPair(clock: ManualClock, o: { aHearsPings: boolean; bHearsPings: boolean; bSaysItHears?: boolean }) {
  const [la, lb] = memoryLinkPair({ clock, latencyMs: 1 });
  const alive: { a?: () => void; b?: () => void } = {};
  const heartbeats = { a: 0, b: 0 };
  for (const [l, name, other, hears] of [[la, 'a', 'b', o.aHearsPings], [lb, 'b', 'a', o.bHearsPings]] as const) {
    const set = l.setHandlers.bind(l);
    l.setHandlers = (h) => {
      if (h.alive && hears) alive[name] = h.alive;
      set(h);
    };
    // The ping reaches the far side (which hears it, or not) and its transport's answer comes back.
    // A side that does not hear heartbeats cannot send them either (a browser's WebSocket has no ping()).
    if (hears) l.ping = () => {
      heartbeats[name]++;
      clock.setTimeout(() => {
        alive[other]?.();
        clock.setTimeout(() => alive[name]?.(), 1);
      }, 1);
    };
  }
  const closed: string[] = [];
  const wire = { a: [] as string[], b: [] as string[] };
  const mk = (link: typeof la, outbound: boolean, name: 'a' | 'b', peerHearsPings: boolean) =>
    new Conn({
      link, framing: 'msgpack', peer: name === 'a' ? 'b' : 'a', peerIsSeed: false, kind: 'secret', outbound, clock,
      monitorTimeoutMs: MT, maxBufferedBytes: 1 << 30, maxQueuedPackets: 1 << 20, maxMessageSize: 1 << 20,
      onPacket: () => {}, onClose: (r) => closed.push(`${name}: ${r}`), peerHearsPings,
    });
  for (const [l, name] of [[la, 'a'], [lb, 'b']] as const) {
    const send = l.send.bind(l);
    l.send = (f) => {
      const bytes = f as Uint8Array;
      wire[name].push(bytes[1] === 0x91 && bytes[2] === 0x92 && bytes[3] === 0xa1 ? String.fromCharCode(bytes[4]!) : 'data');
      send(f);
    };
  }
  // Each side says in its greeting whether it hears heartbeats; the other side gets that as peerHearsPings.
  const a = mk(la, false, 'a', o.bSaysItHears ?? o.bHearsPings);
  const b = mk(lb, true, 'b', o.aHearsPings);
  return { a, b, closed, wire, heartbeats };
}

/** Advance the clock in 1 ms steps (so 1 ms link latency and the sweep interleave as in real time), draining microtasks. */
async function run(clock: ManualClock, ms: number): Promise<void> {
  for (let i = 0; i < ms; i++) {
    clock.advance(1);
    await Promise.resolve();
    await Promise.resolve();
  }
}

test('liveness — an idle link is pinged by the side that accepted it only, and the dialling side answers', async () => {
  const clock = new ManualClock(0);
  const { a, b, closed, wire } = pair(clock);
  await run(clock, 5 * MT);
  // Let the last pong arrive.
  await run(clock, 5);
  assert.deepEqual(closed, []);
  assert.ok(a.isOpen && b.isOpen);
  // Pings after 0.8 × monitor_timeout of silence (+ one sweep period, monitor_timeout / 40, at most), each answered once:
  // 800–825 ms apart over 5,000 ms.
  const pings = wire.a.filter((x) => x === 'p').length;
  assert.equal(pings, 6, `${pings} pings in 5 monitor timeouts`);
  assert.deepEqual(wire.a, Array(pings).fill('p'));
  assert.deepEqual(wire.b, Array(pings).fill('P'));
  assert.equal(typeof a.rttMs, 'number');
  assert.equal(b.rttMs, undefined, 'the answering side never pings');
  a.close('done');
});

test('liveness — a ping\'s answer may take a quarter of monitor_timeout: the idle link stays up, one ping per period', async () => {
  const clock = new ManualClock(0);
  // 125 ms each way: the pong arrives 250 ms after the ping, 1,050–1,075 ms after the pinger last heard its peer
  // (it closes past 1,100).
  const { a, b, closed, wire } = pair(clock, 0, MT, MT, 125);
  await run(clock, 10 * MT);
  assert.deepEqual(closed, []);
  assert.ok(a.isOpen && b.isOpen);
  assert.deepEqual(wire.b.filter((x) => x === 'p'), [], 'the answering side never needed its fallback');
  assert.equal(a.rttMs, 250);
  a.close('done');
});

test('liveness — a link busy both ways carries no heartbeats at all', async () => {
  const clock = new ManualClock(0);
  const { a, b, closed, wire } = pair(clock);
  for (let t = 0; t < 5 * MT; t += 50) {
    a.send(['x', t]);
    b.send(['x', t]);
    await run(clock, 50);
  }
  assert.deepEqual(closed, []);
  assert.equal(wire.a.filter((x) => x !== 'data').length, 0);
  assert.equal(wire.b.filter((x) => x !== 'data').length, 0);
  a.close('done');
});

test('liveness — a link busy one way only is pinged from the accepting side, so neither side times out', async () => {
  const clock = new ManualClock(0);
  // b (answering side) sends all the time: a hears plenty, but b would hear nothing without a's pings.
  const { a, b, closed, wire } = pair(clock);
  for (let t = 0; t < 5 * MT; t += 50) {
    b.send(['x', t]);
    await run(clock, 50);
  }
  assert.deepEqual(closed, []);
  assert.ok(a.isOpen && b.isOpen);
  // Nothing sent by a for 0.8 × monitor_timeout: a ping, as on an idle link.
  const pings = wire.a.filter((x) => x === 'p').length;
  assert.equal(pings, 6, `${pings} pings`);
  a.close('done');
});

test('liveness — a peer that stops answering is declared dead after 1.1 × monitor_timeout, by both sides', async () => {
  const clock = new ManualClock(0);
  const { a, b, closed } = pair(clock);
  await run(clock, MT);
  // b's link stops delivering and sending (a hung process with its socket open).
  (b.link as unknown as { send: (f: unknown) => void }).send = () => {};
  (a.link as unknown as { send: (f: unknown) => void }).send = () => {};
  await run(clock, 2 * MT);
  // The first side to notice closes; the other hears of that close (or notices itself).
  assert.equal(closed.length, 2);
  // 1.1 × monitor_timeout, plus one sweep period (monitor_timeout / 40) at most.
  assert.match(closed[0]!, /^[ab]: heartbeat timeout: nothing from [ab]0 for 11(0\d|1\d|2[0-5]) ms$/);
  assert.ok(!a.isOpen && !b.isOpen);
});

test('liveness — one sweep timer serves every link of a clock, and stops when the last link closes', async () => {
  const clock = new ManualClock(0);
  const pairs = Array.from({ length: 50 }, (_, i) => pair(clock, i));
  // 100 conns, one timer (the links' own latency timers come and go with frames in flight).
  assert.equal(livenessFor(clock, MT).size, 100);
  assert.equal(clock.pending, 1);
  await run(clock, 2 * MT);
  for (const p of pairs) assert.deepEqual(p.closed, []);
  for (const p of pairs) {
    p.a.close('done');
    p.b.close('done');
  }
  assert.equal(livenessFor(clock, MT).size, 0);
  await run(clock, 10);
  assert.equal(clock.pending, 0);
});

test('liveness — the answering side pings as a fallback when its own monitor_timeout is shorter than the pinger\'s', async () => {
  const clock = new ManualClock(0);
  // a pings only after 2 s of idleness (monitor_timeout 4 s); b, answering, gives up after 1 s of silence.
  const { a, b, closed, wire } = pair(clock, 0, 4 * MT, MT);
  await run(clock, 5 * 4 * MT);
  assert.deepEqual(closed, []);
  assert.ok(a.isOpen && b.isOpen);
  const own = wire.b.filter((x) => x === 'p').length;
  assert.ok(own >= 20, `the short-timeout side pinged ${own} times on its own`);
  a.close('done');
});

test('liveness — where the peer hears the transport\'s heartbeats, the accepting side pings with them: no packet on the wire, both sides stay up, RTT measured', async () => {
  const clock = new ManualClock(0);
  const { a, b, closed, wire, heartbeats } = transportPair(clock, { aHearsPings: true, bHearsPings: true });
  await run(clock, 5 * MT);
  await run(clock, 5);
  assert.deepEqual(closed, []);
  assert.ok(a.isOpen && b.isOpen);
  // As many as the packet pings of the first test, one per 0.8–0.825 × monitor_timeout; none from b.
  assert.deepEqual(heartbeats, { a: 6, b: 0 });
  assert.deepEqual(wire, { a: [], b: [] });
  assert.equal(a.rttMs, 2);
  assert.equal(a.sentPackets, 6, 'a heartbeat counts as a packet sent');
  a.close('done');
});

test('liveness — a peer that pings with [\'p\'] itself did not hear our heartbeats: the accepting side pings with packets from then on, and nobody times out', async () => {
  const clock = new ManualClock(0);
  // b said it hears heartbeats, but it is a browser: its WebSocket answers them without telling it. a hears the
  // answers; b hears nothing until its own fallback ping at 0.95 × monitor_timeout, which a answers.
  const { a, b, closed, wire, heartbeats } = transportPair(clock, { aHearsPings: true, bHearsPings: false, bSaysItHears: true });
  await run(clock, 5 * MT);
  await run(clock, 5);
  assert.deepEqual(closed, []);
  assert.ok(a.isOpen && b.isOpen);
  assert.equal(heartbeats.b, 0, 'b was never told a hears them: its fallback ping is a packet');
  assert.equal(heartbeats.a, 1, 'one heartbeat, before b\'s packet ping');
  assert.deepEqual(wire.b.filter((x) => x === 'p'), ['p'], 'b pinged once, as a fallback');
  assert.deepEqual(wire.a, ['P', 'p', 'p', 'p', 'p', 'p'], 'a answered, then pinged with packets');
  a.close('done');
});

test('liveness — over a real seed: the seed pings every node; a node that only answers stays linked, a silent one is closed at 1.1 × monitor_timeout', async () => {
  const { createNode } = await import('../node/index.ts');
  const { rawNode } = await import('./fixtures/raw-client.ts');
  const seed = await createNode({ nodeid: 'live-seed', binds: ['127.0.0.1:0'], secret: 's', monitor_timeout: 1000 });
  try {
    const url = seed.net!.seedLink!.listening()[0]!;
    // Never pings on its own (like a tab whose timers are throttled), only answers.
    const answerer = await rawNode(url, { nodeId: 'answerer', secret: 's', pingEveryMs: 0 });
    // Taken before the handshake: the seed heard the silent node last after this.
    const t0 = Date.now();
    const silent = await rawNode(url, { nodeId: 'silent', secret: 's', pong: false });
    const why = await silent.closed;
    assert.match(why, /heartbeat timeout: nothing from silent for \d+ ms/);
    assert.ok(Date.now() - t0 >= 1100, 'closed before 1.1 × monitor_timeout');
    // The seed's pings kept coming and were answered: past 1.5 × monitor_timeout, still linked.
    const pings = () => answerer.packets.filter((p) => p[0] === 'p').length;
    await answerer.waitFrame(() => pings() >= 4, 10_000);
    assert.equal(answerer.isClosed(), false);
    assert.ok(silent.packets.filter((p) => p[0] === 'p').length >= 1, 'the seed pinged the silent node too');
    answerer.link.close('done');
  } finally {
    await seed.shutdown();
  }
});

test('liveness — over real WebSockets between Node nodes: the seed keeps an idle link up with ping frames, no packets, and measures the RTT by them', async () => {
  const { createNode } = await import('../node/index.ts');
  const { viewOf } = await import('../lib/mesh/mesh-view.ts');
  const seed = await createNode({ nodeid: 'hb-seed', binds: ['127.0.0.1:0'], secret: 's', monitor_timeout: 400 });
  try {
    const url = seed.net!.seedLink!.listening()[0]!;
    const view = viewOf(seed.net)!;
    const up = new Promise<LinkView>((resolve) => view.monLinks((l, isUp) => isUp && l.node === 'hb-node' && resolve(l)));
    const node = await createNode({ nodeid: 'hb-node', seeds: [url], secret: 's', monitor_timeout: 400 });
    const downs: string[] = [];
    viewOf(node.net)!.monLinks((l, isUp) => isUp || downs.push(l.node));
    const link = (await up).transport;
    // Count what the seed sends the idle node from now on: heartbeats, and ['p', t] packets.
    let heartbeats = 0;
    let fourth!: () => void;
    const four = new Promise<void>((r) => (fourth = r));
    const ping = link.ping!.bind(link);
    link.ping = () => {
      ping();
      if (++heartbeats === 4) fourth();
    };
    const packetPings: Frame[] = [];
    const send = link.send.bind(link);
    link.send = (f) => {
      const b = f as Uint8Array;
      if (b[1] === 0x91 && b[2] === 0x92 && b[3] === 0xa1 && b[4] === 0x70) packetPings.push(f);
      send(f);
    };
    await four; // 4 × 0.8 × monitor_timeout: well past the 1.1 × monitor_timeout a silent link lasts
    assert.deepEqual(packetPings, []);
    assert.deepEqual(downs, []);
    assert.equal(view.link('hb-node')?.transport, link, 'the same link all along');
    assert.equal(typeof seed.net!.linkInfo('hb-node')?.rttMs, 'number');
    await node.shutdown();
  } finally {
    await seed.shutdown();
  }
});

test('liveness — a sweep that runs late (this process stalled) allows the stall as extra silence, used up as the process runs again', () => {
  // A clock whose timers fire only when the test says, at whatever time it says: a stalled process.
  let now = 0;
  let pending: (() => void) | undefined;
  const clock = {
    now: () => now,
    setTimeout: (fn: () => void) => ((pending = fn), 1),
    clearTimeout: () => (pending = undefined),
  };
  const fire = (at: number) => {
    now = at;
    const fn = pending!;
    pending = undefined;
    fn();
  };
  const deaths: string[] = [];
  const live = new Liveness(clock as unknown as Clock, MT);
  // As a Conn does: a dead link closes, and leaves the sweep.
  const link = (name: string): Live => {
    const l: Live = { lastRx: 0, lastTx: 0, lastPing: 0, pinger: false, ping() {}, dead: (ms: number) => (deaths.push(`${name} ${ms}`), live.delete(l)) };
    return l;
  };
  const quiet = link('quiet');
  const talker = link('talker');
  live.add(quiet);
  live.add(talker);
  // The first sweep was due at 25 ms and runs at 3,000: stopped for 2,975 ms, allowed up to 2 × monitor_timeout
  // of it, so 3,000 ms of silence (past 1.1 × monitor_timeout) closes nothing yet.
  fire(3000);
  assert.deepEqual(deaths, []);
  // What the talker sent during the stall is read now; the quiet link really sent nothing.
  (talker as { lastRx: number }).lastRx = 3010;
  // Running again, sweeps on time use the allowance up (25 ms each): the quiet link goes once its
  // silence passes 1,100 ms + what is left (at 3,075: 3,075 > 1,100 + 1,925).
  for (const t of [3025, 3050, 3075, 3100]) fire(t);
  assert.deepEqual(deaths, ['quiet 3075']);
  live.delete(talker);
});
