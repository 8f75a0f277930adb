/**
 * Global groups through the API, in one process: nodes on the in-process
 * hub (createNode() without network), and a seed with nodes over real ws
 * on 127.0.0.1 for what only a seed does (refusing what a node may not do).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNode, setLogSink, type MpNode } from '../node/index.ts';
import { deferred } from './util.ts';

const rcDir = mkdtempSync(join(tmpdir(), 'aemp-groups-'));
process.env.AEMP_RC = join(rcDir, 'rc.json');
const logs: string[] = [];
const logWaiters = new Set<() => void>();
setLogSink((level, ns, msg) => {
  if (level > 5) return;
  logs.push(`${ns}: ${msg}`);
  for (const w of logWaiters) w();
});

/** Resolves once `line` was logged (error or warn); fails after 5 s. */
function logged(line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!logs.includes(line)) return;
      logWaiters.delete(check);
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => (logWaiters.delete(check), reject(new Error(`not logged: ${line}\n${logs.join('\n')}`))), 5000);
    logWaiters.add(check);
    check();
  });
}
const nodes: MpNode[] = [];
after(async () => {
  for (const n of nodes) await n.shutdown();
  rmSync(rcDir, { recursive: true, force: true });
});

async function hubNode(opts: Record<string, unknown> = {}): Promise<MpNode> {
  const n = await createNode(opts);
  nodes.push(n);
  return n;
}

type Call = [string[], string[], string[]];

/** grpMon calls, awaitable one by one. */
function recorder(n: MpNode, group: string) {
  const calls: Call[] = [];
  let seen = 0;
  let wake: (() => void) | undefined;
  const stop = n.grpMon(group, (ports, added, removed) => {
    calls.push([ports, added, removed]);
    wake?.();
  });
  return {
    calls,
    stop,
    /** The next call: at once, or when it comes (woken by the monitor, never polled); fails after 5 s. */
    async next(): Promise<Call> {
      if (calls.length <= seen) {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`no grpMon call for ${group} (${JSON.stringify(calls)})`)), 5000);
          wake = () => {
            wake = undefined;
            clearTimeout(t);
            resolve();
          };
        });
      }
      return calls[seen++]!;
    },
    /** No call beyond those taken by next(). */
    get pending(): number {
      return calls.length - seen;
    },
  };
}

/** Let every hub node's run queue drain (the hub delivers through run queues, no I/O). */
const settle = async () => {
  for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
};

test('groups — grpGet right after grpReg includes the port; the guard or the port death unregisters it', async () => {
  const n = await hubNode();
  const p = n.port(() => {});
  const q = n.port(() => {});
  assert.equal(n.grpGet('t1'), undefined);
  const g = n.grpReg('t1', p);
  assert.deepEqual(n.grpGet('t1'), [p]);
  const g2 = n.grpReg('t1', p); // twice: stays until both guards are called
  n.grpReg('t1', q);
  assert.deepEqual(n.grpGet('t1'), [p, q].sort());
  g();
  g(); // idempotent
  assert.deepEqual(n.grpGet('t1'), [p, q].sort());
  g2();
  assert.deepEqual(n.grpGet('t1'), [q]);
  n.kil(q);
  await settle();
  assert.equal(n.grpGet('t1'), undefined);
});

test('groups — another node: the first grpGet starts watching (local view: undefined), later ones answer from the cache', async () => {
  const a = await hubNode();
  const b = await hubNode();
  const p = a.port(() => {});
  a.grpReg('t2', p);
  assert.equal(b.grpGet('t2'), undefined);
  await settle();
  assert.deepEqual(b.grpGet('t2'), [p]);
  const q = a.port(() => {});
  a.grpReg('t2', q);
  await settle();
  assert.deepEqual(b.grpGet('t2'), [p, q].sort());
  assert.equal(b.groups.watching, 1);
  await a.shutdown();
  await settle();
  assert.equal(b.grpGet('t2'), undefined);
});

test('groups — grpMon: the current members first, then every change in order, exact added/removed; the guard stops it', async () => {
  const a = await hubNode();
  const b = await hubNode();
  const p1 = a.port(() => {});
  a.grpReg('t3', p1);
  const r = recorder(b, 't3');
  assert.deepEqual(await r.next(), [[p1], [p1], []]);
  const p2 = a.port(() => {});
  const g2 = a.grpReg('t3', p2);
  const q = b.port(() => {});
  // b's own registration is in b's view at once; a's changes arrive from the hub in a's order.
  b.grpReg('t3', q);
  assert.deepEqual(await r.next(), [[p1, q].sort(), [q], []]);
  assert.deepEqual(await r.next(), [[p1, p2, q].sort(), [p2], []]);
  a.kil(p1);
  assert.deepEqual(await r.next(), [[p2, q].sort(), [], [p1]]);
  g2();
  assert.deepEqual(await r.next(), [[q], [], [p2]]);
  r.stop();
  b.kil(q);
  await settle();
  assert.equal(r.pending, 0);
  // A monitor set later starts from the current state (empty).
  const r2 = recorder(b, 't3');
  assert.deepEqual(await r2.next(), [[], [], []]);
});

