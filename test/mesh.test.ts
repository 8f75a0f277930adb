/**
 * The mesh with several nodes in this one process, over real WebSockets on
 * 127.0.0.1: routing through a seed, node status, and the handshake's
 * refusals (wrong secret, duplicate node ID, replayed nonce) and forged
 * senders, attacked with hand-driven raw clients (fixtures/raw-client.ts).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNode, setLogLevel, setLogSink, ManualClock, type MpNode } from '../node/index.ts';
import { getLogLevel } from '../lib/log.ts';
import type { Packet } from '../lib/protocol/codec.ts';
import { rawConnect, rawNode } from './fixtures/raw-client.ts';
import { checkStream } from './fixtures/stream-check.ts';
import { viewOf } from '../lib/mesh/mesh-view.ts';

// configure() reads the profile database (at createNode time): never the user's.
const rcDir = mkdtempSync(join(tmpdir(), 'aemp-mesh-'));
process.env.AEMP_RC = join(rcDir, 'rc.json');

const SECRET = 'mesh-test-secret';
const MT = 1000;

// Every log line of this process, so tests can check what each end said.
const lines: Array<{ level: number; ns: string; msg: string }> = [];
const logWaiters = new Set<() => void>();
const savedLevel = getLogLevel();
setLogLevel(7);
setLogSink((level, ns, msg) => {
  if (lines.length < 100_000) lines.push({ level, ns, msg });
  for (const w of [...logWaiters]) w();
});

/** The first log line after `since` matching pred, waiting up to timeoutMs. */
function waitLog(pred: (l: { level: number; ns: string; msg: string }) => boolean, since = 0, timeoutMs = 5000): Promise<string> {
  const find = () => lines.slice(since).find(pred);
  const hit = find();
  if (hit) return Promise.resolve(`[${hit.ns}] ${hit.msg}`);
  return new Promise((resolve, reject) => {
    const w = () => {
      const h = find();
      if (h) {
        logWaiters.delete(w);
        clearTimeout(t);
        resolve(`[${h.ns}] ${h.msg}`);
      }
    };
    const t = setTimeout(() => {
      logWaiters.delete(w);
      reject(new Error(`no matching log line within ${timeoutMs} ms; last lines:\n${lines.slice(-10).map((l) => `[${l.ns}] ${l.msg}`).join('\n')}`));
    }, timeoutMs);
    logWaiters.add(w);
  });
}

const seedUrl = (n: MpNode): string => n.net!.seedLink!.listening()[0]!;
// This file tests the WebSocket mesh; direct WebRTC links have test/rtc-*.test.ts.
const opts = { secret: SECRET, monitor_timeout: MT, connect_interval: 200, direct: false };

/** A promise with its resolver, for callbacks. */
function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** An echo port: replies to ['x', ..., replyPort] with ['echo', node, 'x', ...]. */
function echo(n: MpNode): string {
  return n.port((...m: unknown[]) => {
    const reply = m.pop() as string;
    n.snd(reply, 'echo', n.NODE, ...m);
  });
}

/**
 * Start a node the seed is going to refuse. Its clock is manual, so it
 * neither redials nor gives up waiting for its first seed link until the
 * test advances it: `resolved()` tells whether createNode returned by itself
 * (it must not: the node never linked).
 */
function startRefused(o: Record<string, unknown>): { clock: ManualClock; ready: Promise<MpNode>; resolved: () => boolean } {
  const clock = new ManualClock(Date.now());
  let resolved = false;
  const ready = mk({ ...o, clock }).then((n) => ((resolved = true), n));
  return { clock, ready, resolved: () => resolved };
}

const nodes: MpNode[] = [];
async function mk(o: Record<string, unknown>): Promise<MpNode> {
  const n = await createNode({ ...opts, ...o });
  nodes.push(n);
  return n;
}

after(async () => {
  for (const n of nodes.reverse()) await n.shutdown();
  setLogSink(undefined);
  setLogLevel(savedLevel);
  rmSync(rcDir, { recursive: true, force: true });
});

