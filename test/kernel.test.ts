import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createNode, setLogSink, ManualClock, PortDiedError, TimeoutError, AbortedError } from '../lib/index.ts';
import { gcHeap, deferred } from './util.ts';

/** Capture log lines during fn (the kernel logs dying ports; tests check that). */
async function withLog<T>(fn: (lines: string[]) => Promise<T>): Promise<T> {
  const lines: string[] = [];
  setLogSink((_lvl, ns, msg) => lines.push(`[${ns}] ${msg}`));
  try {
    return await fn(lines);
  } finally {
    setLogSink(undefined);
  }
}


test('snd — delivery is asynchronous, never inside snd', async () => {
  const n = await createNode();
  const seen: number[] = [];
  const d = deferred();
  const p = n.port((x: number) => {
    seen.push(x);
    if (x === 2) d.resolve();
  });
  n.snd(p, 1);
  assert.deepEqual(seen, []);
  n.snd(p, 2);
  assert.deepEqual(seen, []);
  await d.promise;
  assert.deepEqual(seen, [1, 2]);
});

test('snd — a callback sending to itself is not re-entered', async () => {
  const n = await createNode();
  const events: string[] = [];
  const d = deferred();
  const p = n.port((x: number) => {
    events.push(`in ${x}`);
    if (x < 3) n.snd(p, x + 1);
    events.push(`out ${x}`);
    if (x === 3) d.resolve();
  });
  n.snd(p, 1);
  await d.promise;
  assert.deepEqual(events, ['in 1', 'out 1', 'in 2', 'out 2', 'in 3', 'out 3']);
});

test('snd — delivery takes its turn in the one microtask queue: after microtasks queued before the send, before those queued after', async () => {
  const n = await createNode();
  const events: string[] = [];
  const d = deferred();
  const p = n.port((x: string) => {
    events.push(`delivered ${x}`);
    if (x === 'b') d.resolve();
  });
  queueMicrotask(() => events.push('microtask 1'));
  n.snd(p, 'a');
  queueMicrotask(() => {
    events.push('microtask 2');
    n.snd(p, 'b'); // the drain that took 'a' is over: 'b' gets one of its own, queued behind 'promise 3'
  });
  void Promise.resolve().then(() => events.push('promise 3'));
  await d.promise;
  assert.deepEqual(events, ['microtask 1', 'delivered a', 'microtask 2', 'promise 3', 'delivered b']);
});

test('snd — 100,000 messages arrive in order per sender and port', async () => {
  const n = await createNode();
  const N = 100_000;
  const got: Record<string, number[]> = { a: [], b: [] };
  const d = deferred();
  let total = 0;
  const p = n.port((from: string, i: number) => {
    got[from]!.push(i);
    if (++total === 2 * N) d.resolve();
  });
  const a = n.port((i: number) => n.snd(p, 'a', i));
  for (let i = 0; i < N; i++) {
    n.snd(a, i);
    n.snd(p, 'b', i);
  }
  await d.promise;
  const expect = Array.from({ length: N }, (_, i) => i);
  assert.deepEqual(got.a, expect);
  assert.deepEqual(got.b, expect);
});

test('rcv — tag callbacks get the rest, others go to the default callback', async () => {
  const n = await createNode();
  const seen: unknown[] = [];
  const d = deferred();
  const p = n.port();
  n.rcv(p, 'add', (a: number, b: number) => seen.push(['add', a + b]));
  n.rcv(p, { mul: (a: number, b: number) => seen.push(['mul', a * b]), end: () => d.resolve() });
  n.rcv(p, (...msg: unknown[]) => seen.push(['default', ...msg]));
  n.snd(p, 'add', 2, 3);
  n.snd(p, 'mul', 2, 3);
  n.snd(p, 'other', 1);
  n.snd(p, 42);
  n.snd(p, 'end');
  await d.promise;
  assert.deepEqual(seen, [['add', 5], ['mul', 6], ['default', 'other', 1], ['default', 42]]);
});

