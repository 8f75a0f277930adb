/**
 * Capabilities in the node-port dispatch (lib/caps.ts, kernel.ts,
 * remote.ts, trace.ts): requests from a page (token or anonymous node) or a
 * secret holder, handed to a node as its mesh would, with a transport that
 * records what the node sends back. The real transport is in
 * test/security/caps-*.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CAPS, denial, parseCaps, stampedSender, TRUSTED, type Sender } from '../lib/caps.ts';
import type { Message } from '../lib/kernel.ts';
import { MpNode } from '../lib/node.ts';
import { installTrace } from '../lib/trace.ts';
import { BadArgumentError } from '../lib/errors.ts';

const PAGE: Sender = { kind: 'token', caps: [] };
const ANON: Sender = { kind: 'anon', caps: [] };

/** A node whose messages to other nodes are recorded in `out`. */
function node(id = 'target') {
  const n = new MpNode({ nodeid: id });
  const out: Array<{ to: string; port: string; msg: Message }> = [];
  let wake: (() => void) | undefined;
  n.kernel.transport = {
    send: (_from, to, port, msg) => {
      out.push({ to, port, msg });
      wake?.();
    },
  };
  installTrace(n);
  n.registerInit('worker', () => n.rcv(n.self()!, () => {}));
  /** Resolves once `out` holds `count` messages (an import() under a loader may take several turns). */
  const sent = (count: number) => new Promise<void>((resolve) => {
    wake = () => { if (out.length >= count) resolve(); };
    wake();
  });
  return { n, out, sent };
}

/** Let the run queue drain (node-port requests run from it). */
const settle = () => new Promise((r) => setTimeout(r, 0));

test('caps — denial: secret holders may do everything, pages only the open requests and what their caps grant', () => {
  for (const req of ['kil', 'spawn', 'trace', 'nodes', 'snd', 'grp_chg', 'grp_sync', 'grp_node', 'anything']) assert.equal(denial(TRUSTED, req), undefined);
  for (const req of ['mon', 'unmon', 'monfire', 'gap', 'rtc', 'ice', 'grp_hello', 'grp_reg', 'grp_unreg', 'grp_sub', 'grp_unsub', 'denied', 'refused']) {
    assert.equal(denial(PAGE, req), undefined, req);
    assert.equal(denial(ANON, req), undefined, req);
  }
  assert.match(denial(PAGE, 'kil')!, /without the 'kil' capability/);
  assert.match(denial(ANON, 'snd')!, /without the 'sndon' capability/);
  assert.match(denial(PAGE, 'nodes')!, /'trace' capability/);
  for (const req of ['grp_chg', 'grp_state', 'grp_refused', 'grp_sync', 'grp_node', 'grp_add', 'grp_del', 'grp_gone', 'constructor', 'toString'])
    assert.match(denial({ kind: 'token', caps: CAPS }, req)!, /secret holders only/, req);
  assert.equal(denial({ kind: 'token', caps: ['kil'] }, 'kil'), undefined);
  assert.equal(denial({ kind: 'anon', caps: ['spawn', 'trace'] }, 'trace'), undefined);
});

test('caps — parseCaps and a seed\'s stamp', () => {
  assert.deepEqual(parseCaps(['kil', 'spawn', 'kil']), ['kil', 'spawn']);
  assert.throws(() => parseCaps(['kil', 'root']), BadArgumentError);
  assert.throws(() => parseCaps('kil'), BadArgumentError);
  assert.equal(stampedSender(undefined, undefined), TRUSTED);
  assert.deepEqual(stampedSender('token', ['kil', 'root', 3]), { kind: 'token', caps: ['kil'] });
  // A stamp that is not a page's kind grants nothing (never 'secret').
  assert.deepEqual(stampedSender('secret', CAPS), { kind: 'anon', caps: [] });
  assert.deepEqual(stampedSender('anon', 'kil'), { kind: 'anon', caps: [] });
});