describe('a seed and nodes in one process', () => {
  let seed: MpNode, a: MpNode, b: MpNode, url: string;

  before(async () => {
    seed = await mk({ nodeid: 'mseed', binds: ['127.0.0.1:0'] });
    url = seedUrl(seed);
    [a, b] = await Promise.all([mk({ nodeid: 'ma', seeds: [url] }), mk({ nodeid: 'mb', seeds: [url] })]);
  });

  test('mesh — nodes talk through a seed: plain values, bytes and a 3 MB message arrive intact and in order', async () => {
    const got: unknown[][] = [];
    const done = deferred();
    const p = b.port((...m: unknown[]) => {
      got.push(m);
      if (m[0] === 'end') done.resolve();
    });
    const big = new Uint8Array(3 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4099) big[i] = i & 0xff;
    a.snd(p, 'v', 1, 'two', [3, { four: 4 }], null, true, new Uint8Array([5, 6]));
    a.snd(p, 'big', big);
    a.snd(p, 'end');
    await done.promise;
    assert.deepEqual(got[0], ['v', 1, 'two', [3, { four: 4 }], null, true, new Uint8Array([5, 6])]);
    assert.equal(got[1]![0], 'big');
    assert.ok(got[1]![1] instanceof Uint8Array);
    assert.deepEqual(got[1]![1], big);
    assert.deepEqual(got[2], ['end']);
    assert.equal(got.length, 3);
    assert.equal(a.linkInfo('mb')?.path, 'relay');
    assert.equal(a.linkInfo('mseed')?.path, 'seed');
    assert.equal(a.linkInfo('ma')?.path, 'self');
  });

  test('mesh — call from a node to a port on the seed and to a relayed node', async () => {
    assert.deepEqual(await a.call(echo(seed), ['x'], { timeoutMs: 5000 }), ['echo', 'mseed', 'x']);
    assert.deepEqual(await a.call(echo(b), ['y', 2], { timeoutMs: 5000 }), ['echo', 'mb', 'y', 2]);
    assert.deepEqual(await seed.call(echo(b), ['z'], { timeoutMs: 5000 }), ['echo', 'mb', 'z']);
  });

  test('mesh — monNodes, nodeIsUp, upNodes and knownNodes follow a node that joins and shuts down', async () => {
    const seen: Array<[string, boolean, unknown]> = [];
    const down = deferred();
    const g = a.monNodes((node, up, ...reason) => {
      seen.push([node, up, reason[0]]);
      if (node === 'mc' && !up) down.resolve();
    });
    const c = await mk({ nodeid: 'mc', seeds: [url] });
    assert.equal(a.nodeIsUp('mc'), undefined, 'not known before any traffic');
    assert.deepEqual(await a.call(echo(c), ['hi'], { timeoutMs: 5000 }), ['echo', 'mc', 'hi']);
    assert.equal(a.nodeIsUp('mc'), true);
    assert.ok(a.upNodes().includes('mc'));
    await c.shutdown();
    await down.promise;
    g();
    assert.equal(a.nodeIsUp('mc'), false);
    assert.ok(!a.upNodes().includes('mc'));
    assert.ok(a.knownNodes().includes('mc'));
    assert.deepEqual(
      seen.filter(([n]) => n === 'mc'),
      [
        ['mc', true, undefined],
        ['mc', false, 'transport_error'],
      ],
    );
  });

  test('mesh — framing_format json: a node and a seed that both prefer json carry bytes and nested values', async () => {
    const js = await mk({ nodeid: 'jseed', binds: ['127.0.0.1:0'], framing_format: 'json' });
    const jn = await mk({ nodeid: 'jnode', seeds: [seedUrl(js)], framing_format: 'json' });
    assert.equal(viewOf(jn.net)!.link('jseed')?.framing, 'json');
    const got = deferred<unknown[]>();
    const p = js.port((...m: unknown[]) => got.resolve(m));
    jn.snd(p, 'j', new Uint8Array([1, 2, 255]), { $b: 'not bytes' }, [[1], 'é'], -0.5);
    assert.deepEqual(await got.promise, ['j', new Uint8Array([1, 2, 255]), { $b: 'not bytes' }, [[1], 'é'], -0.5]);
  });

  test('mesh — monitoring, calling or spawning on a node no seed knows fires transport_error at once', async () => {
    const t0 = Date.now();
    const r1 = await new Promise<unknown[]>((r) => a.mon('ghost#x', (...x: unknown[]) => r(x)));
    assert.deepEqual(r1, ['transport_error', 'node ghost is not known to seed mseed']);
    const spawned = a.spawn('ghost2', 'echo');
    const r2 = await new Promise<unknown[]>((r) => a.mon(spawned, (...x: unknown[]) => r(x)));
    assert.equal(r2[0], 'transport_error');
    await assert.rejects(a.call('ghost3#y', ['x'], { timeoutMs: 5000 }), (e: { code?: string; reason?: unknown[] }) => {
      assert.equal(e.code, 'AEMP_ERR_PORT_DIED');
      assert.equal(e.reason?.[0], 'transport_error');
      return true;
    });
    const r4 = await new Promise<unknown[]>((r) => seed.mon('ghost4#x', (...x: unknown[]) => r(x)));
    assert.equal(r4[0], 'transport_error');
    assert.ok(Date.now() - t0 < 5000);
    assert.notEqual(a.nodeIsUp('ghost'), true);
  });

  test('auth — a node with the wrong secret is refused; both ends log why with a code, and the node does not come up', async () => {
    const since = lines.length;
    const start = startRefused({ nodeid: 'wrongsecret', seeds: [url], secret: 'not-the-secret' });
    const seedSide = await waitLog((l) => l.ns === 'seed' && l.msg.includes('AEMP_ERR_AUTH'), since);
    assert.match(seedSide, /refused an incoming link: AEMP_ERR_AUTH/);
    const nodeSide = await waitLog((l) => l.ns === 'mesh' && l.msg.startsWith('cannot link to seed'), since);
    assert.match(nodeSide, /AEMP_ERR_AUTH/, `the refused node's log line carries the code: ${nodeSide}`);
    assert.equal(start.resolved(), false, 'createNode returned as if linked');
    start.clock.advance(10_000); // createNode stops waiting for a seed
    const bad = await start.ready;
    assert.equal(bad.linkInfo('mseed'), undefined);
    assert.notEqual(bad.nodeIsUp('mseed'), true);
    assert.deepEqual(bad.upNodes(), []);
    assert.ok(!seed.upNodes().includes('wrongsecret'));
    await bad.shutdown();
  });

  test('auth — a forged source in a relay request is replaced by the sender\'s authenticated node ID', async () => {
    const evil = await rawNode(url, { nodeId: 'evil', secret: SECRET });
    const seen: Array<[string, unknown[], string | undefined]> = [];
    const got = deferred();
    const p = b.port(() => got.resolve());
    b.kernel.tracer = (ev, port, msg, from) => {
      if (ev === 'RCV' && port === p) seen.push([port, msg, from]);
    };
    try {
      // ['r', dst, sid, seq, port, msg]: the seed relays it as ['f', <link's peer>, ...].
      evil.send([['r', 'mb', 77, 0, p, ['i am ma']]]);
      await got.promise;
    } finally {
      b.kernel.tracer = undefined;
    }
    assert.deepEqual(seen, [[p, ['i am ma'], 'evil']]);
    evil.link.close();
  });

  test('mesh — a run of messages on a seed link travels as compact n packets, numbered on from the last m, both ways', { timeout: 20_000 }, async () => {
    const got: unknown[][] = [];
    const three = deferred();
    let from: string | undefined;
    const p = seed.port((...m: unknown[]) => {
      got.push(m);
      if (m[0] === 'hello') from = m[1] as string;
      if (got.length === 3) three.resolve();
    });
    const raw = await rawNode(url, { nodeId: 'compact1', secret: SECRET });
    raw.send([['m', 77, 0, p, ['hello', 'compact1#x']], ['n', p, ['two']], ['n', p, ['three']]]);
    await three.promise;
    assert.deepEqual(got, [['hello', 'compact1#x'], ['two'], ['three']]);
    assert.equal(from, 'compact1#x');
    // The seed's own run to the raw node: the first explicit, the rest compact.
    for (const m of ['a', 'b', 'c']) seed.snd(from!, m);
    await raw.waitFrame(() => raw.packets.filter((q) => q[0] === 'm' || q[0] === 'n').length === 3);
    const msgs = raw.packets.filter((q) => q[0] === 'm' || q[0] === 'n');
    assert.equal(msgs[0]![0], 'm');
    assert.deepEqual(msgs[0]!.slice(2), [0, 'compact1#x', ['a']]);
    assert.deepEqual(msgs.slice(1), [['n', 'compact1#x', ['b']], ['n', 'compact1#x', ['c']]]);
    raw.link.close();
    // An 'n' with no 'm' before it on its link has nothing to number from: the link closes.
    const early = await rawNode(url, { nodeId: 'compact2', secret: SECRET });
    early.send([['n', p, ['orphan']]]);
    assert.match(await early.closed, /bad packet "n"/);
    assert.equal(got.length, 3);
  });

  test('mesh — a relayed run (G) from a seed is delivered pair by pair, numbered on from seq0; a malformed one closes that seed link before anything is delivered', { timeout: 20_000 }, async () => {
    const got: unknown[][] = [];
    const three = deferred();
    const p = seed.port((...m: unknown[]) => {
      got.push(m);
      if (got.length === 3) three.resolve();
    });
    // Another seed (it holds the secret) relaying a run of three from node 'mrun' to our port.
    const peer = await rawNode(url, { nodeId: 'mseed2', secret: SECRET, isSeed: true });
    peer.send([['G', 'mrun', 9, 0, p, ['one'], p, ['two'], p, ['three']]]);
    await three.promise;
    assert.deepEqual(got, [['one'], ['two'], ['three']]);
    peer.link.close();
    const bad: Array<[string, Packet]> = [
      ['seq0 not a number', ['G', 'mrun2', 9, 'x', p, ['no']]],
      ['half a pair', ['G', 'mrun2', 9, 0, p, ['no'], p]],
      ['no pairs', ['G', 'mrun2', 9, 0]],
    ];
    for (const [what, packet] of bad) {
      const s2 = await rawNode(url, { nodeId: 'mseed3', secret: SECRET, isSeed: true });
      s2.send([packet]);
      assert.match(await s2.closed, /bad packet "G"/, what);
    }
    assert.equal(got.length, 3);
  });

  test('auth — seed-only packets from a plain node close its link; the receiver never sees them', async () => {
    const p = b.port(() => assert.fail('a forged packet was delivered'));
    const forged: Packet[] = [
      ['f', 'ma', 1, 0, p, ['forged']],
      ['F', 'ma', 'mb', 1, 0, p, ['forged']],
      ['fnack', 'mb', 'ma', 'gone'],
      ['down', 'ma', ['transport_error', 'forged']],
      ['nack', 'ma', 'forged'],
      ['att', 'ma'],
      ['det', 'ma', ['transport_error', 'forged']],
      ['dir', ['ma']],
      ['seeds', ['ws://127.0.0.1:1/']],
      ['no-such-packet', 1],
    ];
    for (const [i, pk] of forged.entries()) {
      const evil = await rawNode(url, { nodeId: `evil${i}`, secret: SECRET });
      evil.send([pk]);
      const reason = await evil.closed;
      assert.match(reason, /bad packet/, `${pk[0]}: closed with ${reason}`);
    }
    // Nothing reached ma or mb, and both still work.
    assert.equal(a.nodeIsUp('mseed'), true);
    assert.deepEqual(await a.call(echo(b), ['still'], { timeoutMs: 5000 }), ['echo', 'mb', 'still']);
    assert.deepEqual(await b.call(echo(a), ['fine'], { timeoutMs: 5000 }), ['echo', 'ma', 'fine']);
  });

  test('auth — a second node with a connected node\'s ID is refused with AEMP_ERR_DUPLICATE_NODE; the first keeps working', async () => {
    const since = lines.length;
    const got: unknown[][] = [];
    const p = a.port((...m: unknown[]) => got.push(m));
    const start = startRefused({ nodeid: 'ma', seeds: [url] });
    await waitLog((l) => l.ns === 'seed' && l.msg.includes('AEMP_ERR_DUPLICATE_NODE'), since);
    // The newer connection is told why.
    await waitLog((l) => l.ns !== 'seed' && l.msg.includes('refused by peer: AEMP_ERR_DUPLICATE_NODE'), since);
    start.clock.advance(10_000);
    await (await start.ready).shutdown();
    // The first ma is still linked and reachable under its ID.
    assert.equal(a.linkInfo('mseed')?.path, 'seed');
    assert.deepEqual(await b.call(echo(a), ['first'], { timeoutMs: 5000 }), ['echo', 'ma', 'first']);
    b.snd(p, 'to the first');
    assert.deepEqual(await a.call(echo(b), ['sync'], { timeoutMs: 5000 }), ['echo', 'mb', 'sync']);
    assert.deepEqual(got, [['to the first']]);
  });

  test('auth — a node refused as a duplicate does not come up: createNode does not return as if linked', async () => {
    // The seed refuses the duplicate only after the handshake completed; the
    // duplicate must not take that short-lived link for a seed link.
    const since = lines.length;
    const start = startRefused({ nodeid: 'mb', seeds: [url] });
    await waitLog((l) => l.ns === 'seed' && l.msg.includes('AEMP_ERR_DUPLICATE_NODE'), since);
    await waitLog((l) => l.ns === 'conn' && l.msg.includes('refused by peer: AEMP_ERR_DUPLICATE_NODE'), since);
    assert.equal(start.resolved(), false, 'the duplicate believed it was linked to the seed');
    start.clock.advance(10_000);
    const dup = await start.ready;
    assert.notEqual(dup.nodeIsUp('mseed'), true);
    assert.equal(dup.linkInfo('mseed'), undefined);
    await dup.shutdown();
    assert.deepEqual(await a.call(echo(b), ['b still here'], { timeoutMs: 5000 }), ['echo', 'mb', 'b still here']);
  });

  test('auth — a greeting that repeats the seed\'s nonce is refused as a replay before any mac is sent', async () => {
    // Reflect the seed's own greeting, then our own greeting with the seed's nonce.
    for (const mutate of [(g: Record<string, unknown>) => g, (g: Record<string, unknown>) => ({ ...g, node: 'mallory', seed: false })]) {
      const since = lines.length;
      const r = await rawConnect(url);
      const greeting = (await r.waitFrame(() => true)) as string;
      r.link.send(JSON.stringify(mutate(JSON.parse(greeting))));
      const reason = await r.closed;
      assert.match(reason, /AEMP_ERR_REPLAY/);
      assert.deepEqual(r.frames.slice(1).map((f) => JSON.parse(f as string)), [{ refused: 'AEMP_ERR_REPLAY', reason: 'peer sent our own nonce' }]);
      assert.ok(!r.frames.some((f) => typeof f === 'string' && f.includes('"mac"')), 'no mac was sent');
      await waitLog((l) => l.ns === 'seed' && l.msg.includes('AEMP_ERR_REPLAY'), since);
    }
    assert.deepEqual(await a.call(echo(b), ['ok'], { timeoutMs: 5000 }), ['echo', 'mb', 'ok']);
  });
});