test('groups — a change from the seed reaches each monitor after its first call, with lists of its own', async () => {
  const a = await hubNode();
  const b = await hubNode();
  const pa = a.port(() => {});
  const r1 = recorder(b, 'tq');
  assert.deepEqual(await r1.next(), [[], [], []]);
  // A monitor that empties the lists it is given: no other monitor may see that.
  const spoiler = b.grpMon('tq', (ports, added, removed) => {
    ports.length = added.length = removed.length = 0;
  });
  const late: Call[] = [];
  const x = b.port(() => {
    b.grpMon('tq', (ports, added, removed) => late.push([ports, added, removed]));
  });
  // b's run queue: x's message, then the seed's change (the hub's seed is the node itself). x sets a
  // monitor whose first call is queued behind the change: the change must not overtake it.
  b.snd(x, 'go');
  b.kernel.receive(b.NODE, b.NODE, ['grp_chg', 'tq', [pa], []]);
  assert.deepEqual(await r1.next(), [[pa], [pa], []]);
  await settle();
  assert.deepEqual(late, [[[], [], []], [[pa], [pa], []]]);
  spoiler();
});

test('groups — a monitor set by a monitor called for a change starts from the state with it, and is not told it again', async () => {
  const a = await hubNode();
  const b = await hubNode();
  const pa = a.port(() => {});
  const inner: Call[] = [];
  const outer = deferred();
  let n = 0;
  b.grpMon('tr', () => {
    if (++n !== 2) return;
    b.grpMon('tr', (ports, added, removed) => inner.push([ports, added, removed]));
    outer.resolve();
  });
  await settle();
  a.grpReg('tr', pa);
  await outer.promise;
  await settle();
  assert.deepEqual(inner, [[[pa], [pa], []]]);
});

test('groups — a grpMon set in a port callback runs in that port context and ends with the port', async () => {
  const a = await hubNode();
  const b = await hubNode();
  const selfs: Array<string | undefined> = [];
  const first = deferred();
  const watcher = b.port(() => {
    b.grpMon('t4', () => {
      selfs.push(b.self());
      first.resolve();
    });
  });
  b.snd(watcher, 'go');
  await first.promise;
  assert.deepEqual(selfs, [watcher]);
  b.kil(watcher);
  await settle();
  a.grpReg('t4', a.port(() => {}));
  await settle();
  assert.deepEqual(selfs, [watcher]);
  // A throwing monitor kills its port, like any callback.
  const died = deferred<unknown[]>();
  const w2 = b.port(() => b.grpMon('t4', () => {
    throw new Error('monitor fails');
  }));
  b.mon(w2, (...reason: unknown[]) => died.resolve(reason));
  b.snd(w2, 'go');
  assert.deepEqual(await died.promise, ['die', 'monitor fails']);
});

test('groups — bad arguments are refused with clear errors and stable codes', async () => {
  const a = await hubNode();
  const b = await hubNode();
  const p = a.port(() => {});
  const foreign = b.port(() => {});
  const code = (c: string, re: RegExp) => ({ code: c, message: re });
  assert.throws(() => a.grpReg('a b', p), code('AEMP_ERR_GROUP_NAME', /^grpReg: group name "a b" has characters outside/));
  assert.throws(() => a.grpReg('', p), code('AEMP_ERR_GROUP_NAME', /must not be empty/));
  assert.throws(() => a.grpReg(42 as unknown as string, p), code('AEMP_ERR_GROUP_NAME', /must be a string, not number/));
  assert.throws(() => a.grpGet('x'.repeat(200)), code('AEMP_ERR_GROUP_NAME', /^grpGet: .*200 characters long \(limit 128\)/));
  assert.throws(() => a.grpMon('a\nb', () => {}), code('AEMP_ERR_GROUP_NAME', /^grpMon: /));
  assert.throws(() => a.grpMon('t5', 'cb' as never), code('AEMP_ERR_BAD_ARGUMENT', /callback must be a function/));
  assert.throws(() => a.grpReg('t5', foreign), code('AEMP_ERR_GROUP_PORT', /is not a live port of this node \(a node registers only its own ports\)/));
  assert.throws(() => a.grpReg('t5', `${a.NODE}#never.made`), code('AEMP_ERR_GROUP_PORT', /not a live port/));
  a.kil(p);
  assert.throws(() => a.grpReg('t5', p), code('AEMP_ERR_GROUP_PORT', /not a live port/));
  assert.throws(() => a.grpReg('t5', a.NODE), code('AEMP_ERR_GROUP_PORT', /not a live port/));
  assert.equal(b.grpGet('t5'), undefined);
});

