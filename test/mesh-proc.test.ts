/**
 * The mesh across real processes: seeds and nodes are children
 * (test/fixtures/peer.ts) linked over WebSockets on 127.0.0.1, so a node
 * can really die (SIGKILL), hang (SIGSTOP) or leave (shutdown). Latencies
 * are measured from the children's event timestamps (Date.now(), one clock
 * for all processes on the machine).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNode, setLogLevel, type MpNode } from '../node/index.ts';
import { Peer, killAll, type PeerEvent } from './fixtures/driver.ts';
import { checkStream, type Epoch } from './fixtures/stream-check.ts';

// In-process nodes of this file read AEMP_RC too (at createNode time): never the user's.
const rcDir = mkdtempSync(join(tmpdir(), 'aemp-mesh-proc-'));
process.env.AEMP_RC = join(rcDir, 'rc.json');
setLogLevel(3); // this process's own nodes log only crashes; children report their logs as events

const SECRET = 'proc-test-secret';
/** monitor_timeout for every node here, ms. */
const MT = 1000;
// This file tests the WebSocket mesh (seed links and relay); direct WebRTC links have test/rtc-*.test.ts.
const node = (nodeid: string, seeds: string[], extra: Record<string, unknown> = {}) =>
  Peer.start({ nodeid, seeds, secret: SECRET, monitor_timeout: MT, connect_interval: 200, direct: false, ...extra });
const seedProc = (nodeid: string, seeds: string[] = []) =>
  Peer.start({ nodeid, binds: ['127.0.0.1:0'], seeds, secret: SECRET, monitor_timeout: MT, connect_interval: 200 });

const isMon = (mid: number) => (e: PeerEvent) => e.ev === 'mon' && e.mid === mid;
const diedName = (name: string) => (e: PeerEvent) => e.ev === 'died' && e.name === name;
const nodeEv = (node: string, up: boolean) => (e: PeerEvent) => e.ev === 'node' && e.node === node && e.up === up;

after(async () => {
  await killAll();
  rmSync(rcDir, { recursive: true, force: true });
});