test('seeds — two seeds that know each other keep their one link and stop dialling each other', async () => {
  const ci = 50; // connect_interval: back-off tops out at 8 x 50 ms
  const s1 = await mk({ nodeid: 'ks1', binds: ['127.0.0.1:0'], connect_interval: ci });
  const since = lines.length;
  const s2 = await mk({ nodeid: 'ks2', binds: ['127.0.0.1:0'], seeds: [seedUrl(s1)], connect_interval: ci });
  await waitLog((l) => l.msg === 'linked from seed ks2', since);
  // ks1 learns ks2's URL from the link and dials it: the seeds are already linked,
  // so that dial is refused as a duplicate. It must not be repeated forever.
  // Four back-off periods is long enough to see a retry loop.
  await new Promise((r) => setTimeout(r, 4 * 8 * ci * 1.25));
  const refusals = lines.slice(since).filter((l) => l.msg.startsWith('refusing link') && /ks[12]/.test(l.msg));
  assert.equal(s1.linkInfo('ks2')?.path, 'seed');
  assert.equal(s2.linkInfo('ks1')?.path, 'seed');
  assert.ok(refusals.length <= 2, `the seeds redialled each other ${refusals.length} times:\n${refusals.map((l) => l.msg).join('\n')}`);
});

test('guarantee checker — accepts prefixes per monitor epoch and flags holes, duplicates and reordering', () => {
  const epochs = [{ start: 0, end: 10, reason: ['transport_error'] }, { start: 12 }];
  assert.deepEqual(checkStream([[0, 6], [12, 19]], epochs, 20), [7, 8]);
  assert.deepEqual(checkStream([[0, 9], [11, 19]], epochs, 20), [10, 8]);
  assert.throws(() => checkStream([[0, 3], [5, 6], [12, 19]], epochs, 20), /holes/);
  assert.throws(() => checkStream([[1, 6], [12, 19]], epochs, 20), /lost its first/);
  assert.throws(() => checkStream([[0, 6], [6, 6], [12, 19]], epochs, 20), /duplicate or reordered/);
  assert.throws(() => checkStream([[0, 6], [12, 18]], epochs, 20), /never fired/);
});