test('groups — per-node limits: registrations, groups, watches (grpGet evicts its oldest cache entry, grpMon refuses)', async () => {
  const n = await hubNode({ groups: { maxGroups: 2, maxMembers: 3, maxSubscriptions: 2 } });
  const ps = [0, 1, 2, 3].map(() => n.port(() => {}));
  n.grpReg('l1', ps[0]!);
  n.grpReg('l1', ps[1]!);
  n.grpReg('l2', ps[2]!);
  assert.throws(() => n.grpReg('l3', ps[3]!), { code: 'AEMP_ERR_GROUP_LIMIT', message: /limit maxMembers 3/ });
  assert.throws(() => n.grpReg('l1', ps[2]!), { code: 'AEMP_ERR_GROUP_LIMIT' });
  n.grpReg('l1', ps[0]!); // the same registration again takes no room
  assert.deepEqual(n.grpGet('l1'), [ps[0]!, ps[1]!].sort());
  const m = await hubNode({ groups: { maxGroups: 1 } });
  m.grpReg('l1', m.port(() => {}));
  assert.throws(() => m.grpReg('l2', m.port(() => {})), { code: 'AEMP_ERR_GROUP_LIMIT', message: /limit maxGroups 1/ });
  // Watches: two at most; grpGet evicts the least recently used one without monitors.
  const w = await hubNode({ groups: { maxSubscriptions: 2 } });
  w.grpGet('w1');
  w.grpGet('w2');
  w.grpGet('w1');
  w.grpGet('w3'); // evicts w2
  assert.equal(w.groups.watching, 2);
  w.grpMon('w1', () => {});
  w.grpMon('w3', () => {});
  assert.throws(() => w.grpMon('w4', () => {}), { code: 'AEMP_ERR_GROUP_LIMIT', message: /limit maxSubscriptions 2/ });
  assert.equal(w.grpGet('w5'), undefined); // no room: answered from the local view, not cached
  assert.equal(w.groups.watching, 2);
  await assert.rejects(createNode({ groups: { maxGroups: -1 } }), { code: 'AEMP_ERR_BAD_ARGUMENT' });
});

/** Lines printed by a program, awaitable (each print wakes the waiters; a wait is bounded). */
function lines() {
  const all: string[] = [];
  const waiters = new Set<() => void>();
  return {
    all,
    print: (l: string) => {
      all.push(l);
      for (const w of [...waiters]) w();
    },
    async until(line: string, from = 0): Promise<number> {
      const end = Date.now() + 5000;
      for (;;) {
        const i = all.indexOf(line, from);
        if (i >= 0) return i;
        if (Date.now() > end) throw new Error(`no line ${JSON.stringify(line)} in ${JSON.stringify(all)}`);
        await new Promise<void>((r) => {
          const wake = (): void => {
            clearTimeout(t);
            waiters.delete(wake);
            r();
          };
          const t = setTimeout(wake, end - Date.now());
          waiters.add(wake);
        });
      }
    },
  };
}

test('intro — receivers register in eg_receivers; a sender that started first finds them with grpGet and sends to every member', async () => {
  const sender = await hubNode();
  const out = lines();
  // The sender: retries (after) until the group has members, then sends to each with its own port as reply address.
  const me = sender.port();
  sender.rcv(me, 'reply', (text: string, from: string) => out.print(`reply: ${text} from ${from}`));
  const trySend = () => {
    const receivers = sender.grpGet('eg_receivers');
    if (!receivers) return void sender.after(10, trySend);
    for (const r of receivers) sender.snd(r, 'test', 123, me);
  };
  trySend();
  await settle();
  // Two receivers on other nodes: each prints the data and replies.
  const [r1, r2] = [await hubNode(), await hubNode()];
  const seen: unknown[] = [];
  for (const r of [r1, r2]) {
    const p = r.port();
    r.rcv(p, 'test', (data: unknown, replyPort: string) => {
      seen.push(data);
      r.snd(replyPort, 'reply', 'message received', r.NODE);
    });
    r.grpReg('eg_receivers', p);
  }
  await out.until(`reply: message received from ${r1.NODE}`);
  await out.until(`reply: message received from ${r2.NODE}`);
  assert.equal(out.all.length, 2);
  assert.deepEqual(seen, [123, 123]);
});

