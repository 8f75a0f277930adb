/**
 * Join denial: an attacker on other loopback addresses (127.0.0.2, .3)
 * holds 600 silent WebSockets (reopening each one the seed closes), 200 raw
 * TCP connections that send nothing and 200 that send half an HTTP request.
 * The seed destroys the raw ones after its admission deadline (5 s), keeps
 * the attacker to its share of the handshake table, and 100 honest nodes
 * from 127.0.0.1 join meanwhile; the honest pair loses nothing, and the
 * seed's file descriptors and memory come back afterwards.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { WebSocket } from 'ws';
import { MiB, SECRET, MT, honestPair, killAll, startSeed } from './harness.ts';

process.env.AEMP_RC = join(mkdtempSync(join(tmpdir(), 'aemp-admit-')), 'rc.json');
const { createNode, setLogLevel, setLogSink } = await import('../../node/index.ts');
const { getLogLevel } = await import('../../lib/log.ts');

after(() => killAll());

const ATTACK_FROM = ['127.0.0.2', '127.0.0.3'];
const SILENT_WS = 600;
const RAW_SILENT = 200;
const RAW_HALF = 200;
const HONEST = 100;
/** The seed's default admission deadline (lib/mesh/admit-options.ts). */
const ADMIT_MS = 5_000;

/** The attacker: silent WebSockets reopened 50 ms after each close, until stop() (at most MAX_OPENS opens). */
function silentSockets(url: string) {
  const MAX_OPENS = 50_000;
  const open = new Set<WebSocket>();
  let opens = 0;
  let upNow = 0;
  let refused = 0;
  let stopped = false;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const one = (i: number) => {
    if (stopped || opens >= MAX_OPENS) return;
    opens++;
    const ws = new WebSocket(url, { localAddress: ATTACK_FROM[i % ATTACK_FROM.length], perMessageDeflate: false });
    let up = false;
    open.add(ws);
    ws.on('open', () => ((up = true), upNow++));
    ws.on('error', () => {});
    ws.on('close', (_code, reason) => {
      open.delete(ws);
      if (up) upNow--;
      if (/AEMP_ERR_BUSY/.test(reason.toString())) refused++;
      const t = setTimeout(() => (timers.delete(t), one(i)), 50);
      timers.add(t);
    });
  };
  for (let i = 0; i < SILENT_WS; i++) one(i);
  return {
    get up() {
      return upNow;
    },
    get opens() {
      return opens;
    },
    get refused() {
      return refused;
    },
    stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      for (const ws of open) ws.terminate();
    },
  };
}

/** Raw TCP connections: each resolves with how long the seed let it live (ms). */
function rawSockets(port: number, n: number, payload: string | undefined, from: number): Array<{ sock: net.Socket; life: Promise<number> }> {
  const out = [];
  for (let i = 0; i < n; i++) {
    const t0 = Date.now();
    const sock = net.connect({ host: '127.0.0.1', port, localAddress: ATTACK_FROM[(i + from) % ATTACK_FROM.length] });
    sock.on('error', () => {});
    if (payload !== undefined) sock.on('connect', () => sock.write(payload));
    out.push({ sock, life: new Promise<number>((r) => sock.on('close', () => r(Date.now() - t0))) });
  }
  return out;
}

/**
 * A first round of WebSocket upgrades grows the seed's RSS by a few tens of
 * MiB that stay (allocator and V8 pools; the heap itself returns): open and
 * drop that many once before measuring, so "returns within 10%" measures
 * what the attack holds, not the pools' first use. More rounds plateau.
 */
async function warmUp(url: string): Promise<void> {
  for (let round = 0; round < 3; round++) {
    const socks: WebSocket[] = [];
    await Promise.all(
      Array.from({ length: SILENT_WS }, (_x, i) => new Promise<void>((r) => {
        const ws = new WebSocket(url, { localAddress: ATTACK_FROM[i % ATTACK_FROM.length], perMessageDeflate: false });
        socks.push(ws);
        ws.on('open', () => r()).on('error', () => r()).on('close', () => r());
      })),
    );
    for (const ws of socks) ws.terminate();
  }
}

/** p, or undefined once `ms` passed. */
function within<T>(ms: number, p: Promise<T>): Promise<T | undefined> {
  let t: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([p, new Promise<undefined>((r) => (t = setTimeout(() => r(undefined), ms)))]).finally(() => clearTimeout(t));
}