test('caps — a page may not kil: the port lives, the page is told AEMP_ERR_DENIED; a secret holder and a page with the kil cap may', async () => {
  const { n, out } = node();
  const p = n.port(() => {});
  n.kernel.receive('web/p', 'target', ['kil', p, 'die', 'by page'], PAGE);
  await settle();
  assert.ok(n.kernel.ports.has(p));
  assert.equal(out.length, 1);
  assert.deepEqual(out[0]!.to, 'web/p');
  assert.deepEqual(out[0]!.msg.slice(0, 2), ['denied', 'kil']);
  assert.match(out[0]!.msg[2] as string, /^AEMP_ERR_DENIED: a token node may not send 'kil' requests without the 'kil' capability/);
  const reasons: unknown[][] = [];
  n.mon(p, (...r: unknown[]) => reasons.push(r));
  n.kernel.receive('web/k', 'target', ['kil', p, 'killed', 'with cap'], { kind: 'token', caps: ['kil'] });
  await settle();
  assert.equal(n.kernel.ports.has(p), false);
  assert.deepEqual(reasons, [['killed', 'with cap']]);
  const q = n.port(() => {});
  n.kernel.receive('svc', 'target', ['kil', q], TRUSTED);
  await settle();
  assert.equal(n.kernel.ports.has(q), false);
});

