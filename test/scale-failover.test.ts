/**
 * A seed dies under load, at a size CI can run: two seeds, 200 nodes in two
 * processes (test/fixtures/many-nodes.ts) all on seed A, each with a port in
 * one group that every node and a watcher on seed B watch, all sending to a
 * port on B through A. SIGKILL of A: every node must be back on B within
 * monitor_timeout + connect_interval (measured in the nodes' own process),
 * and nobody — the nodes, the watcher — may see a port removed.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Child, GroupPeer, killAll, type Ev } from './fixtures/groups-driver.ts';

const SECRET = 'scale-failover';
const MT = 3000;
const CI = 1000;
const PER_PROC = 100;
const PROCS = 2;
const N = PER_PROC * PROCS;
const GROUP = 'fo_members';
const timing = { secret: SECRET, monitor_timeout: MT, connect_interval: CI };
/** Start-up of 100 nodes in a child on a loaded 2-core machine: generous. */
const START_MS = 180_000;

after(() => killAll());

test('scale failover — a seed SIGKILLed under load: its 200 nodes are back on the other seed within monitor_timeout + connect_interval, and nobody sees their ports removed', async () => {
  const a = await GroupPeer.start({ nodeid: 'fo-a', binds: ['127.0.0.1:0'], ...timing });
  const b = await GroupPeer.start({ nodeid: 'fo-b', binds: ['127.0.0.1:0'], seeds: [a.url!], ...timing });
  await b.waitFor((e) => e.ev === 'node' && e.node === 'fo-a' && e.up === true, { what: 'seed b linked to seed a' });
  const w = await GroupPeer.start({ nodeid: 'fo-w', seeds: [b.url!], ...timing });
  const mid = await w.cmd<number>('mon', { group: GROUP });
  const sink = await w.cmd<string>('port', { name: 'sink' });

  const procs = Array.from(
    { length: PROCS },
    (_, k) =>
      new Child(`nodes ${k}`, 'many-nodes.ts', [JSON.stringify({ count: PER_PROC, prefix: `fo${k}_`, seeds: [a.url, b.url], group: GROUP, ...timing })]),
  );
  // Ready: every node of the process sees all of its own process's ports; the watcher sees all N.
  await Promise.all(procs.map((p) => p.waitFor((e) => e.ev === 'ready', { timeoutMs: START_MS, what: 'nodes ready' })));
  await w.waitFor((e: Ev) => e.ev === 'grp' && e.mid === mid && e.ports.length === N, { timeoutMs: START_MS, what: `watcher sees ${N} ports` });
  for (const p of procs) assert.deepEqual(await p.cmd('seeds'), { 'fo-a': PER_PROC });

  // Load: every node sends to the sink on b through a, 10 per second, 600 at most (a minute).
  for (const p of procs) await p.cmd('load', { port: sink, every: 100, max: 600 });
  const sinkMark = w.mark();
  await w.waitFor((e) => e.ev === 'msg' && e.name === 'sink', { since: sinkMark, what: 'load arriving at the sink' });

  const marks = procs.map((p) => p.mark());
  const wMark = w.mark();
  await a.kill();

  // Every node reports its failover (seed link back, on b).
  const failovers: Ev[] = [];
  for (const [k, p] of procs.entries()) {
    await p.waitFor(() => p.filter((e) => e.ev === 'failover', marks[k]).length === PER_PROC, {
      since: marks[k],
      timeoutMs: 60_000,
      what: `${PER_PROC} failovers`,
    });
    failovers.push(...p.filter((e) => e.ev === 'failover', marks[k]));
  }
  assert.equal(failovers.length, N);
  assert.deepEqual(new Set(failovers.map((e) => e.to)), new Set(['fo-b']));
  const slowest = Math.max(...failovers.map((e) => e.ms as number));
  assert.ok(slowest <= MT + CI, `slowest failover took ${slowest} ms (monitor_timeout ${MT} + connect_interval ${CI})`);
  for (const p of procs) assert.deepEqual(await p.cmd('seeds'), { 'fo-b': PER_PROC });

  // b held the lost seed's entries in the grace period; every node's re-registration ends
  // its hold. Once none is left, no removal can come later (round trips, bounded).
  let orphans = -1;
  for (let i = 0; i < 2000 && orphans !== 0; i++) orphans = await b.cmd<number>('orphans');
  assert.equal(orphans, 0, 'entries still waiting for their nodes to re-register');

  // Nobody saw a port removed: not the nodes (their own views), not the watcher.
  for (const [k, p] of procs.entries()) assert.deepEqual(p.filter((e) => e.ev === 'removed', marks[k]), []);
  const wRemoved = w.filter((e) => e.ev === 'grp' && e.mid === mid && e.removed.length > 0, wMark);
  assert.deepEqual(wRemoved, []);
  assert.deepEqual((await w.cmd<string[]>('get', { group: GROUP })).length, N);
  // And the load goes on through b.
  const after = w.mark();
  await w.waitFor((e) => e.ev === 'msg' && e.name === 'sink', { since: after, what: 'load arriving after the failover' });
  for (const p of procs) p.signal('SIGKILL');
});
