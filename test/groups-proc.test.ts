/**
 * Global groups across real processes over ws on 127.0.0.1: three seeds
 * (a fourth joins later) with nodes attached to different seeds; nodes and
 * seeds really die (SIGKILL) or hang (SIGSTOP). Latencies come from the
 * children's event timestamps (one wall clock for all processes).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Child, GroupPeer, killAll, type Ev } from './fixtures/groups-driver.ts';

const SECRET = 'groups-proc';
/** monitor_timeout of every process here (ms). */
const MT = 1000;
/** How long seeds keep the entries of a lost seed's nodes (ms). */
const GRACE = 2500;
const timing = { secret: SECRET, monitor_timeout: MT, connect_interval: 200, groups: { graceMs: GRACE } };
const seedProc = (nodeid: string, seeds: string[] = []) => GroupPeer.start({ nodeid, binds: ['127.0.0.1:0'], seeds, ...timing });
const nodeProc = (nodeid: string, seeds: string[]) => GroupPeer.start({ nodeid, seeds, ...timing });

const grp = (mid: number) => (e: Ev) => e.ev === 'grp' && e.mid === mid;
const nodeUp = (node: string) => (e: Ev) => e.ev === 'node' && e.node === node && e.up === true;

after(() => killAll());

test('intro — a receiver registers in eg_receivers; a sender on another node, started first, finds both receivers with grpGet and sends to all', async () => {
  const seed = await seedProc('intro-seed');
  const line = (c: Child, re: RegExp) => c.waitFor((e) => e.ev === 'line' && re.test(e.text), { timeoutMs: 15_000, what: String(re) });
  const sender = new Child('sender', 'groups-intro.ts', ['sender', seed.url!, SECRET, '2']);
  await line(sender, /^sender /);
  const r1 = new Child('r1', 'groups-intro.ts', ['receiver', seed.url!, SECRET]);
  const r2 = new Child('r2', 'groups-intro.ts', ['receiver', seed.url!, SECRET]);
  const p1 = (await line(r1, /^receiver /)).text.slice(9);
  const p2 = (await line(r2, /^receiver /)).text.slice(9);
  assert.deepEqual((await sender.exited).code, 0, sender.stderr);
  const out = sender.filter((e) => e.ev === 'line').map((e) => e.text);
  const n1 = p1.split('#')[0];
  const n2 = p2.split('#')[0];
  assert.equal(out[1], 'sending to 2 receivers');
  assert.deepEqual(out.slice(2).sort(), [`reply: message received (from ${n1})`, `reply: message received (from ${n2})`].sort());
  const got1 = await line(r1, /^received /);
  const got2 = await line(r2, /^received /);
  assert.match(got1.text, /^received 123 from anon\/\w+#\S+$/);
  assert.equal(got1.text, got2.text);
  await Promise.all([r1.kill(), r2.kill(), seed.kill()]);
});

describe('three seeds, nodes on different seeds', () => {
  let s1: GroupPeer, s2: GroupPeer, s3: GroupPeer;
  let a: GroupPeer, b: GroupPeer, c: GroupPeer, d: GroupPeer, v: GroupPeer;
  let mb: number, mc: number, ma: number;

  before(async () => {
    s1 = await seedProc('gs1');
    s2 = await seedProc('gs2', [s1.url!]);
    s3 = await seedProc('gs3', [s1.url!, s2.url!]);
    await Promise.all([s1.waitFor(nodeUp('gs2')), s1.waitFor(nodeUp('gs3')), s2.waitFor(nodeUp('gs3'))]);
    const all = [s1.url!, s2.url!, s3.url!];
    [a, b, c, d, v] = await Promise.all([
      nodeProc('ga', all),
      nodeProc('gb', [s2.url!, s3.url!, s1.url!]),
      nodeProc('gc', [s3.url!, s1.url!, s2.url!]),
      nodeProc('gd', all),
      nodeProc('gv', [s2.url!, s1.url!]),
    ]);
    assert.deepEqual(await Promise.all([a, b, c, d, v].map((p) => p.cmd('seed'))), ['gs1', 'gs2', 'gs3', 'gs1', 'gs2']);
    [ma, mb, mc] = await Promise.all([a, b, c].map((p) => p.cmd<number>('mon', { group: 'eg' })));
    for (const [p, mid] of [[a, ma], [b, mb], [c, mc]] as const) assert.deepEqual((await p.waitFor(grp(mid))).ports, []);
  });

  test('groups — a registration reaches grpMon subscribers on nodes of the other seeds; grpGet answers from the cache', async (t) => {
    const pa = await a.cmd<string>('port', { name: 'pa' });
    const [kb, kc] = [b.mark(), c.mark()];
    await a.cmd('reg', { group: 'eg', name: 'pa' });
    const t0 = a.events[a.events.length - 1]!.t;
    const eb = await b.waitFor(grp(mb), { since: kb });
    const ec = await c.waitFor(grp(mc), { since: kc });
    for (const e of [eb, ec]) assert.deepEqual([e.ports, e.added, e.removed], [[pa], [pa], []]);
    t.diagnostic(`propagation: ${eb.t - t0} ms to gb (seed gs2), ${ec.t - t0} ms to gc (seed gs3)`);
    assert.deepEqual(await c.cmd('get', { group: 'eg' }), [pa]);
    // A group nobody registered in: the first grpGet answers the local view, and starts watching.
    assert.equal(await c.cmd('get', { group: 'eg_none' }), null);
  });

  test('groups — SIGKILL of a node: its ports leave the group everywhere within monitor_timeout + 1 s', async () => {
    const pv = await v.cmd<string>('port', { name: 'pv' });
    const [kb, kc] = [b.mark(), c.mark()];
    await v.cmd('reg', { group: 'eg', name: 'pv' });
    await b.waitFor((e) => grp(mb)(e) && e.added[0] === pv, { since: kb });
    await c.waitFor((e) => grp(mc)(e) && e.added[0] === pv, { since: kc });
    const t0 = v.signal('SIGKILL');
    const gone = (e: Ev) => e.removed.length === 1 && e.removed[0] === pv;
    const eb = await b.waitFor((e) => grp(mb)(e) && gone(e), { since: kb, timeoutMs: MT + 10_000 });
    const ec = await c.waitFor((e) => grp(mc)(e) && gone(e), { since: kc, timeoutMs: MT + 10_000 });
    for (const e of [eb, ec]) {
      assert.ok(e.t - t0 <= MT + 5000, `removed ${e.t - t0} ms after SIGKILL`);
      assert.ok(!e.ports.includes(pv));
    }
    assert.equal(b.filter((e) => grp(mb)(e), kb).length, 2);
  });

  test('groups — SIGKILL of a seed: entries survive, no remove/add for live ports, its nodes fail over; a node that never comes back is dropped after the grace period', async (t) => {
    const pa = (await a.cmd<string | null>('get', { group: 'eg' }))![0]!;
    const pd = await d.cmd<string>('port', { name: 'pd' });
    const [kb, kc] = [b.mark(), c.mark()];
    await d.cmd('reg', { group: 'eg', name: 'pd' });
    await b.waitFor((e) => grp(mb)(e) && e.added[0] === pd, { since: kb });
    await c.waitFor((e) => grp(mc)(e) && e.added[0] === pd, { since: kc });
    await a.waitFor((e) => grp(ma)(e) && e.added[0] === pd);
    const [ka, kb2, kc2] = [a.mark(), b.mark(), c.mark()];
    // gd hangs and gs1 dies: gd's entries are orphaned; ga (also on gs1) fails over.
    d.signal('SIGSTOP');
    const t0 = Date.now();
    await s1.kill();
    const fo = await a.waitFor((e) => e.ev === 'seed' && e.seed !== null, { since: ka, timeoutMs: 10_000 });
    assert.ok(['gs2', 'gs3'].includes(fo.seed));
    t.diagnostic(`ga failed over to ${fo.seed} in ${fo.t - t0} ms`);
    // ga registers again after the fail-over: everyone sees exactly that, after its (re)hello.
    const pa2 = await a.cmd<string>('port', { name: 'pa2' });
    await a.cmd('reg', { group: 'eg', name: 'pa2' });
    const wantAdd = (e: Ev) => e.added.length === 1 && e.added[0] === pa2;
    await b.waitFor((e) => grp(mb)(e) && wantAdd(e), { since: kb2 });
    await c.waitFor((e) => grp(mc)(e) && wantAdd(e), { since: kc2 });
    // Then the grace period ends: gd never re-registered.
    const gone = (e: Ev) => e.removed.length === 1 && e.removed[0] === pd;
    const eb = await b.waitFor((e) => grp(mb)(e) && gone(e), { since: kb2, timeoutMs: GRACE + 5000 });
    const ec = await c.waitFor((e) => grp(mc)(e) && gone(e), { since: kc2, timeoutMs: GRACE + 5000 });
    await a.waitFor((e) => grp(ma)(e) && gone(e), { since: ka, timeoutMs: GRACE + 5000 });
    assert.ok(eb.t - t0 >= GRACE - 100, `gd dropped ${eb.t - t0} ms after the seed died (grace ${GRACE})`);
    t.diagnostic(`gd dropped after ${eb.t - t0} ms at gb, ${ec.t - t0} ms at gc`);
    // Exactly two changes for everyone, the live ports never flapped.
    const seen = (p: GroupPeer, mid: number, k: number) => p.filter(grp(mid), k).map((e) => [e.ports, e.added, e.removed]);
    const expect = [
      [[pa, pa2, pd].sort(), [pa2], []],
      [[pa, pa2].sort(), [], [pd]],
    ];
    assert.deepEqual(seen(b, mb, kb2), expect);
    assert.deepEqual(seen(c, mc, kc2), expect);
    assert.deepEqual(seen(a, ma, ka), expect);
    assert.deepEqual(await b.cmd('get', { group: 'eg' }), [pa, pa2].sort());
    await d.kill();
  });

  test('groups — a seed that joins later catches up: a node on it sees the current members', async () => {
    const members = await b.cmd<string[]>('get', { group: 'eg' });
    const s4 = await seedProc('gs4', [s2.url!]);
    await s4.waitFor(nodeUp('gs2'));
    await s4.waitFor(nodeUp('gs3'));
    const e = await nodeProc('ge', [s4.url!]);
    assert.equal(await e.cmd('seed'), 'gs4');
    const me = await e.cmd<number>('mon', { group: 'eg' });
    const full = await e.waitFor((x) => grp(me)(x) && JSON.stringify(x.ports) === JSON.stringify(members));
    assert.deepEqual(e.filter((x) => grp(me)(x) && x.removed.length > 0), []);
    assert.ok(full.ports.length >= 2);
    // And a registration through the new seed reaches the old ones.
    const pe = await e.cmd<string>('port', { name: 'pe' });
    const kb = b.mark();
    await e.cmd('reg', { group: 'eg', name: 'pe' });
    assert.deepEqual((await b.waitFor(grp(mb), { since: kb })).added, [pe]);
  });
});

/*
 * The only seed restarts. No replica survives, so the restarted seed knows
 * nothing until the nodes say grp_hello again, in whatever order they relink.
 * docs/groups.md: the view survives a change of seed, and a live port is never
 * reported removed and then added again because a seed died. So the expected
 * sequence at a watcher A, whoever relinks first, is: no grpMon call at all
 * for B's live port p1 (A keeps it while B relinks within the grace period),
 * then exactly one call per real change (p2 added, p3 added, ...).
 * B is stopped (SIGSTOP) across the restart so that A's hello reaches the new
 * seed first: the seed's first answer lacks p1, the order that used to make A
 * report p1 removed and then added again.
 */
describe('the only seed restarts (same port, same node ID)', () => {
  let s: GroupPeer, a: GroupPeer, b: GroupPeer;
  let port: string;
  let ma: number;
  let p1: string;
  /** Relinking to the restarted seed: at most one back-off step (8 × connect_interval × 1.25) plus 1 s. */
  const RELINK_MS = 8 * timing.connect_interval * 1.25 + 1000;
  /** A registration between linked nodes reaches a watcher within this. */
  const REACH_MS = 1000;
  const grpEvs = (k: number) => a.filter(grp(ma), k).map((e) => [e.ports, e.added, e.removed]);

  before(async () => {
    s = await seedProc('gos');
    port = new URL(s.url!).port;
    [a, b] = await Promise.all([nodeProc('goa', [s.url!]), nodeProc('gob', [s.url!])]);
    ma = await a.cmd<number>('mon', { group: 'g' });
    assert.deepEqual((await a.waitFor(grp(ma))).ports, []);
    assert.equal(await a.cmd('get', { group: 'g' }), null);
    p1 = await b.cmd<string>('port', { name: 'p1' });
    await b.cmd('reg', { group: 'g', name: 'p1' });
    assert.deepEqual(grpEvs(0).slice(1), []);
    await a.waitFor((e) => grp(ma)(e) && e.added[0] === p1);
    assert.deepEqual(grpEvs(0), [[[], [], []], [[p1], [p1], []]]);
    assert.deepEqual(await a.cmd('get', { group: 'g' }), [p1]);
  });

  for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
    test(`groups — ${sig} of the only seed, restarted: the watcher keeps the live port (no remove/add), B re-registers, new registrations of B and of a fresh node reach grpMon and grpGet`, async (t) => {
      const [ka, kb] = [a.mark(), b.mark()];
      const seedIs = (seed: string | null) => (e: Ev) => e.ev === 'seed' && e.seed === seed;
      b.signal('SIGSTOP');
      s.signal(sig);
      assert.equal((await s.exited).code, sig === 'SIGTERM' ? 0 : null);
      await a.waitFor(seedIs(null), { since: ka });
      s = await GroupPeer.start({ nodeid: 'gos', binds: [`127.0.0.1:${port}`], ...timing });
      const tUp = Date.now();
      const la = await a.waitFor(seedIs('gos'), { since: ka, timeoutMs: RELINK_MS });
      // A new watch is answered after A's hello (one ordered link): once it is, A has the seed's state of 'g'.
      const mp = await a.cmd<number>('mon', { group: `probe-${sig}` });
      await a.waitFor(grp(mp), { since: ka });
      assert.deepEqual(grpEvs(ka), [], 'the seed answered A before B relinked: p1 must not be reported removed');
      assert.deepEqual(await a.cmd('get', { group: 'g' }), [p1]);
      const tCont = b.signal('SIGCONT');
      const lb = await b.waitFor(seedIs('gos'), { since: kb, timeoutMs: RELINK_MS });
      t.diagnostic(`relinked ${la.t - tUp} ms (goa) after the restart, ${lb.t - tCont} ms (gob) after SIGCONT`);
      assert.ok(la.t - tUp <= RELINK_MS && lb.t - tCont <= RELINK_MS);
      // B registers p2 after its hello (same link): when p2 reaches A, B's re-registration of p1 has too.
      const p2 = await b.cmd<string>('port', { name: `p2-${sig}` });
      const g2 = await b.cmd<number>('reg', { group: 'g', name: `p2-${sig}` });
      const t2 = b.events[b.events.length - 1]!.t;
      const e2 = await a.waitFor((e) => grp(ma)(e) && e.added.includes(p2), { since: ka, timeoutMs: REACH_MS + 1000 });
      assert.ok(e2.t - t2 <= REACH_MS, `p2 reached A ${e2.t - t2} ms after grpReg`);
      assert.deepEqual(await a.cmd('get', { group: 'g' }), [p1, p2].sort());
      // A fresh node's registration.
      const c = await nodeProc(`goc-${sig.toLowerCase()}`, [s.url!]);
      const p3 = await c.cmd<string>('port', { name: 'p3' });
      await c.cmd('reg', { group: 'g', name: 'p3' });
      const t3 = c.events[c.events.length - 1]!.t;
      const e3 = await a.waitFor((e) => grp(ma)(e) && e.added.includes(p3), { since: ka, timeoutMs: REACH_MS + 1000 });
      assert.ok(e3.t - t3 <= REACH_MS, `p3 reached A ${e3.t - t3} ms after grpReg`);
      assert.deepEqual(await a.cmd('get', { group: 'g' }), [p1, p2, p3].sort());
      // Back to [p1] for the next round: p2 unregistered, C gone.
      await b.cmd('unreg', { gid: g2 });
      await a.waitFor((e) => grp(ma)(e) && e.removed.includes(p2), { since: ka });
      await c.kill();
      await a.waitFor((e) => grp(ma)(e) && e.removed.includes(p3), { since: ka, timeoutMs: MT + 2000 });
      // Exactly the real changes, nothing else (and nothing from the grace period ending).
      assert.deepEqual(grpEvs(ka), [
        [[p1, p2].sort(), [p2], []],
        [[p1, p2, p3].sort(), [p3], []],
        [[p1, p3].sort(), [], [p2]],
        [[p1], [], [p3]],
      ]);
    });
  }

  test('groups — after the restarts, a port whose node never comes back leaves the watcher\'s view once the grace period ends', async () => {
    // B dies while the seed is down: the restarted seed never hears of p1; A drops it after the grace period.
    const ka = a.mark();
    s.signal('SIGKILL');
    await s.exited;
    await a.waitFor((e) => e.ev === 'seed' && e.seed === null, { since: ka });
    b.signal('SIGKILL');
    await b.exited;
    s = await GroupPeer.start({ nodeid: 'gos', binds: [`127.0.0.1:${port}`], ...timing });
    const la = await a.waitFor((e) => e.ev === 'seed' && e.seed === 'gos', { since: ka, timeoutMs: RELINK_MS });
    const gone = await a.waitFor((e) => grp(ma)(e) && e.removed.includes(p1), { since: ka, timeoutMs: GRACE + 2000 });
    assert.ok(gone.t - la.t >= GRACE - 100 && gone.t - la.t <= GRACE + 1000, `p1 dropped ${gone.t - la.t} ms after relinking (grace ${GRACE})`);
    assert.deepEqual(grpEvs(ka), [[[], [], [p1]]]);
    assert.equal(await a.cmd('get', { group: 'g' }), null);
  });
});