test('intro — chat: clients find the server through eg_chat_server, lines are relayed, a dead server is replaced and the clients come back', async () => {
  const { chatServer, chatClient } = await import('./fixtures/groups-chat.ts');
  const [s1, s2, n1, n2] = [await hubNode(), await hubNode(), await hubNode(), await hubNode()];
  const [srv1, srv2, c1, c2] = [lines(), lines(), lines(), lines()];
  const nick1 = chatClient(n1, 'nick1', c1.print, 10); // before any server: it retries
  await settle();
  const server = chatServer(s1, srv1.print);
  await c1.until('nick1 (joins)');
  const nick2 = chatClient(n2, 'nick2', c2.print, 10);
  await c1.until('nick2 (joins)');
  nick1.say('hello');
  await c2.until('nick1: hello');
  await c1.until('nick1: hello');
  assert.deepEqual(c1.all, ['nick1 (joins)', 'nick2 (joins)', 'nick1: hello']);
  assert.deepEqual(c2.all, ['nick2 (joins)', 'nick1: hello']);
  assert.deepEqual(srv1.all, ['relaying: nick1 (joins)', 'relaying: nick2 (joins)', 'relaying: nick1: hello']);
  // The server crashes: both client ports die with it, the supervisors retry until a new server registers.
  s1.kil(server, 'crashed');
  const lost1 = await c1.until('lost the server; reconnecting');
  await c2.until('lost the server; reconnecting');
  await settle();
  chatServer(s2, srv2.print);
  await c1.until('nick1 (joins)', lost1);
  await c2.until('nick2 (joins)', 2);
  await c1.until('nick2 (joins)', lost1);
  nick2.say('back');
  await c1.until('nick2: back', lost1);
  // A client that leaves: the server's monitor announces it.
  await n2.shutdown();
  const q = await c1.until(`nick2 (quits, ["transport_error","node ${n2.NODE} shut down"])`, lost1);
  assert.deepEqual(c1.all.slice(0, 4), ['nick1 (joins)', 'nick2 (joins)', 'nick1: hello', 'lost the server; reconnecting']);
  assert.equal(q, c1.all.length - 1);
  assert.ok(c1.all.filter((l) => l === 'lost the server; reconnecting').length === 1, JSON.stringify(c1.all));
  nick1.stop();
  nick2.stop();
});

test('groups — over ws: a seed refuses registrations beyond its limits and ports of other nodes, with codes; the node takes them back', async () => {
  const o = { secret: 'g', monitor_timeout: 2000, connect_interval: 200 };
  const seed = await createNode({ nodeid: 'gws-seed', binds: ['127.0.0.1:0'], ...o, groups: { maxMembers: 2 } });
  nodes.push(seed);
  const url = seed.net!.seedLink!.listening()[0]!;
  const a = await createNode({ nodeid: 'gws-a', seeds: [url], ...o });
  const b = await createNode({ nodeid: 'gws-b', seeds: [url], ...o });
  nodes.push(a, b);
  const ra = recorder(a, 'ws1');
  const rb = recorder(b, 'ws1');
  assert.deepEqual(await ra.next(), [[], [], []]);
  assert.deepEqual(await rb.next(), [[], [], []]);
  const [p1, p2, p3] = [a.port(() => {}), a.port(() => {}), a.port(() => {})];
  a.grpReg('ws1', p1);
  const g2 = a.grpReg('ws1', p2);
  a.grpReg('ws1', p3); // a's own limit is the default; the seed's is 2
  assert.deepEqual(a.grpGet('ws1'), [p1, p2, p3].sort());
  assert.deepEqual((await ra.next())[1], [p1]);
  assert.deepEqual((await ra.next())[1], [p2]);
  assert.deepEqual((await ra.next())[1], [p3]);
  assert.deepEqual(await ra.next(), [[p1, p2].sort(), [], [p3]]);
  assert.deepEqual(await rb.next(), [[p1], [p1], []]);
  assert.deepEqual(await rb.next(), [[p1, p2].sort(), [p2], []]);
  await logged(`groups: seed gws-seed refused registering ${p3} in group ws1: AEMP_ERR_GROUP_LIMIT: node gws-a has 2 registrations already (limit)`);
  // A node that skips its own checks: the seed refuses ports of other nodes, and seed-only updates.
  const bp = b.port(() => {});
  a.snd('gws-seed', 'grp_reg', 'ws1', bp);
  a.snd('gws-seed', 'grp_gone', 'gws-b');
  a.snd('gws-seed', 'grp_sync', [['gws-b', []]]);
  await logged(`groups: seed gws-seed refused registering ${bp} in group ws1: AEMP_ERR_GROUP_PORT: port ${bp} is not on node gws-a: a node registers only its own ports`);
  await logged('groups: refused grp_gone from gws-a: not a linked seed');
  await logged('groups: refused grp_sync from gws-a: not a linked seed');
  // The next change b sees is a's next real one: the refused requests changed nothing on the way.
  g2();
  assert.deepEqual(await rb.next(), [[p1], [], [p2]]);
  assert.deepEqual(b.grpGet('ws1'), [p1]);
});