test('rcv — undefined removes a tag callback', async () => {
  const n = await createNode();
  const seen: unknown[] = [];
  const d = deferred();
  const p = n.port((...m: unknown[]) => {
    seen.push(m);
    if (m[0] === 'end') d.resolve();
  });
  n.rcv(p, 't', () => seen.push('tag'));
  n.rcv(p, 't', undefined);
  n.snd(p, 't', 1);
  n.snd(p, 'end');
  await d.promise;
  assert.deepEqual(seen, [['t', 1], ['end']]);
});

test('rcv — a message with no callback kills the port with no_callback', async () => {
  const n = await createNode();
  const p = n.port();
  n.rcv(p, 'known', () => {});
  const d = deferred<unknown[]>();
  n.mon(p, (...r: unknown[]) => d.resolve(r));
  n.snd(p, 'unknown', 1);
  const reason = await d.promise;
  assert.equal(reason[0], 'no_callback');
  assert.match(String(reason[1]), /no callback/);
  assert.equal(n.kernel.ports.has(p), false);
});

test('rcv — throws for a port that is not local and alive', async () => {
  const n = await createNode();
  assert.throws(() => n.rcv('elsewhere#x', () => {}), { code: 'AEMP_ERR_BAD_ARGUMENT' });
});

test('kil — a throwing callback kills only its port with die, and is logged', async () => {
  await withLog(async (lines) => {
    const n = await createNode();
    const bad = n.port(() => {
      throw new Error('boom');
    });
    const good = deferred<string>();
    const other = n.port((x: string) => good.resolve(x));
    const d = deferred<unknown[]>();
    n.mon(bad, (...r: unknown[]) => d.resolve(r));
    n.snd(bad, 1);
    n.snd(other, 'still alive');
    assert.deepEqual(await d.promise, ['die', 'boom']);
    assert.equal(await good.promise, 'still alive');
    assert.ok(lines.some((l) => l.includes(`port ${bad} died: boom`)), lines.join('\n'));
  });
});

test('mon — normal kil gives the callback no reason', async () => {
  const n = await createNode();
  const p = n.port(() => {});
  const d = deferred<unknown[]>();
  n.mon(p, (...r: unknown[]) => d.resolve(r));
  n.kil(p);
  assert.deepEqual(await d.promise, []);
});

test('mon — rcvPort form does not kill on a normal kill, kills with the same reason otherwise', async () => {
  const n = await createNode();
  const a = n.port(() => {});
  const watcherA = n.port(() => {});
  n.mon(a, watcherA);
  const b = n.port(() => {});
  const watcherB = n.port(() => {});
  n.mon(b, watcherB);
  const dB = deferred<unknown[]>();
  n.mon(watcherB, (...r: unknown[]) => dB.resolve(r));
  n.kil(a); // normal
  n.kil(b, 'crashed', 42);
  assert.deepEqual(await dB.promise, ['crashed', 42]);
  assert.equal(n.kernel.ports.has(watcherA), true);
  assert.equal(n.kernel.ports.has(watcherB), false);
});

test('mon — message form sends msg plus reason; mon(port) uses self()', async () => {
  const n = await createNode();
  const target = n.port(() => {});
  const got = deferred<unknown[]>();
  const rcvP = n.port((...m: unknown[]) => got.resolve(m));
  n.mon(target, rcvP, 'down', 'x');
  n.kil(target, 'oops');
  assert.deepEqual(await got.promise, ['down', 'x', 'oops']);

  const t2 = n.port(() => {});
  const ready = deferred();
  const supervisor = n.port(() => {
    n.mon(t2); // watched by self()
    ready.resolve();
  });
  const sd = deferred<unknown[]>();
  n.mon(supervisor, (...r: unknown[]) => sd.resolve(r));
  n.snd(supervisor, 'watch');
  await ready.promise;
  n.kil(t2, 'bad');
  assert.deepEqual(await sd.promise, ['bad']);
});

test('mon — without a receiving port or self() it throws', async () => {
  const n = await createNode();
  const p = n.port(() => {});
  assert.throws(() => n.mon(p), { code: 'AEMP_ERR_BAD_ARGUMENT' });
});