async function fdCount(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

test('admission — 1,000 attacker sockets from 127.0.0.2/3 do not stop 100 honest nodes joining; raw ones are destroyed within seconds', async (t) => {
  const seed = await startSeed();
  const pair = await honestPair(seed);
  await pair.b.waitFor((e) => e.ev === 'sink' && e.name === 'honest', { timeoutMs: 30_000, what: 'stream progress' });
  await warmUp(seed.url);
  const before = await seed.memory();
  const fds0 = await fdCount(seed.peer.pid);
  seed.resetPeak();
  const port = Number(new URL(seed.url).port);

  const busyNotes: string[] = [];
  const level = getLogLevel();
  setLogLevel(6); // the honest nodes' "cannot link to seed" notes, counted below
  setLogSink((_level, _ns, msg) => {
    if (msg.includes('AEMP_ERR_BUSY')) busyNotes.push(msg);
  });

  // The attack.
  const silent = silentSockets(seed.url);
  const raw = [
    ...rawSockets(port, RAW_SILENT, undefined, 0),
    ...rawSockets(port, RAW_HALF, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n', 1),
  ];
  // The seed's handshake table is full (256) once the attacker holds that many open WebSockets.
  const fullBy = Date.now() + 30_000;
  while (silent.up < 256 && Date.now() < fullBy) await new Promise((r) => setTimeout(r, 20));
  assert.ok(silent.up >= 256, `the attacker holds only ${silent.up} WebSockets`);

  // 100 honest nodes from 127.0.0.1, all at once.
  const t0 = Date.now();
  const nodes = await Promise.all(
    Array.from({ length: HONEST }, async (_x, i) => {
      const n = await createNode({ nodeid: `honest_join_${i}`, seeds: [seed.url], secret: SECRET, monitor_timeout: MT, connect_interval: 200, direct: false });
      const link = n.net!.seedLink!;
      if (link.current() === undefined) await within(30_000, new Promise<void>((r) => void link.monitor((s) => void (s !== undefined && r()))));
      return { n, ms: link.current() === undefined ? Infinity : Date.now() - t0 };
    }),
  );
  const joinMs = Math.max(...nodes.map((x) => x.ms));
  t.diagnostic(`100 honest joins took ${joinMs} ms (${busyNotes.length} refusals as busy on the way); attacker: ${silent.opens} WebSocket opens, ${silent.refused} refused as busy, ${silent.up} open`);
  // The requirement is 5 s; the bound is generous for a loaded 2-core machine.
  assert.ok(joinMs < 20_000, `honest joins took ${joinMs} ms`);
  for (const { n } of nodes) assert.ok(n.net!.seedLink!.current() !== undefined, `${n.NODE} has no seed link`);

  // Raw connections: destroyed by the seed at its deadline (not before: none of them was over the per-address cap).
  const lives = await Promise.all(raw.map((r) => within(ADMIT_MS + 15_000, r.life).then((ms) => ms ?? Infinity)));
  t.diagnostic(`raw connections lived ${Math.min(...lives)}..${Math.max(...lives)} ms`);
  for (const ms of lives) {
    assert.ok(ms >= ADMIT_MS - 50, `a raw connection was closed after ${ms} ms, before the deadline`);
    assert.ok(ms < ADMIT_MS + 15_000, `a raw connection lived ${ms} ms`);
  }

  const peak = seed.peakRss();
  silent.stop();
  await Promise.all(nodes.map(({ n }) => n.shutdown()));
  setLogSink(undefined);
  setLogLevel(level);
  assert.equal(await pair.check() > 0, true);

  // Everything the attack and the joins held is released.
  let fds = await fdCount(seed.peer.pid);
  for (let i = 0; i < 150 && fds > fds0 + 5; i++) {
    await new Promise((r) => setTimeout(r, 100));
    fds = await fdCount(seed.peer.pid);
  }
  const afterMem = await seed.memory();
  t.diagnostic(`before ${JSON.stringify(before)} after ${JSON.stringify(afterMem)}`);
  t.diagnostic(`seed fds ${fds0} → ${fds}; RSS ${(before.rss / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB, after ${(afterMem.rss / MiB).toFixed(0)} MiB`);
  assert.ok(fds <= fds0 + 5, `seed holds ${fds} file descriptors, ${fds0} before the attack`);
  assert.ok(peak < before.rss + 150 * MiB, `seed peak RSS ${peak}, ${before.rss} before`);
  assert.ok(afterMem.rss < before.rss * 1.1, `seed RSS ${afterMem.rss} after, ${before.rss} before`);
});