test('caps — a page\'s spawn is refused and its monitors on the new port fire with denied; a secret holder\'s spawn runs', async () => {
  const { n, out } = node();
  n.kernel.receive('web/p', 'target', ['spawn', 'target#web.1', 'worker'], PAGE);
  n.kernel.receive('web/p', 'target', ['mon', 'target#web.1', 7], PAGE);
  // Another node asking about the same port ID hears the usual no_such_port.
  n.kernel.receive('other', 'target', ['mon', 'target#web.1', 1], TRUSTED);
  await settle();
  assert.equal(n.kernel.ports.has('target#web.1'), false);
  const fired = out.filter((o) => o.msg[0] === 'monfire');
  assert.deepEqual(fired.map((o) => [o.to, o.msg[1], o.msg[2]]), [
    ['web/p', 7, 'denied'],
    ['other', 1, 'no_such_port'],
  ]);
  assert.match(fired[0]!.msg[3] as string, /^AEMP_ERR_DENIED: spawn of target#web.1 refused/);
  // The seed refused it on the page's behalf (seed.ts): the same answer.
  n.kernel.receive('web/q', 'target', ['refused', 'spawn', 'no spawn cap', 'target#web.2'], PAGE);
  n.kernel.receive('web/q', 'target', ['mon', 'target#web.2', 3], PAGE);
  await settle();
  assert.deepEqual(out.at(-1)!.msg.slice(0, 3), ['monfire', 3, 'denied']);
  n.kernel.receive('svc', 'target', ['spawn', 'target#svc.1', 'worker'], TRUSTED);
  await settle();
  assert.ok(n.kernel.ports.has('target#svc.1'));
});

test('caps — a page may not trace or list nodes; its reply port hears refused', async () => {
  const { n, out, sent } = node();
  n.kernel.receive('web/p', 'target', ['trace', 'web/p#r.1'], PAGE);
  n.kernel.receive('anon/x', 'target', ['nodes', 'anon/x#r.1'], ANON);
  await settle();
  assert.equal(n.kernel.tracer, undefined);
  assert.deepEqual(out.map((o) => [o.to, o.port, o.msg[0]]), [
    ['web/p', 'web/p#r.1', 'refused'],
    ['web/p', 'web/p', 'denied'],
    ['anon/x', 'anon/x', 'denied'],
  ]);
  // The tracing loads with the first allowed request (lib/trace-serve.ts), so the reply comes after the import.
  n.kernel.receive('web/t', 'target', ['trace', 'web/t#r.1'], { kind: 'token', caps: ['trace'] });
  await sent(5);
  assert.deepEqual(out.slice(3).map((o) => [o.port, o.msg]), [
    ['web/t', ['mon', 'web/t#r.1', 1]], // the tracer watches its reply port, so it stops when the asker goes
    ['web/t#r.1', ['on', 'target', null]],
  ]);
});

test('caps — sndOn launders nothing: to this node\'s node port it runs as the requester\'s own request; to another node\'s, never', async () => {
  const { n, out } = node();
  const p = n.port(() => {});
  const got: unknown[][] = [];
  const q = n.port((...m: unknown[]) => got.push(m));
  // A page without sndon: refused outright.
  n.kernel.receive('web/p', 'target', ['snd', 'target', 'kil', p], PAGE);
  // A page with sndon: the inner kil is still the page's, so refused.
  n.kernel.receive('web/s', 'target', ['snd', 'target', 'kil', p], { kind: 'token', caps: ['sndon'] });
  // Anyone, to another node's node port (a group update, a monitor firing): refused, secret holders too.
  n.kernel.receive('svc', 'target', ['snd', 'watcher', 'grp_chg', 'g', ['web/s#x'], []], TRUSTED);
  n.kernel.receive('web/s', 'target', ['snd', 'other', 'monfire', 1, 'killed'], { kind: 'token', caps: ['sndon'] });
  // To a port: AEMP's sndOn.
  n.kernel.receive('web/s', 'target', ['snd', q, 'hello'], { kind: 'token', caps: ['sndon'] });
  n.kernel.receive('svc', 'target', ['snd', 'elsewhere#1', 'hi'], TRUSTED);
  await settle();
  await settle();
  assert.ok(n.kernel.ports.has(p));
  assert.deepEqual(got, [['hello']]);
  assert.deepEqual(out.map((o) => [o.to, o.port, o.msg[0], o.msg[1]]), [
    ['web/p', 'web/p', 'denied', 'snd'],
    ['web/s', 'web/s', 'denied', 'kil'],
    ['svc', 'svc', 'denied', 'snd'],
    ['web/s', 'web/s', 'denied', 'snd'],
    ['elsewhere', 'elsewhere#1', 'hi', undefined],
  ]);
  // sndOn of an sndOn to itself: one level only (a long chain would recurse once per element).
  const chain: unknown[] = ['snd', 'target'];
  for (let i = 0; i < 50_000; i++) chain.push('snd', 'target');
  n.kernel.receive('svc', 'target', [...chain, 'kil', p], TRUSTED);
  await settle();
  assert.deepEqual(out.at(-1)!.msg.slice(0, 2), ['denied', 'snd']);
  assert.match(out.at(-1)!.msg[2] as string, /sndOn of an sndOn/);
  assert.ok(n.kernel.ports.has(p));
  // A secret holder's sndOn of a request to this node's own node port runs, as its own.
  n.kernel.receive('svc', 'target', ['snd', 'target', 'kil', p], TRUSTED);
  await settle();
  await settle();
  assert.equal(n.kernel.ports.has(p), false);
});

test('caps — seed-only and registry requests from a page are denied; monfire only fires monitors on the sender\'s ports', async () => {
  const { n, out } = node();
  void n.groups; // a node's group handlers (grp_state, grp_chg, grp_refused)
  const ran: string[] = [];
  for (const req of ['grp_sync', 'grp_node', 'grp_add', 'grp_del', 'grp_gone']) n.kernel.nodePort.set(req, () => ran.push(req)); // as on a seed
  for (const req of ['grp_chg', 'grp_state', 'grp_refused', 'grp_sync', 'grp_node', 'grp_add', 'grp_del', 'grp_gone'])
    n.kernel.receive('web/p', 'target', [req, 'g', [], []], PAGE);
  await settle();
  assert.deepEqual(out.map((o) => o.msg[1]), ['grp_chg', 'grp_state', 'grp_refused', 'grp_sync', 'grp_node', 'grp_add', 'grp_del', 'grp_gone']);
  assert.deepEqual(ran, []);
  n.kernel.receive('seed2', 'target', ['grp_gone', 'x'], TRUSTED);
  await settle();
  assert.deepEqual(ran, ['grp_gone']);
  const fired: unknown[][] = [];
  n.mon('svc#a', (...r: unknown[]) => fired.push(r));
  const mid = out.at(-1)!.msg[2] as number;
  assert.equal(out.at(-1)!.msg[0], 'mon');
  n.kernel.receive('web/p', 'target', ['monfire', mid, 'killed'], PAGE);
  await settle();
  assert.deepEqual(fired, []);
  n.kernel.receive('svc', 'target', ['monfire', mid, 'killed'], TRUSTED);
  await settle();
  assert.deepEqual(fired, [['killed']]);
});

test('caps — remote monitors per requesting node are capped (pages lower); the excess fires with AEMP_ERR_QUOTA; the count frees when the node goes', async () => {
  const { n, out } = node();
  n.remote.limits = { maxRemoteMonitors: 4, pageMaxRemoteMonitors: 2 };
  const p = n.port(() => {});
  for (let i = 1; i <= 3; i++) n.kernel.receive('web/p', 'target', ['mon', p, i], PAGE);
  for (let i = 1; i <= 5; i++) n.kernel.receive('svc', 'target', ['mon', p, i], TRUSTED);
  await settle();
  assert.deepEqual(out.map((o) => [o.to, o.msg[1], o.msg[2]]), [
    ['web/p', 3, 'denied'],
    ['svc', 5, 'denied'],
  ]);
  assert.match(out[0]!.msg[3] as string, /^AEMP_ERR_QUOTA: node web\/p holds 2 monitors on ports of target \(limit 2\)/);
  n.remote.nodeDown('web/p', ['transport_error', 'gone']);
  n.kernel.receive('web/p', 'target', ['mon', p, 9], PAGE);
  await settle();
  n.kernel.kill(n.kernel.ports.get(p)!, ['bye']);
  await settle();
  // The page's new monitor and svc's four fire; none is left behind.
  assert.deepEqual(out.slice(2).map((o) => [o.to, o.msg[1], o.msg[2]]), [
    ['svc', 1, 'bye'],
    ['svc', 2, 'bye'],
    ['svc', 3, 'bye'],
    ['svc', 4, 'bye'],
    ['web/p', 9, 'bye'],
  ]);
});

test('caps — 200,000 remote monitors on one port are dropped when their node goes, and the port keeps none of them', async () => {
  const { n, out } = node();
  n.remote.limits = { maxRemoteMonitors: 300_000, pageMaxRemoteMonitors: 300_000 };
  const p = n.port(() => {});
  for (let i = 1; i <= 200_000; i++) n.kernel.receive('web/p', 'target', ['mon', p, i], PAGE);
  await settle();
  const port = n.kernel.ports.get(p)!;
  assert.equal((port.mons as Set<unknown>).size, 200_000);
  n.remote.nodeDown('web/p', ['transport_error', 'gone']);
  assert.equal((port.mons as Set<unknown>).size, 0);
  n.kernel.kill(port, ['bye']);
  await settle();
  assert.equal(out.length, 0);
});

test('caps — maxPendingCalls: past it call rejects and cal throws AEMP_ERR_QUOTA; a settled call frees its slot', async () => {
  const { n } = node();
  n.maxPendingCalls = 2;
  const svc = n.port(() => {});
  const c1 = n.call(svc, ['a'], { timeoutMs: 5 });
  const c2 = n.call(svc, ['b']);
  await assert.rejects(n.call(svc, ['c']), (e: Error & { code?: string }) => e.code === 'AEMP_ERR_QUOTA' && /limit maxPendingCalls 2/.test(e.message));
  assert.throws(() => n.cal(svc, 'd', () => {}), (e: Error & { code?: string }) => e.code === 'AEMP_ERR_QUOTA');
  await assert.rejects(c1, (e: Error & { code?: string }) => e.code === 'AEMP_ERR_TIMEOUT');
  const echo = n.port((...m: unknown[]) => n.snd(m.at(-1) as string, 'ok'));
  assert.deepEqual(await n.call(echo, ['e']), ['ok']);
  n.kil(svc, 'gone');
  await assert.rejects(c2, (e: Error & { code?: string }) => e.code === 'AEMP_ERR_PORT_DIED');
  assert.equal(n.pendingCalls, 0);
});

test('caps — a monitor ID sent again replaces the first monitor instead of leaving it on the port uncounted', async () => {
  const { n, out } = node();
  n.remote.limits = { maxRemoteMonitors: 2, pageMaxRemoteMonitors: 2 };
  const p = n.port(() => {});
  for (let i = 0; i < 5; i++) n.kernel.receive('web/p', 'target', ['mon', p, 1], PAGE);
  n.kernel.receive('web/p', 'target', ['mon', p, 2], PAGE);
  await settle();
  assert.equal(out.length, 0);
  assert.equal((n.kernel.ports.get(p)!.mons as Set<unknown>).size, 2);
  n.kernel.kill(n.kernel.ports.get(p)!, ['bye']);
  await settle();
  assert.deepEqual(out.map((o) => o.msg), [['monfire', 1, 'bye'], ['monfire', 2, 'bye']]);
});