test('mon — one-shot, and the guard cancels', async () => {
  const n = await createNode();
  const p = n.port(() => {});
  let fired = 0;
  let cancelledFired = 0;
  n.mon(p, () => fired++);
  const g = n.mon(p, () => cancelledFired++);
  g();
  n.kil(p, 'x');
  n.kil(p, 'again');
  const d = deferred();
  n.snd(n.port(() => d.resolve()), 'flush');
  await d.promise;
  assert.equal(fired, 1);
  assert.equal(cancelledFired, 0);
});

test('mon — a dead or never-existing port fires no_such_port, asynchronously', async () => {
  const n = await createNode();
  const dead = n.port(() => {});
  n.kil(dead);
  const results: unknown[][] = [];
  let sync = true;
  const d = deferred();
  n.mon(dead, (...r: unknown[]) => {
    assert.equal(sync, false);
    results.push(r);
  });
  n.mon(`${n.NODE}#never`, (...r: unknown[]) => {
    results.push(r);
    d.resolve();
  });
  sync = false;
  await d.promise;
  assert.equal(results.length, 2);
  for (const r of results) assert.equal(r[0], 'no_such_port');
});

test('monGuard — disposes guards exactly once when the port dies', async () => {
  const n = await createNode();
  const p = n.port(() => {});
  let a = 0;
  let b = 0;
  const disposable = { [Symbol.dispose ?? Symbol.for('Symbol.dispose')]: () => b++ };
  n.monGuard(p, () => a++, disposable as never);
  const d = deferred();
  n.mon(p, () => d.resolve());
  n.kil(p, 'x');
  n.kil(p, 'y');
  await d.promise;
  const f = deferred();
  n.snd(n.port(() => f.resolve()), 1);
  await f.promise;
  assert.equal(a, 1);
  assert.equal(b, 1);
});

test('self — is the running port inside callbacks and undefined outside', async () => {
  const n = await createNode();
  assert.equal(n.self(), undefined);
  const d = deferred<string | undefined>();
  const p = n.port(() => d.resolve(n.self()));
  n.snd(p, 1);
  assert.equal(await d.promise, p);
  assert.equal(n.self(), undefined);
});

test('psub — a later timer callback runs in the port context and a throw kills that port', async () => {
  const clock = new ManualClock();
  const n = await createNode({ clock });
  let inner: string | undefined;
  const p = n.port(() => {
    n.after(
      10,
      n.psub(() => {
        inner = n.self();
        throw new Error('late failure');
      }),
    );
  });
  const d = deferred<unknown[]>();
  n.mon(p, (...r: unknown[]) => d.resolve(r));
  n.snd(p, 'start');
  const f = deferred();
  n.snd(n.port(() => f.resolve()), 1);
  await f.promise;
  await withLog(async () => clock.advance(10));
  assert.equal(inner, p);
  assert.deepEqual(await d.promise, ['die', 'late failure']);
  assert.throws(() => n.psub(() => {}), { code: 'AEMP_ERR_BAD_ARGUMENT' });
});

test('peval — runs in the given port context; a throw kills that port', async () => {
  const n = await createNode();
  const p = n.port(() => {});
  assert.deepEqual(n.peval(p, (x: number) => [n.self(), x * 2], 21), [p, 42]);
  const d = deferred<unknown[]>();
  n.mon(p, (...r: unknown[]) => d.resolve(r));
  const r = await withLog(async () => n.peval(p, () => { throw new Error('in peval'); }));
  assert.equal(r, undefined);
  assert.deepEqual(await d.promise, ['die', 'in peval']);
});

test('after — callback and message forms fire on the injected clock; the guard cancels', async () => {
  const clock = new ManualClock();
  const n = await createNode({ clock });
  const seen: unknown[] = [];
  const d = deferred();
  const p = n.port((...m: unknown[]) => {
    seen.push(m);
    d.resolve();
  });
  n.after(100, () => seen.push('cb'));
  n.after(200, p, 'tick', 1);
  const g = n.after(150, () => seen.push('cancelled'));
  g();
  clock.advance(99);
  assert.deepEqual(seen, []);
  clock.advance(101);
  await d.promise;
  assert.deepEqual(seen, ['cb', ['tick', 1]]);
});