describe('three processes: a seed and two nodes', () => {
  let s: Peer, a: Peer, b: Peer;
  // Victims for the failure-detection tests, one per way of dying.
  let vKill: Peer, vStop: Peer, vBye: Peer;

  before(async () => {
    s = await seedProc('seed1');
    [a, b, vKill, vStop, vBye] = await Promise.all([
      node('a', [s.url!]),
      node('b', [s.url!]),
      node('v-kill', [s.url!]),
      node('v-stop', [s.url!]),
      node('v-bye', [s.url!]),
    ]);
  });
  // Free the machine for the next group; the file's after hook catches the rest.
  after(() => killAll());

  test('remote — snd from one node process reaches a port in another, every plain type and bytes intact', async () => {
    const inbox = await b.cmd('port', { name: 'inbox' });
    const msg = ['hello', 42, -1.5, true, false, null, [1, [2, 'x']], { k: 'v', n: [1] }, new Uint8Array([0, 1, 254, 255])];
    const since = b.mark();
    await a.cmd('snd', { port: inbox, msg });
    await a.cmd('snd', { port: inbox, msg: ['second'] });
    const first = await b.waitFor((e) => e.ev === 'msg' && e.name === 'inbox', { since });
    assert.deepEqual(first.msg, msg);
    const second = await b.waitFor((e) => e.ev === 'msg' && e.name === 'inbox' && e.msg[0] === 'second', { since });
    assert.ok(second.t >= first.t);
    assert.equal(b.filter((e) => e.ev === 'msg' && e.name === 'inbox', since).length, 2);
  });

  test('remote — spawn runs a registered init on the other node; an unknown init kills the new port', async () => {
    const w = await a.cmd<string>('spawn', { node: 'b', init: 'echo', args: ['arg1', 2] });
    assert.match(w, /^b#/);
    const sp = await b.waitFor((e) => e.ev === 'spawned' && e.port === w);
    assert.deepEqual(sp.args, ['arg1', 2]);
    assert.deepEqual(await a.cmd('call', { port: w, msg: ['ping', 7], timeoutMs: 5000 }), { ok: ['echo', 'b', 'ping', 7] });

    const bad = await a.cmd<string>('spawn', { node: 'b', init: 'no-such-init' });
    const { mid } = await a.cmd('mon', { port: bad, form: 'cb' });
    const fired = await a.waitFor(isMon(mid));
    // The init runs (and fails) as the spawn request arrives, before the
    // monitor request, so the monitor finds the port gone.
    assert.equal(fired.reason[0], 'no_such_port');
    // b logs why (its stdout is read independently of a's: wait for the line).
    await b.waitFor((e) => e.ev === 'log' && String(e.msg).includes('no init function registered as "no-such-init"'));
  });

  test('remote — cal and call round-trip; to a dead port cal gets no reply and call rejects with the reason', async () => {
    const w = await a.cmd<string>('spawn', { node: 'b', init: 'echo' });
    assert.deepEqual(await a.cmd('cal', { port: w, msg: ['x', 1] }), ['echo', 'b', 'x', 1]);
    assert.deepEqual(await a.cmd('cal', { port: w, msg: ['y'], timeout: 5000 }), ['echo', 'b', 'y']);
    await a.cmd('kil', { port: w });
    assert.deepEqual(await a.cmd('cal', { port: w, msg: ['z'], timeout: 5000 }), []);
    const r = await a.cmd('call', { port: w, msg: ['z'], timeoutMs: 5000 });
    assert.equal(r.err.code, 'AEMP_ERR_PORT_DIED');
    assert.equal(r.err.reason[0], 'no_such_port');
  });

  test('remote — mon in all four forms fires with the kill reason', async () => {
    const victim = await b.cmd<string>('port', { name: 'victim1' });
    const port = await a.cmd('mon', { port: victim, form: 'port' });
    const self = await a.cmd('mon', { port: victim, form: 'self' });
    const msg = await a.cmd('mon', { port: victim, form: 'msg', msg: ['down', 'x'] });
    const cb = await a.cmd('mon', { port: victim, form: 'cb' });
    // A round trip through b's node port: all four mon requests have arrived.
    await a.cmd('cal', { port: await a.cmd('spawn', { node: 'b', init: 'echo' }), msg: ['sync'] });
    await b.cmd('kil', { port: victim, reason: ['boom', 42] });
    assert.deepEqual((await a.waitFor(isMon(cb.mid))).reason, ['boom', 42]);
    assert.deepEqual((await a.waitFor(diedName(`mon:${port.mid}`))).reason, ['boom', 42]);
    assert.deepEqual((await a.waitFor(diedName(`mon:${self.mid}`))).reason, ['boom', 42]);
    assert.deepEqual((await a.waitFor((e) => e.ev === 'msg' && e.name === `mon:${msg.mid}`)).msg, ['down', 'x', 'boom', 42]);
  });

  test('remote — mon after a normal kill: the callback gets no reason, rcvPort lives, the msg form gets the bare message', async () => {
    const victim = await b.cmd<string>('port', { name: 'victim2' });
    const port = await a.cmd('mon', { port: victim, form: 'port' });
    const msg = await a.cmd('mon', { port: victim, form: 'msg', msg: ['gone'] });
    const cb = await a.cmd('mon', { port: victim, form: 'cb' });
    await a.cmd('cal', { port: await a.cmd('spawn', { node: 'b', init: 'echo' }), msg: ['sync'] });
    await b.cmd('kil', { port: victim });
    assert.deepEqual((await a.waitFor(isMon(cb.mid))).reason, []);
    assert.deepEqual((await a.waitFor((e) => e.ev === 'msg' && e.name === `mon:${msg.mid}`)).msg, ['gone']);
    // Monitors fire in the order they were set, so the port form has run by now.
    assert.equal(await a.cmd('alive', { port: port.rcvPort }), true);
  });

  test('remote — kil on another node kills the port there with the given reason', async () => {
    const k = await b.cmd<string>('port', { name: 'k1' });
    await a.cmd('kil', { port: k, reason: ['stop', 7] });
    assert.deepEqual((await b.waitFor(diedName('k1'))).reason, ['stop', 7]);
    assert.equal(await b.cmd('alive', { port: k }), false);
  });

  test('remote — mon on a port that does not exist on the other node fires no_such_port', async () => {
    const { mid } = await a.cmd('mon', { port: 'b#never.there', form: 'cb' });
    const r = (await a.waitFor(isMon(mid))).reason;
    assert.equal(r[0], 'no_such_port');
    assert.equal(typeof r[1], 'string');
  });

  test('remote — sndOn has the other node send the message', async () => {
    const inbox = await a.cmd<string>('port', { name: 'fromB' });
    await a.cmd('sndOn', { node: 'b', msg: [inbox, 'sent by b'] });
    assert.deepEqual((await a.waitFor((e) => e.ev === 'msg' && e.name === 'fromB')).msg, ['sent by b']);
  });

  test('mesh — linkInfo: relay to a node, seed to the seed; both nodes are up for each other', async () => {
    assert.equal((await a.cmd('linkInfo', { node: 'b' })).path, 'relay');
    assert.equal((await a.cmd('linkInfo', { node: 'seed1' })).path, 'seed');
    assert.equal((await s.cmd('linkInfo', { node: 'a' })).path, 'seed');
    assert.ok((await a.cmd('nodes')).up.includes('b'));
  });

  /** Monitors on two ports of `v` from a, in the cb form; returns their ids. */
  async function watch(v: Peer): Promise<number[]> {
    const p1 = await v.cmd<string>('port', { name: 'w1' });
    const p2 = await v.cmd<string>('port', { name: 'w2' });
    const m1 = await a.cmd('mon', { port: p1, form: 'cb' });
    const m2 = await a.cmd('mon', { port: p2, form: 'port' });
    // Make sure both monitor requests reached v before it dies.
    const echo = await a.cmd<string>('spawn', { node: v.node, init: 'echo' });
    assert.deepEqual(await a.cmd('cal', { port: echo, msg: ['sync'], timeout: 5000 }), ['echo', v.node, 'sync']);
    return [m1.mid, m2.mid];
  }

  test('detect — SIGKILL of a node process fires remote monitors with transport_error at once, not by heartbeat timeout', async (t) => {
    const [m1, m2] = await watch(vKill);
    const t0 = vKill.signal('SIGKILL');
    const fired = await a.waitFor(isMon(m1), { timeoutMs: 5000 });
    const killed = await a.waitFor(diedName(`mon:${m2}`), { timeoutMs: 5000 });
    assert.equal(fired.reason[0], 'transport_error');
    assert.deepEqual(killed.reason, fired.reason);
    // The closed socket says so, not the heartbeat; how fast is the bench's figure (detect.kill_ms).
    assert.doesNotMatch(String(fired.reason[1]), /heartbeat/);
    const ms = fired.t - t0;
    assert.ok(ms < 5000, `monitor fired ${ms} ms after SIGKILL`);
    const down = await a.waitFor(nodeEv('v-kill', false));
    assert.ok(down.t - t0 < 5000);
    assert.equal(await a.cmd('linkInfo', { node: 'v-kill' }), null);
    t.diagnostic(`detect.kill_ms ${ms}`);
  });

  test('detect — SIGSTOP of a node process fires remote monitors by heartbeat timeout, after monitor_timeout', async (t) => {
    const [m1, m2] = await watch(vStop);
    const t0 = vStop.signal('SIGSTOP');
    try {
      const fired = await a.waitFor(isMon(m1), { timeoutMs: MT + 10_000 });
      const killed = await a.waitFor(diedName(`mon:${m2}`), { timeoutMs: 5000 });
      assert.equal(fired.reason[0], 'transport_error');
      assert.match(fired.reason[1], /heartbeat/);
      assert.deepEqual(killed.reason, fired.reason);
      const ms = fired.t - t0;
      assert.ok(ms <= MT + 5000, `monitor fired ${ms} ms after SIGSTOP (monitor_timeout ${MT})`);
      // Heartbeats, not an instant close: the hung process's sockets stay open.
      assert.ok(ms >= MT / 2, `monitor fired only ${ms} ms after SIGSTOP: not a heartbeat timeout`);
      t.diagnostic(`detect.hang_ms ${ms}`);
    } finally {
      vStop.signal('SIGCONT');
    }
    // Thawed, it finds its link gone, relinks, and new messages flow again.
    await vStop.waitFor((e) => e.ev === 'node' && e.node === 'seed1' && e.up && e.t > t0, { timeoutMs: 10_000 });
    // ... and the seed has it again (its own link to it may have timed out only now): a's spawn goes through the seed.
    await s.waitFor((e) => e.ev === 'node' && e.node === 'v-stop' && e.up && e.t > t0, { timeoutMs: 10_000 });
    const echo = await a.cmd<string>('spawn', { node: 'v-stop', init: 'echo' });
    assert.deepEqual(await a.cmd('call', { port: echo, msg: ['back'], timeoutMs: 5000 }), { ok: ['echo', 'v-stop', 'back'] });
  });

  test('detect — shutdown() of a node fires remote monitors with its goodbye, not by heartbeat timeout', async (t) => {
    const [m1, m2] = await watch(vBye);
    const { t0 } = await vBye.cmd('shutdown');
    const fired = await a.waitFor(isMon(m1), { timeoutMs: 5000 });
    const killed = await a.waitFor(diedName(`mon:${m2}`), { timeoutMs: 5000 });
    assert.equal(fired.reason[0], 'transport_error');
    assert.match(fired.reason[1], /shut down/);
    assert.deepEqual(killed.reason, fired.reason);
    const ms = fired.t - t0;
    assert.ok(ms < 5000, `monitor fired ${ms} ms after shutdown()`);
    t.diagnostic(`detect.shutdown_ms ${ms}`);
  });

  describe('the Intro network examples', () => {
    let home: MpNode;
    let w1: Peer, w2: Peer;
    before(async () => {
      [home, w1, w2] = await Promise.all([
        createNode({ nodeid: 'home', seeds: [s.url!], secret: SECRET, monitor_timeout: MT, connect_interval: 200 }),
        node('w1', [s.url!]),
        node('w2', [s.url!]),
      ]);
    });
    after(() => home?.shutdown());

    test('intro — bridge head: a worker spawned on a remote node messages back, then serves', async () => {
      let hello!: (m: unknown[]) => void;
      const got = new Promise<unknown[]>((r) => (hello = r));
      const me = home.port();
      home.rcv(me, 'hello', (...m: unknown[]) => hello(m));
      const worker = home.spawn('b', 'bridge', me, 'bh');
      const [tag, port, where] = await got;
      assert.deepEqual([tag, port, where], ['bh', worker, 'b']);
      assert.deepEqual(await home.call(worker, ['work', 21], { timeoutMs: 5000 }), ['done', 42, 'b']);
      home.kil(worker);
    });

    test('intro — a supervisor restarts a remote worker on another node when its node process dies', async () => {
      const nodes = ['w1', 'w2'];
      const events: string[] = [];
      const hellos: Array<(m: unknown[]) => void> = [];
      const helloP = [0, 1].map((i) => new Promise<unknown[]>((r) => (hellos[i] = r)));
      const restarted = deferred();
      let gen = 0;
      let worker = '';
      const sup = home.port();
      home.rcv(sup, 'hello', (...m: unknown[]) => hellos[Number(String(m[0]).slice(3))]!(m));
      const start = () => {
        const i = gen++;
        worker = home.spawn(nodes[i]!, 'bridge', sup, `gen${i}`);
        events.push(`started on ${nodes[i]}`);
        home.mon(worker, (...reason: unknown[]) => {
          events.push(`worker died: ${String(reason[0])}`);
          if (gen < nodes.length) start();
          restarted.resolve();
        });
      };
      start();
      assert.deepEqual((await helloP[0])!.slice(2), ['w1']);
      assert.deepEqual(await home.call(worker, ['work', 1], { timeoutMs: 5000 }), ['done', 2, 'w1']);
      await w1.kill();
      await restarted.promise;
      assert.deepEqual((await helloP[1])!.slice(2), ['w2']);
      assert.deepEqual(await home.call(worker, ['work', 21], { timeoutMs: 5000 }), ['done', 42, 'w2']);
      assert.deepEqual(events, ['started on w1', 'worker died: transport_error', 'started on w2']);
    });
  });
});

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('the AEMP guarantee over a cut link', () => {
  let s: Peer, a: Peer, b: Peer;
  const N = 100_000;

  before(async () => {
    s = await seedProc('gseed');
    [a, b] = await Promise.all([node('ga', [s.url!]), node('gb', [s.url!])]);
  });
  after(() => killAll());

  /** The seed has both nodes' new links (since its event `since`): the tail is relayed from its first message. */
  async function seedHasBoth(since: number): Promise<void> {
    for (const n of ['ga', 'gb']) await s.waitFor((e) => e.ev === 'node' && e.node === n && e.up, { since, timeoutMs: 10_000 });
  }

  /**
   * a streams ['s', 0..N-1] to a port on b (re-monitoring after each fire);
   * `cut` breaks the path once 20,000 have arrived and resolves once it is
   * whole again; then the rest flows. Checks the guarantee on what b got.
   */
  async function streamAcross(
    t: { diagnostic(m: string): void },
    name: string,
    cut: () => Promise<void>,
  ): Promise<{ epochs: Epoch[]; got: number[] }> {
    const sink = await b.cmd<string>('sink', { name, last: N - 1 });
    const since = a.mark();
    await a.cmd('stream', { name, port: sink, count: N, chunk: 200, intervalMs: 4, holdAt: 70_000 });
    await b.waitFor((e) => e.ev === 'sink' && e.name === name && e.count >= 20_000, { timeoutMs: 15_000 });
    await cut();
    await a.cmd('streamGo', { name });
    await a.waitFor((e) => e.ev === 'streamDone' && e.name === name, { since, timeoutMs: 20_000 });
    await b.waitFor((e) => e.ev === 'sinkLast' && e.name === name, { timeoutMs: 10_000 });
    const st = await a.cmd('streamGet', { name });
    const rx = await b.cmd('sinkGet', { name });
    const epochs = st.epochs as Epoch[];
    assert.ok(epochs.length >= 2, `the cut fired the monitor (epochs ${JSON.stringify(epochs)})`);
    assert.equal(epochs[0]!.start, 0);
    assert.equal(epochs[0]!.reason?.[0], 'transport_error');
    const got = checkStream(rx.ranges, epochs, N);
    // The stream was cut mid-way: the first epoch ended early, and the last one carried the tail.
    assert.ok(epochs[0]!.end! < N && got[0]! >= 20_000, `first epoch ${JSON.stringify(epochs[0])} got ${got[0]}`);
    const lastEp = epochs[epochs.length - 1]!;
    assert.equal(lastEp.end, undefined, 'the stream ends on a monitor that never fired');
    // The stream holds at 70,000 until the cut is over, so the tail is up to 30,000; a monitor may still fire
    // on the first chunks after it (the link to the seed coming back), which starts the last epoch a little later.
    assert.ok(N - lastEp.start >= 25_000, `the tail after the cut carried ${N - lastEp.start} messages`);
    t.diagnostic(`${name}: epochs ${epochs.length}, first ${JSON.stringify(epochs[0])}, received ${rx.count} of ${N}`);
    return { epochs, got };
  }

  test('guarantee — 100,000 numbered messages while the receiver drops its seed link: a gap-free prefix, the monitor, then only later messages', async (t) => {
    await streamAcross(t, 'drop', async () => {
      const m = b.mark();
      const ms = s.mark();
      assert.equal(await b.cmd('dropLink', { node: 'gseed' }), true);
      await a.waitFor((e) => e.ev === 'streamFire' && e.name === 'drop', { timeoutMs: 5000 });
      await b.waitFor(nodeEv('gseed', true), { since: m, timeoutMs: 5000 });
      await s.waitFor((e) => e.ev === 'node' && e.node === 'gb' && e.up, { since: ms, timeoutMs: 10_000 });
    });
  });

  test('guarantee — 100,000 numbered messages while the seed hangs (SIGSTOP) past the heartbeat timeout and comes back', async (t) => {
    await streamAcross(t, 'hang', async () => {
      const ma = a.mark();
      const mb = b.mark();
      const ms = s.mark();
      const t0 = s.signal('SIGSTOP');
      try {
        const fire = await a.waitFor((e) => e.ev === 'streamFire' && e.name === 'hang', { since: ma, timeoutMs: MT + 10_000 });
        assert.ok(fire.t - t0 <= MT + 5000, `monitor fired ${fire.t - t0} ms after the seed hung`);
        await a.waitFor(nodeEv('gseed', false), { since: ma, timeoutMs: MT + 10_000 });
        await b.waitFor(nodeEv('gseed', false), { since: mb, timeoutMs: MT + 10_000 });
      } finally {
        s.signal('SIGCONT');
      }
      await a.waitFor(nodeEv('gseed', true), { since: ma, timeoutMs: 10_000 });
      await b.waitFor(nodeEv('gseed', true), { since: mb, timeoutMs: 10_000 });
      await seedHasBoth(ms);
    });
  });

  test('guarantee — 100,000 numbered messages while the seed process is killed and a new one starts on the same port', async (t) => {
    await streamAcross(t, 'restart', async () => {
      const ma = a.mark();
      const mb = b.mark();
      const port = new URL(s.url!).port;
      await s.kill();
      await a.waitFor((e) => e.ev === 'streamFire' && e.name === 'restart', { since: ma, timeoutMs: 5000 });
      await b.waitFor(nodeEv('gseed', false), { since: mb, timeoutMs: 5000 });
      s = await Peer.start({ nodeid: 'gseed', binds: [`127.0.0.1:${port}`], secret: SECRET, monitor_timeout: MT, connect_interval: 200 });
      await a.waitFor(nodeEv('gseed', true), { since: ma, timeoutMs: 10_000 });
      await b.waitFor(nodeEv('gseed', true), { since: mb, timeoutMs: 10_000 });
      await seedHasBoth(0);
    });
  });

  test('overflow — a seed that stops reading: the send queue overflows into a transport error that fires monitors', async () => {
    const ov = await createNode({
      nodeid: 'ov', seeds: [s.url!], secret: SECRET, monitor_timeout: 5000, connect_interval: 200, maxBufferedBytes: 1 << 20,
    });
    try {
      const target = await b.cmd<string>('port', { name: 'ovt' });
      const fired = new Promise<unknown[]>((r) => ov.mon(target, (...reason: unknown[]) => r(reason)));
      // A round trip to gb: the monitor request has arrived.
      assert.deepEqual(await ov.call(ov.spawn('gb', 'echo'), ['sync'], { timeoutMs: 5000 }), ['echo', 'gb', 'sync']);
      const t0 = s.signal('SIGSTOP');
      try {
        const blob = new Uint8Array(1 << 20);
        for (let i = 0; i < 32; i++) ov.snd(target, 'blob', i, blob);
        const reason = await Promise.race([fired, new Promise<never>((_, j) => setTimeout(() => j(new Error('no overflow')), 20_000))]);
        assert.equal(reason[0], 'transport_error');
        // The overflow itself fired the monitor, not the 5 s heartbeat timeout (its reason would differ);
        // how soon is the machine's load, not this test's business.
        assert.match(String(reason[1]), /send queue overflow/, `fired ${Date.now() - t0} ms after the seed stopped reading`);
        assert.equal(ov.linkInfo('gseed'), undefined);
      } finally {
        s.signal('SIGCONT');
      }
    } finally {
      await ov.shutdown();
    }
    // gb never got a blob out of order: whatever arrived is a prefix (here, typically nothing).
    const blobs = b.filter((e) => e.ev === 'msg' && e.name === 'ovt').map((e) => e.msg[1]);
    assert.deepEqual(blobs, blobs.map((_, i) => i));
  });
});

describe('seed failover', () => {
  let s1: Peer, s2: Peer;
  let na: MpNode, nb: MpNode;

  before(async () => {
    s1 = await seedProc('fs1');
    // s2 lists s1, so the seeds know each other.
    s2 = await seedProc('fs2', [s1.url!]);
    await s2.waitFor(nodeEv('fs1', true), { timeoutMs: 10_000 });
    const o = { secret: SECRET, monitor_timeout: MT, connect_interval: 200 };
    [na, nb] = await Promise.all([
      createNode({ nodeid: 'fa', seeds: [s1.url!, s2.url!], ...o }),
      createNode({ nodeid: 'fb', seeds: [s2.url!, s1.url!], ...o }),
    ]);
  });
  after(async () => {
    await na?.shutdown();
    await nb?.shutdown();
  });

  test('failover — a node listing two seeds keeps working when one seed process is killed', async () => {
    assert.equal(na.linkInfo('fs1')?.path, 'seed');
    assert.equal(nb.linkInfo('fs2')?.path, 'seed');
    const echoB = nb.port((...m: unknown[]) => nb.snd(m.pop() as string, 'b-echo', ...m));
    const echoA = na.port((...m: unknown[]) => na.snd(m.pop() as string, 'a-echo', ...m));
    // fa → fs1 → fs2 → fb: once fs1 has learnt where fb is attached.
    assert.deepEqual(await callSoon(na, echoB, ['one']), ['b-echo', 'one']);
    assert.deepEqual(await nb.call(echoA, ['two'], { timeoutMs: 5000 }), ['a-echo', 'two']);

    const firedA = new Promise<unknown[]>((r) => na.mon(echoB, (...reason: unknown[]) => r(reason)));
    const firedB = new Promise<unknown[]>((r) => nb.mon(echoA, (...reason: unknown[]) => r(reason)));
    await nb.call(echoA, ['sync'], { timeoutMs: 5000 }); // fb's monitor request has reached fa
    await na.call(echoB, ['sync'], { timeoutMs: 5000 });

    const t0 = Date.now();
    await s1.kill();
    const [ra, rb] = await Promise.all([firedA, firedB]);
    assert.equal(ra[0], 'transport_error');
    assert.equal(rb[0], 'transport_error');
    assert.ok(Date.now() - t0 < 5000, `monitors fired ${Date.now() - t0} ms after the seed died`);

    // fa fails over to fs2, and messages flow both ways through it.
    assert.deepEqual(await callSoon(na, echoB, ['three']), ['b-echo', 'three']);
    assert.equal(na.linkInfo('fs2')?.path, 'seed');
    assert.equal(na.linkInfo('fs1'), undefined);
    assert.deepEqual(await nb.call(echoA, ['four'], { timeoutMs: 5000 }), ['a-echo', 'four']);
  });
});

/**
 * call, retried while the path is still being set up (a seed that has not
 * yet learnt where the target is answers with a transport error): at most
 * 40 tries in 10 s.
 */
async function callSoon(n: MpNode, port: string, msg: unknown[]): Promise<unknown[]> {
  const end = Date.now() + 10_000;
  let last: unknown;
  for (let i = 0; i < 40 && Date.now() < end; i++) {
    try {
      return await n.call(port, msg, { timeoutMs: 1000 });
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`no reply from ${port}: ${String(last)}`);
}
