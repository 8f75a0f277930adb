/**
 * Relay runs (docs/protocol.md "Relaying bytes"): consecutive messages of
 * one session to one relayed node leave as one ['R', dst, sid, seq0, port,
 * msg, …] packet; the seed forwards a secret holder's run as its bytes
 * ('G' to a node, 'Q' to another seed) and counts it as its messages
 * (relay quota, relayed count); a page's run is screened message by
 * message. Codec checks on literal bytes, then real WebSocket seeds in
 * this process.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FrameDecoder, FrameEncoder } from '../lib/protocol/codec.ts';
import { RawTail } from '../lib/protocol/raw-tail.ts';
import { RELAY_CODEC } from '../lib/protocol/raw-tail-expand.ts';
import { RelayQuota } from '../lib/mesh/quota.ts';
import { RELAY_RUNS } from '../lib/mesh/relay-runs.ts';
import { ManualClock } from '../lib/clock.ts';
import { setLogSink } from '../lib/log.ts';
import { viewOf } from '../lib/mesh/mesh-view.ts';
import { createToken } from '../lib/protocol/token.ts';
import type { MpNode } from '../lib/node.ts';

const str = (s: string): number[] => [0xa0 | s.length, ...[...s].map((c) => c.charCodeAt(0))];
const MAX = 1024 * 1024;

test('relay runs — a relaying decoder keeps an R packet\'s pairs as bytes; G and Q written from them carry them unchanged', () => {
  // ['R', 'nb', 7, 300, 'p', ['x'], 'q', 5]: two pairs.
  const PAIRS = [...str('p'), 0x91, ...str('x'), ...str('q'), 0x05];
  const bytes = [0x01, 0x91, 0x98, ...str('R'), ...str('nb'), 0x07, 0xcd, 0x01, 0x2c, ...PAIRS];
  const [p] = new FrameDecoder({ framing: 'msgpack', maxFrameSize: MAX, relay: RELAY_CODEC }).decode(new Uint8Array(bytes));
  assert.deepEqual(p!.slice(0, 4), ['R', 'nb', 7, 300]);
  const t = p![4] as RawTail;
  assert.ok(t instanceof RawTail);
  assert.equal(t.count, 4);
  assert.deepEqual([...t.bytes], PAIRS);
  const enc = new FrameEncoder({ framing: 'msgpack', maxFrameSize: MAX, relay: RELAY_CODEC });
  const [g] = enc.encode([['G', 'na', 7, 300, t]]);
  assert.deepEqual([...(g as Uint8Array)], [0x01, 0x91, 0x98, ...str('G'), ...str('na'), 0x07, 0xcd, 0x01, 0x2c, ...PAIRS]);
  assert.deepEqual(new FrameDecoder({ framing: 'msgpack', maxFrameSize: MAX }).decode(g!), [['G', 'na', 7, 300, 'p', ['x'], 'q', 5]]);
  const [q] = enc.encode([['Q', 'na', 'nb', 7, 300, t]]);
  assert.deepEqual([...(q as Uint8Array)], [0x01, 0x91, 0x99, ...str('Q'), ...str('na'), ...str('nb'), 0x07, 0xcd, 0x01, 0x2c, ...PAIRS]);
  const [back] = new FrameDecoder({ framing: 'msgpack', maxFrameSize: MAX, relay: RELAY_CODEC }).decode(q!);
  assert.deepEqual(back!.slice(0, 5), ['Q', 'na', 'nb', 7, 300]);
  assert.deepEqual([...(back![5] as RawTail).bytes], PAIRS);
  // Too short to hold a pair: decoded as values (the seed refuses it as a malformed run).
  const empty = [0x01, 0x91, 0x94, ...str('R'), ...str('nb'), 0x07, 0x00];
  assert.deepEqual(new FrameDecoder({ framing: 'msgpack', maxFrameSize: MAX, relay: RELAY_CODEC }).decode(new Uint8Array(empty)), [['R', 'nb', 7, 0]]);
});

test('relay runs — a run over the batch limits is split as it is encoded, the second part numbered on from the first', () => {
  const pairs: unknown[] = [];
  for (let i = 0; i < 10; i++) pairs.push('p', ['s', i, 'y'.repeat(100)]);
  // maxMessageSize 300: at most two of these pairs (~110 bytes each) per packet; 10 → 5 + 5 → (2 + (1 + 2)) twice.
  // A Node process's seed link encodes with RELAY_RUNS.codec (node/roles.ts injects it); a page sends no runs.
  const enc = new FrameEncoder({ framing: 'msgpack', maxFrameSize: MAX, maxMessageSize: 300, relay: RELAY_RUNS.codec });
  const dec = new FrameDecoder({ framing: 'msgpack', maxFrameSize: MAX, maxMessageSize: 300 });
  const frames = enc.encode([['R', 'nb', 3, 50, ...pairs]]);
  const packets = frames.flatMap((f) => dec.decode(f));
  assert.deepEqual(packets.map((p) => (p.length - 4) / 2), [2, 1, 2, 2, 1, 2]);
  let seq = 50;
  const got: unknown[] = [];
  for (const p of packets) {
    assert.deepEqual(p.slice(0, 3), ['R', 'nb', 3]);
    assert.equal(p[3], seq);
    assert.equal((p.length - 4) % 2, 0);
    seq += (p.length - 4) / 2;
    got.push(...p.slice(4));
  }
  assert.deepEqual(got, pairs);
  // A single message over the limit is refused as before; so is a run without that codec.
  assert.throws(() => enc.encode([['R', 'nb', 3, 50, 'p', ['s', 'y'.repeat(700)]]]), { code: 'AEMP_ERR_FRAME_TOO_LARGE' });
  const plain = new FrameEncoder({ framing: 'msgpack', maxFrameSize: MAX, maxMessageSize: 300 });
  assert.throws(() => plain.encode([['R', 'nb', 3, 50, ...pairs]]), { code: 'AEMP_ERR_FRAME_TOO_LARGE' });
});

test('relay runs — the relay quota counts a run as its messages: a run as large as the bucket passes when it is full, the next waits until the debt is paid', () => {
  const clock = new ManualClock();
  const q = new RelayQuota(clock);
  q.configure({ messagesPerSec: 1000, bytesPerSec: 0 });
  assert.equal(q.take(600), true);
  assert.equal(q.take(600), false, '400 left');
  assert.equal(q.take(400), true);
  // A run larger than the bucket: passes on a full bucket, and leaves it 4,000 in debt.
  clock.advance(1000);
  assert.equal(q.take(5000), true);
  clock.advance(3999);
  assert.equal(q.take(1), false);
  clock.advance(2);
  assert.equal(q.take(1), true);
});

describe('relay runs over real WebSocket seeds', () => {
  process.env.AEMP_RC = join(mkdtempSync(join(tmpdir(), 'aemp-relay-runs-')), 'rc.json');
  const SECRET = 'relay-runs-secret';
  const base = { secret: SECRET, monitor_timeout: 2000, connect_interval: 200, direct: false };
  const nodes: MpNode[] = [];
  const logs: string[] = [];
  let createNode: (typeof import('../node/index.ts'))['createNode'];
  let seed: MpNode, seed2: MpNode, a: MpNode, b: MpNode, c: MpNode, d: MpNode;
  const make = async (o: Record<string, unknown>) => {
    const n = await createNode(o as never);
    nodes.push(n);
    return n;
  };
  const relayed = (n: MpNode) => viewOf(n.net)!.seed()!.relayed;
  const sentPackets = (n: MpNode) => viewOf(n.net)!.sentPackets();

  /** A port on `n` that records ['s', i] and resolves once `count` arrived. */
  const sink = (n: MpNode, count: number) => {
    const got: unknown[] = [];
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    const port = n.port((...m: unknown[]) => {
      got.push(m[1]);
      if (got.length === count) done();
    });
    return { port, got, all };
  };

  before(async () => {
    ({ createNode } = await import('../node/index.ts'));
    setLogSink((level, ns, msg) => logs.push(`${level} ${ns} ${msg}`));
    seed = await make({ ...base, nodeid: 'rr_seed', binds: ['127.0.0.1:0'], auth_accept: ['hmac_sha256', 'token'] });
    const url = seed.net!.seedLink!.listening()[0]!;
    seed2 = await make({ ...base, nodeid: 'rr_seed2', binds: ['127.0.0.1:0'], seeds: [url] });
    const url2 = seed2.net!.seedLink!.listening()[0]!;
    [a, b, c] = await Promise.all(['rr_a', 'rr_b', 'rr_c'].map((id) => make({ ...base, nodeid: id, seeds: [url] })));
    d = await make({ ...base, nodeid: 'rr_d', seeds: [url2] });
  });

  after(async () => {
    for (const n of nodes.reverse()) await n.shutdown();
    setLogSink(undefined);
  });

  test('relay runs — 10,000 messages to one node interleaved with messages to another leave as 20 packets, arrive once and in order, the monitor stays quiet', async () => {
    const N = 10_000;
    const toB = sink(b, N);
    const toC = sink(c, 10);
    const fired: unknown[] = [];
    const r0 = relayed(seed);
    a.mon(toB.port, (...r: unknown[]) => fired.push(r));
    a.mon(toC.port, (...r: unknown[]) => fired.push(r));
    await Promise.resolve(); // the monitor requests leave first
    const p0 = sentPackets(a);
    for (let i = 0; i < N; i++) {
      a.snd(toB.port, 's', i);
      if (i % 1000 === 999) a.snd(toC.port, 's', (i + 1) / 1000 - 1);
    }
    await Promise.resolve(); // the autocork flush (queued by the first send) has run
    assert.equal(sentPackets(a) - p0, 20, '10 runs of 1,000 to rr_b and 10 runs of one to rr_c');
    await Promise.all([toB.all, toC.all]);
    assert.deepEqual(toB.got, Array.from({ length: N }, (_, i) => i));
    assert.deepEqual(toC.got, Array.from({ length: 10 }, (_, i) => i));
    assert.equal(relayed(seed) - r0, N + 10 + 2, 'the seed counts messages (and the two monitor requests), not packets');
    // A message after the runs, round trip: any nack or down for the runs would have come before it.
    const okPort = a.port();
    const okIn = new Promise<void>((r) => a.rcv(okPort, 'ok', () => r()));
    const echo = b.port((...m: unknown[]) => b.snd(m[1] as string, 'ok'));
    a.snd(echo, 'ping', okPort);
    await okIn;
    assert.deepEqual(fired, []);
  });

  test('relay runs — over json framing: a run to a json node arrives as values, a json node\'s run is relayed message by message, both in order', async () => {
    const url = seed.net!.seedLink!.listening()[0]!;
    const j = await make({ ...base, nodeid: 'rr_json', seeds: [url], framing_format: 'json' });
    const N = 3000;
    const toJ = sink(j, N);
    const toA = sink(a, N);
    const fired: unknown[] = [];
    a.mon(toJ.port, (...r: unknown[]) => fired.push(r));
    j.mon(toA.port, (...r: unknown[]) => fired.push(r));
    const r0 = relayed(seed);
    for (let i = 0; i < N; i++) {
      a.snd(toJ.port, 's', i);
      j.snd(toA.port, 's', i);
    }
    await Promise.all([toJ.all, toA.all]);
    const inOrder = Array.from({ length: N }, (_, i) => i);
    assert.deepEqual(toJ.got, inOrder);
    assert.deepEqual(toA.got, inOrder);
    assert.equal(relayed(seed) - r0, 2 * N + 2);
    assert.deepEqual(fired, []);
  });

  test('relay runs — a run between seeds (Q) arrives once and in order; both seeds count its messages', async () => {
    const first = sink(d, 1);
    // The first message finds rr_d in the seeds' directory (gossip may still be on its way: retried until it arrives, at most 50 times).
    for (let i = 0; i < 50 && first.got.length === 0; i++) {
      const fire = new Promise<void>((r) => a.mon(first.port, () => r()));
      a.snd(first.port, 's', 'hello');
      await Promise.race([first.all, fire]);
    }
    assert.deepEqual(first.got, ['hello']);
    const N = 5000;
    const toD = sink(d, N);
    const fired: unknown[] = [];
    a.mon(toD.port, (...r: unknown[]) => fired.push(r));
    const [r1, r2] = [relayed(seed), relayed(seed2)];
    for (let i = 0; i < N; i++) a.snd(toD.port, 's', i);
    await toD.all;
    assert.deepEqual(toD.got, Array.from({ length: N }, (_, i) => i));
    assert.equal(relayed(seed) - r1, N + 1, 'seed 1: the monitor request and the run');
    assert.equal(relayed(seed2) - r2, N + 1);
    assert.deepEqual(fired, []);
    assert.ok(!logs.some((l) => /bad packet/.test(l)), logs.filter((l) => /bad packet/.test(l)).join('\n'));
  });

  test('relay runs — a token page\'s run is screened message by message: the kil inside it is refused, the rest delivered in order', async () => {
    const url = seed.net!.seedLink!.listening()[0]!;
    const token = await createToken(globalThis.crypto.subtle, SECRET, { node: 'web/*', ttlSec: 600, nowMs: Date.now(), caps: [] });
    const page = await make({ nodeid: 'web/rr_page', seeds: [url], token, monitor_timeout: 2000, connect_interval: 200, direct: false });
    const toB = sink(b, 10);
    const victim = b.port(() => {});
    const killed: unknown[] = [];
    b.mon(victim, (...r: unknown[]) => killed.push(r));
    const fired: unknown[] = [];
    page.mon(toB.port, (...r: unknown[]) => fired.push(r));
    await Promise.resolve();
    const l0 = logs.length;
    const p0 = sentPackets(page);
    for (let i = 0; i < 5; i++) page.snd(toB.port, 's', i);
    page.kil(victim, 'die');
    for (let i = 5; i < 10; i++) page.snd(toB.port, 's', i);
    await Promise.resolve();
    assert.equal(sentPackets(page) - p0, 1, 'one run of 11 messages (a token node in a Node process sends runs; a browser page does not)');
    await toB.all;
    assert.deepEqual(toB.got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(killed, [], 'the victim port lives (the kil, before message 5, was refused)');
    assert.deepEqual(fired, []);
    const seedLine = logs.slice(l0).find((l) => /not relaying kil from web\/rr_page to rr_b/.test(l));
    assert.ok(seedLine, 'the seed logs the refusal');
  });

  test('relay runs — a run over the relay quota is lost whole: one nack, the monitor fires with AEMP_ERR_QUOTA, and later messages start a new session', async () => {
    const q = await make({ ...base, nodeid: 'rr_qseed', binds: ['127.0.0.1:0'], relay_msgs_per_sec: 1000 });
    const qurl = q.net!.seedLink!.listening()[0]!;
    const [e, f] = await Promise.all(['rr_e', 'rr_f'].map((id) => make({ ...base, nodeid: id, seeds: [qurl] })));
    const toF = sink(f, 500);
    const fired: unknown[][] = [];
    let onFire!: () => void;
    const firedOnce = new Promise<void>((r) => (onFire = r));
    e.mon(toF.port, (...r: unknown[]) => (fired.push(r), onFire()));
    // 1. 500 messages (and the monitor request) as one run: within the bucket of 1,000.
    for (let i = 0; i < 500; i++) e.snd(toF.port, 's', i);
    await toF.all;
    // 2. The next run, 900 messages, finds about 500 in the bucket (400 more take 0.4 s to refill): dropped whole.
    for (let i = 500; i < 1400; i++) e.snd(toF.port, 's', i);
    await firedOnce;
    assert.equal(fired.length, 1);
    assert.equal(fired[0]![0], 'transport_error');
    assert.match(String(fired[0]![1]), /^AEMP_ERR_QUOTA: node rr_e is over its relay quota at seed rr_qseed \(1000 messages\/s, unlimited bytes\/s\); messages to rr_f dropped/);
    assert.equal(toF.got.length, 500);
    assert.deepEqual(toF.got, Array.from({ length: 500 }, (_, i) => i));
    // 3. A later message starts a new session, which rr_f takes (the old one would show a gap): retried while the bucket
    //    refills, each attempt watched by a monitor of its own (at most 50).
    const late = sink(f, 1);
    for (let k = 0; k < 50 && late.got.length === 0; k++) {
      const fire = new Promise<void>((r) => e.mon(late.port, () => r()));
      e.snd(late.port, 's', `late ${k}`);
      await Promise.race([late.all, fire]);
    }
    assert.equal(late.got.length, 1);
    assert.match(String(late.got[0]), /^late \d+$/);
    assert.equal(toF.got.length, 500, 'nothing of the dropped run arrived');
  });
});
