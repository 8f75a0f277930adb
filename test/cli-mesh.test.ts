/**
 * The Intro's deployment workflow with the real `aemp` bin: a seed from a
 * profile (`aemp run seed`), a program that joins through its profile with
 * configure(), and the mesh commands against its ports.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNode } from '../lib/configure.ts';
import type { MpNode } from '../lib/node.ts';
import { installTrace } from '../lib/trace.ts';
import { BIN, Proc as AnyProc, aemp as aempWith, assertFails, ok as okWith, reapAll, type Run } from './fixtures/cli-proc.ts';

const RECEIVER = fileURLToPath(new URL('./fixtures/cli-receiver.ts', import.meta.url));
const SERVICE = fileURLToPath(new URL('./fixtures/cli-service.ts', import.meta.url));

let dir: string;
let rc: string;

/** A child with this file's AEMP_RC. */
class Proc extends AnyProc {
  constructor(cmd: string, args: string[], env: Record<string, string> = {}) {
    super(cmd, args, { AEMP_RC: rc, ...env });
  }
}

/** Runs `aemp ARGS` to the end. */
const aemp = (...args: string[]): Promise<Run> => aempWith(rc, ...args);
const ok = (...args: string[]): Promise<string> => okWith(rc, ...args);

let seed: Proc;
let seedUrl: string;
let receiver: Proc;
let main: string;
let victim: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aemp-cli-mesh-'));
  rc = join(dir, 'rc.json');
  // The Intro: a seed profile; port 0, so the test learns the port from run's status line.
  await ok('profile', 'seed', 'setnodeid', 'seed', 'setbinds', '127.0.0.1:0', 'setsecret', 'x', 'setservices', SERVICE);
  seed = new Proc(BIN, ['run', 'seed']);
  seedUrl = (await seed.waitFor('err', /^aemp: node seed listening on (ws:\/\/127\.0\.0\.1:\d+\/)$/m))[1]!;
  // Everyone else joins through it: global seeds and secret, a receiver profile with its node ID.
  await ok('setseeds', seedUrl, 'setsecret', 'x', 'profile', 'receiver', 'setnodeid', 'receiver');
  receiver = new Proc(process.execPath, ['--import', 'tsx', RECEIVER, 'receiver']);
  victim = (await receiver.waitFor('out', /^port victim (\S+)$/m))[1]!;
  main = (await receiver.waitFor('out', /^port main (\S+)$/m))[1]!;
});

after(async () => {
  await reapAll();
  await rm(dir, { recursive: true, force: true });
});