test('spawn — runs the init in the new port context', async () => {
  const n = await createNode();
  const d = deferred<unknown[]>();
  n.registerInit('echo', (replyTo: string, x: number) => {
    const me = n.self()!;
    n.rcv(me, 'ping', (from: string) => n.snd(from, 'pong', me));
    n.snd(replyTo, 'started', me, x);
  });
  const caller = n.port((...m: unknown[]) => d.resolve(m));
  const w = n.spawn(n.NODE, 'echo', caller, 7);
  assert.equal(n.nodeOf(w), n.NODE);
  assert.deepEqual(await d.promise, ['started', w, 7]);
  const r = await n.call(w, ['ping']);
  assert.deepEqual(r, ['pong', w]);
});

test('spawn — unknown init name or a throwing init kills the port; a monitor set right after fires', async () => {
  await withLog(async () => {
    const n = await createNode();
    n.registerInit('crash', () => {
      throw new Error('init failed');
    });
    const a = n.spawn(n.NODE, 'nope');
    const da = deferred<unknown[]>();
    n.mon(a, (...r: unknown[]) => da.resolve(r));
    const b = n.spawn(n.NODE, 'crash');
    const db = deferred<unknown[]>();
    n.mon(b, (...r: unknown[]) => db.resolve(r));
    const ra = await da.promise;
    assert.equal(ra[0], 'die');
    assert.match(String(ra[1]), /no init function registered as "nope"/);
    assert.deepEqual(await db.promise, ['die', 'init failed']);
  });
});

test('cal — appends a reply port and calls back with the reply', async () => {
  const n = await createNode();
  const server = n.port();
  n.rcv(server, 'add', (a: number, b: number, reply: string) => n.snd(reply, a + b));
  const d = deferred<unknown[]>();
  const replyPort = n.cal(server, 'add', 2, 3, (...r: unknown[]) => d.resolve(r));
  assert.equal(typeof replyPort, 'string');
  assert.deepEqual(await d.promise, [5]);
  assert.equal(n.kernel.ports.has(replyPort), false);
});

test('cal — timeout calls back with no arguments and frees the reply port', async () => {
  const clock = new ManualClock();
  const n = await createNode({ clock });
  const silent = n.port(() => {});
  const d = deferred<unknown[]>();
  const replyPort = n.cal(silent, 'hello', (...r: unknown[]) => d.resolve(r), 500);
  clock.advance(500);
  assert.deepEqual(await d.promise, []);
  assert.equal(n.kernel.ports.has(replyPort), false);
});

test('call — resolves with the reply; rejects with a TimeoutError', async () => {
  const clock = new ManualClock();
  const n = await createNode({ clock });
  const echo = n.port((x: unknown, reply: string) => n.snd(reply, 'echo', x));
  assert.deepEqual(await n.call(echo, ['hi']), ['echo', 'hi']);
  const silent = n.port(() => {});
  const p = n.call(silent, ['x'], { timeoutMs: 1000 });
  clock.advance(1000);
  await assert.rejects(p, (e: unknown) => e instanceof TimeoutError && e.code === 'AEMP_ERR_TIMEOUT');
});

test('call — target death rejects with the kill reason', async () => {
  const n = await createNode();
  const doomed = n.port((_x: unknown, _reply: string) => n.kil(n.self()!, 'overloaded', 3));
  await assert.rejects(n.call(doomed, ['work']), (e: unknown) => {
    assert.ok(e instanceof PortDiedError);
    assert.equal(e.code, 'AEMP_ERR_PORT_DIED');
    assert.deepEqual(e.reason, ['overloaded', 3]);
    return true;
  });
});

test('call — an AbortSignal cancels and frees the reply port', async () => {
  const n = await createNode();
  let replyPort = '';
  const silent = n.port((_x: unknown, reply: string) => {
    replyPort = reply;
    ac.abort();
  });
  const ac = new AbortController();
  await assert.rejects(n.call(silent, ['x'], { signal: ac.signal }), (e: unknown) => e instanceof AbortedError);
  assert.notEqual(replyPort, '');
  assert.equal(n.kernel.ports.has(replyPort), false);
  const pre = new AbortController();
  pre.abort();
  await assert.rejects(n.call(silent, ['y'], { signal: pre.signal }), { code: 'AEMP_ERR_ABORTED' });
});

test('portAsync — messages queue until taken; get(tag) leaves the others in order', async () => {
  const n = await createNode();
  const out = deferred<unknown[]>();
  const p = n.portAsync(async (ctx) => {
    const b = await ctx.get('b');
    const first = await ctx.get();
    const second = await ctx.get();
    const c = await ctx.getCond((tag: string, x: number) => tag === 'c' && x > 1);
    const a3 = await ctx.get('a');
    out.resolve([b, first, second, c, a3]);
  });
  n.snd(p, 'a', 1);
  n.snd(p, 'c', 1);
  n.snd(p, 'b', 2);
  n.snd(p, 'c', 2);
  n.snd(p, 'a', 3);
  assert.deepEqual(await out.promise, [[2], ['a', 1], ['c', 1], ['c', 2], [3]]);
});

test('portAsync — get with a timeout resolves undefined; returning kills normally; throwing kills with die', async () => {
  const clock = new ManualClock();
  const n = await createNode({ clock });
  const got = deferred<unknown>();
  const a = n.portAsync(async (ctx) => {
    const p = ctx.get('never', 100);
    clock.advance(100);
    got.resolve(await p);
  });
  const da = deferred<unknown[]>();
  n.mon(a, (...r: unknown[]) => da.resolve(r));
  assert.equal(await got.promise, undefined);
  assert.deepEqual(await da.promise, []);

  await withLog(async () => {
    const b = n.portAsync(async (ctx) => {
      await ctx.get('go');
      throw new Error('async failure');
    });
    const db = deferred<unknown[]>();
    n.mon(b, (...r: unknown[]) => db.resolve(r));
    n.snd(b, 'go');
    assert.deepEqual(await db.promise, ['die', 'async failure']);
  });
});

test('portAsync — a kil rejects the pending get so the body unwinds', async () => {
  const n = await createNode();
  const err = deferred<unknown>();
  const p = n.portAsync(async (ctx) => {
    try {
      await ctx.get('x');
    } catch (e) {
      err.resolve(e);
      throw e;
    }
  });
  const started = deferred();
  n.snd(n.port(() => started.resolve()), 1);
  await started.promise;
  n.kil(p, 'stop');
  const e = await err.promise;
  assert.ok(e instanceof PortDiedError);
  assert.deepEqual((e as PortDiedError).reason, ['stop']);
});

test('ports — 1,000,000 create/kill cycles do not grow the heap', async () => {
  const n = await createNode();
  const cb = () => {};
  const cycle = (count: number) => {
    for (let i = 0; i < count; i++) {
      const p = n.port(cb);
      n.rcv(p, 't', cb);
      n.mon(p, cb);
      n.kil(p);
    }
  };
  const flush = async () => {
    const d = deferred();
    const f = n.port(() => d.resolve());
    n.snd(f, 1);
    await d.promise;
    n.kil(f);
  };
  for (let r = 0; r < 3; r++) {
    cycle(100_000);
    await flush();
  }
  const before = gcHeap();
  for (let r = 0; r < 10; r++) {
    cycle(100_000);
    await flush();
  }
  const after = gcHeap();
  assert.equal(n.kernel.ports.size, 0);
  // 1M cycles: allow 2 MB of noise (2 bytes per cycle); a leak of even one small object per port would be >= 30 MB.
  assert.ok(after - before < 2_000_000, `heap grew by ${after - before} bytes`);
});