test('cli-mesh — run: a seed from its profile, its status lines at the default log level', async () => {
  // The CLI's own lines ("aemp: ..."), not the library's log lines ("aemp warn [ns] ...").
  assert.deepEqual(
    seed.err.split('\n').filter((l) => l.startsWith('aemp: ')),
    [`aemp: node seed listening on ${seedUrl}`, `aemp: service ${SERVICE}: spawnable as cli-service:echo, echo`],
  );
  assert.match(receiver.out, /^node receiver$/m);
  assert.match(main, /^receiver#/);
});

test('cli-mesh — snd: JSON arguments are JSON, others strings; delivered before the goodbye', async () => {
  assert.equal(await ok('snd', main, 'hello', '42', '{"a":[1]}', 'text', '"7"'), '');
  await receiver.waitFor('out', /^got hello \[42,\{"a":\[1\]\},"text","7"\]$/m);
  // The seed refuses a message to a node it does not know: snd says so.
  const r = await aemp('snd', 'nosuch#p', 'hi');
  assertFails(r, /^aemp: snd: the message to nosuch#p was dropped: \["transport_error","node nosuch is not known to seed seed"\]$/);
});

test('cli-mesh — cal: prints the reply as JSON; timeout and a dead port exit 1', async () => {
  assert.equal(await ok('cal', main, 'add', '2', '3'), '[5]\n');
  const slow = await aemp('cal', '--timeout', '0.3', main, 'silent');
  assertFails(slow, new RegExp(`^aemp: cal: no reply from ${main} within 0\\.3 s$`));
  const dead = await aemp('cal', 'receiver#nope', 'x');
  assertFails(dead, /^aemp: cal: receiver#nope died before replying: \["no_such_port",/);
});

test('cli-mesh — mon: prints the kill reason as JSON when the port dies', async () => {
  const m = new Proc(BIN, ['mon', victim]);
  await m.waitFor('err', new RegExp(`^aemp: mon: monitoring ${victim}$`, 'm'));
  await ok('snd', victim, 'die', 'crashed', '{"code":7}');
  assert.equal(await m.exit(), 0, m.err);
  assert.equal(m.out, '["crashed",{"code":7}]\n');
  // The port is gone now: a new monitor fires at once.
  assert.match(await ok('mon', victim), /^\["no_such_port","cannot monitor nonexistent port .*"\]\n$/);
});

test('cli-mesh — trace PORT: prints what the port receives until interrupted', async () => {
  const t = new Proc(BIN, ['trace', main]);
  await t.waitFor('err', new RegExp(`^aemp: tracing ${main}; interrupt to stop$`, 'm'));
  await ok('snd', main, 'hello', 'traced');
  await t.waitFor('out', new RegExp(`^RCV ${main} \\["hello","traced"\\]$`, 'm'));
  t.child.kill('SIGINT');
  assert.equal(await t.exit(), 0, t.err);
  assert.equal(t.out, `RCV ${main} ["hello","traced"]\n`);
});

test('cli-mesh — trace NODE: both directions of a call, not its own reports', async () => {
  const t = new Proc(BIN, ['trace', 'receiver']);
  await t.waitFor('err', /^aemp: tracing receiver; interrupt to stop$/m);
  assert.equal(await ok('cal', main, 'add', '20', '22'), '[42]\n');
  const rcvd = await t.waitFor('out', new RegExp(`^RCV ${main} \\["add",20,22,"(anon/[^"]+)"\\]$`, 'm'));
  await t.waitFor('out', new RegExp(`^SND ${rcvd[1]!.replace(/[.$]/g, '\\$&')} \\[42\\]$`, 'm'));
  t.child.kill('SIGTERM');
  assert.equal(await t.exit(), 0, t.err);
  assert.doesNotMatch(t.out, /"(on|SND|RCV)"/);
});

test('cli-mesh — nodes: the seed lists the program node as up', async () => {
  const lines = (await ok('nodes')).split('\n').filter(Boolean);
  assert.equal(lines[0], 'seed up (seed)');
  assert.ok(lines.includes('receiver up'), lines.join('\n'));
  for (const l of lines.slice(1)) assert.match(l, /^\S+ (up|down)$/);
});

test('cli-mesh — a profile whose seeds cannot be reached: exit 1 with the refusal as the reason', async () => {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  await ok('profile', 'dead', 'setseeds', `127.0.0.1:${port}`, 'setsecret', 'x');
  const r = await aemp('--profile', 'dead', 'snd', 'receiver#x', '1');
  assertFails(r, new RegExp(`^aemp: snd: cannot reach any seed of profile 'dead': ws://127\\.0\\.0\\.1:${port}/ \\(connect .*ECONNREFUSED.*\\)$`));
  // A wrong secret is refused by the seed: same, with the refusal.
  await ok('profile', 'wrong', 'setseeds', seedUrl, 'setsecret', 'y');
  const w = await aemp('profile', 'wrong', 'nodes');
  assertFails(w, new RegExp(`^aemp: nodes: cannot reach any seed of profile 'wrong': ${seedUrl} \\(.*AEMP_ERR_AUTH.*\\)$`));
});

test('cli-mesh — no seeds anywhere: exit 1 with a hint how to set them', async () => {
  const r = await aempWith(join(dir, 'empty.json'), 'nodes');
  assertFails(r, /^aemp: nodes: no seeds in the global settings; set them with 'aemp setseeds HOST:PORT'$/);
});

test('cli-mesh — a seed that takes the connection but never answers: exit 1 once the connect timeout (monitor_timeout) passed', async () => {
  const sockets = new Set<Socket>();
  const silent = createServer((s) => (sockets.add(s), s.on('error', () => {})));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as { port: number }).port;
  try {
    await ok('profile', 'silent', 'setseeds', `127.0.0.1:${port}`, 'set', 'monitor_timeout', '1');
    // The flag after the command works too.
    const r = await aemp('snd', '--profile', 'silent', 'receiver#x', '1');
    assertFails(r, new RegExp(`^aemp: snd: cannot reach any seed of profile 'silent': ws://127\\.0\\.0\\.1:${port}/ \\(connect .*: timed out after 1000 ms\\)$`));
    assert.ok(r.ms >= 1000, `took ${r.ms} ms`); // the wait itself is bounded by the harness (WAIT_MS)
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  }
});

test('cli-mesh — run without a profile, KEY=VALUE overrides only; SIGINT leaves the mesh', async () => {
  const p = new Proc(BIN, ['run', 'nodeid=runner', 'binds=127.0.0.1:0', 'monitor_timeout=3']);
  const url = (await p.waitFor('err', /^aemp: node runner listening on (ws:\/\/127\.0\.0\.1:\d+\/)$/m))[1]!;
  assert.notEqual(url, seedUrl);
  // It uses the global seeds and secret: the seed knows it.
  const deadline = Date.now() + 5000;
  let lines: string[] = [];
  while (Date.now() < deadline && !lines.includes('runner up')) lines = (await ok('nodes')).split('\n');
  assert.ok(lines.includes('runner up'), lines.join('\n'));
  p.child.kill('SIGINT');
  assert.equal(await p.exit(), 0, p.err);
  assert.match(p.err, /^aemp: node runner: SIGINT, leaving the mesh$/m);
});

test('cli-mesh — services: an exported init is spawnable on the run node; SIGTERM leaves cleanly', async () => {
  const spawned = JSON.parse(await ok('cal', main, 'spawn', 'seed', 'cli-service:echo')) as string[];
  assert.match(spawned[0]!, /^seed#/);
  assert.equal(await ok('cal', spawned[0]!, 'hi', '7'), '["hi",7]\n');
  const plain = JSON.parse(await ok('cal', main, 'spawn', 'seed', 'echo')) as string[];
  assert.equal(await ok('cal', plain[0]!, '{"x":null}'), '[{"x":null}]\n');
  const m = new Proc(BIN, ['mon', spawned[0]!]);
  await m.waitFor('err', /^aemp: mon: monitoring /m);
  seed.child.kill('SIGTERM');
  assert.equal(await seed.exit(), 0, seed.err);
  assert.match(seed.err, /^aemp: node seed: SIGTERM, leaving the mesh$/m);
  // Peers hear the goodbye at once (not after monitor_timeout).
  await receiver.waitFor('out', new RegExp(`^spawned ${spawned[0]!.replace(/[.$]/g, '\\$&')} died \\["transport_error","[^"]*node seed shut down"\\]$`, 'm'));
  assert.equal(await m.exit(), 0, m.err);
  assert.match(m.out, /^\["transport_error","[^"]*node seed shut down"\]\n$/);
});

// ---- the node-port requests behind trace and nodes, in one process (in-process hub) ----

/** Collects [msg] on a port of `n`; next() resolves with the next message. */
function collector(n: MpNode): { port: string; msgs: unknown[][]; next(): Promise<unknown[]> } {
  const msgs: unknown[][] = [];
  let seen = 0;
  let wake: (() => void) | undefined;
  const port = n.port((...m: unknown[]) => (msgs.push(m), wake?.()));
  return {
    port,
    msgs,
    async next() {
      while (msgs.length <= seen) await new Promise<void>((r) => (wake = r));
      return msgs[seen++]!;
    },
  };
}

test('trace — reports plain copies of SND/RCV, never its own reports, and stops when the reply port dies', async () => {
  const a = await createNode({ nodeid: 'trace-a' });
  const b = await createNode({ nodeid: 'trace-b' });
  installTrace(b);
  installTrace(b); // idempotent
  const r = collector(a);
  a.snd('trace-b', 'trace', r.port, null);
  assert.deepEqual(await r.next(), ['on', 'trace-b', null]);
  const p = b.port(() => {});
  b.snd(p, 'local', () => 1, new Map(), { u: undefined, n: [1n] });
  assert.deepEqual(await r.next(), ['SND', p, ['local', '<function>', '<Map>', { u: null, n: ['1n'] }]]);
  a.snd(p, 'remote', new Uint8Array([1, 2]));
  assert.deepEqual(await r.next(), ['RCV', p, ['remote', new Uint8Array([1, 2])], 'trace-a']);
  // The answer to a call shows both ways; the reports to r.port never show.
  const echo = b.port((x: unknown, reply: string) => b.snd(reply, x));
  assert.deepEqual(await a.call(echo, ['q']), ['q']);
  // Around it: the call's monitor request to b's node port, and b's answer.
  const seen = [await r.next(), await r.next(), await r.next()];
  assert.deepEqual(seen[0]!.slice(0, 3), ['RCV', 'trace-b', ['mon', echo, (seen[0]![2] as unknown[])[2]]]);
  const reply = (seen[1]![2] as unknown[])[1] as string;
  assert.deepEqual(seen.slice(1), [
    ['RCV', echo, ['q', reply], 'trace-a'],
    ['SND', reply, ['q']],
  ]);
  assert.ok(r.msgs.every((m) => m[1] !== r.port), JSON.stringify(r.msgs));
  a.kil(r.port);
  // Monitor messages from a reach b before the answer to this call does.
  assert.deepEqual(await a.call(echo, ['done']), ['done']);
  assert.equal(b.kernel.tracer, undefined);
  await a.shutdown();
  await b.shutdown();
});

test('trace — limits tracers, filters by port, refuses reply ports of other nodes; nodes answers', async () => {
  const a = await createNode({ nodeid: 'trace-c' });
  const b = await createNode({ nodeid: 'trace-d' });
  installTrace(b, { maxTracers: 1 });
  const p = b.port(() => {});
  const q = b.port(() => {});
  const r1 = collector(a);
  const r2 = collector(a);
  const other = collector(b);
  a.snd('trace-d', 'trace', other.port, null); // reply port not on the asking node: ignored
  a.snd('trace-d', 'trace', r1.port, p);
  a.snd('trace-d', 'trace', r2.port, null);
  assert.deepEqual(await r1.next(), ['on', 'trace-d', p]);
  assert.deepEqual(await r2.next(), ['refused', 'node trace-d is already traced by 1 ports (limit 1)']);
  a.snd(q, 'not traced');
  a.snd(p, 'traced');
  assert.deepEqual(await r1.next(), ['RCV', p, ['traced'], 'trace-c']);
  const n = collector(a);
  a.snd('trace-d', 'nodes', n.port);
  const [up, known] = (await n.next()) as [string[], string[]];
  assert.ok(up.includes('trace-c') && known.includes('trace-c'), JSON.stringify([up, known]));
  assert.deepEqual(other.msgs, []);
  assert.equal(r1.msgs.length, 2);
  await a.shutdown();
  await b.shutdown();
});