test('ports — IDs are never reused, also not across two nodes started with the same node ID', async () => {
  const a = await createNode({ nodeid: 'same-id' });
  const ids = new Set<string>();
  for (let i = 0; i < 1000; i++) ids.add(a.port());
  await a.shutdown();
  const b = await createNode({ nodeid: 'same-id' });
  for (let i = 0; i < 1000; i++) ids.add(b.port());
  assert.equal(ids.size, 2000);
  await b.shutdown();
});

test('nodeOf / portIsLocal — parse port IDs', async () => {
  const n = await createNode({ nodeid: 'n1' });
  const p = n.port();
  assert.equal(n.nodeOf(p), 'n1');
  assert.equal(n.nodeOf('n1'), 'n1');
  assert.equal(n.portIsLocal(p), true);
  assert.equal(n.portIsLocal('n2#x'), false);
  await n.shutdown();
});

test('createNode — two nodes in one process message, monitor and spawn each other', async () => {
  const a = await createNode();
  const b = await createNode();
  b.registerInit('worker', (boss: string) => {
    const me = b.self()!;
    b.rcv(me, 'job', (x: number) => b.snd(boss, 'done', x * 10));
  });
  const done = deferred<unknown[]>();
  const boss = a.port((...m: unknown[]) => done.resolve(m));
  const w = a.spawn(b.NODE, 'worker', boss);
  assert.equal(a.portIsLocal(w), false);
  a.snd(w, 'job', 4);
  assert.deepEqual(await done.promise, ['done', 40]);
  const dm = deferred<unknown[]>();
  a.mon(w, (...r: unknown[]) => dm.resolve(r));
  a.kil(w, 'remote kill');
  assert.deepEqual(await dm.promise, ['remote kill']);
  const dn = deferred<unknown[]>();
  const other = b.port(() => {});
  a.mon(other, (...r: unknown[]) => dn.resolve(r));
  await new Promise((r) => setImmediate(r));
  await b.shutdown();
  const r = await dn.promise;
  assert.equal(r[0], 'transport_error');
});

test('node port — a request read off a link runs at once when nothing is queued, else behind what is', async () => {
  const n = await createNode();
  const k = n.kernel;
  const seen: string[] = [];
  k.nodePort.set('x_test', (from, args) => seen.push(`${from} ${String(args[0])}`));
  // Nothing queued: it ran before receive returned.
  k.receive('peer', n.NODE, ['x_test', 1], undefined, true);
  assert.deepEqual(seen, ['peer 1']);
  // A message for a port came first (in the same frame, say): the request waits its turn behind it.
  const d = deferred();
  const p = n.port((x: number) => (seen.push(`port ${x}`), d.resolve()));
  k.receive('peer', p, [7], undefined, true);
  k.receive('peer', n.NODE, ['x_test', 2], undefined, true);
  assert.deepEqual(seen, ['peer 1']);
  await d.promise;
  await Promise.resolve();
  assert.deepEqual(seen, ['peer 1', 'port 7', 'peer 2']);
  // Not from a link (the in-process hub, a caller's own stack): queued, as every message is.
  k.receive('peer', n.NODE, ['x_test', 3]);
  assert.deepEqual(seen, ['peer 1', 'port 7', 'peer 2']);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(seen, ['peer 1', 'port 7', 'peer 2', 'peer 3']);
});

test('node port — a request read off a link that throws is logged, and the link and the kernel go on', async () => {
  await withLog(async (lines) => {
    const n = await createNode();
    const k = n.kernel;
    k.nodePort.set('x_throw', () => {
      throw new Error('boom');
    });
    k.nodePort.set('x_ok', () => lines.push('ok ran'));
    assert.doesNotThrow(() => k.receive('peer', n.NODE, ['x_throw'], undefined, true));
    k.receive('peer', n.NODE, ['x_ok'], undefined, true);
    assert.deepEqual(lines.filter((l) => /boom|ok ran/.test(l)).map((l) => l.split(':')[0]), ['[kernel] uncaught error in a monitor or task', 'ok ran']);
  });
});
