/**
 * `aemp grp GROUP [--watch]` with the real bin, against a seed and a member
 * node in child processes (test/fixtures/groups-peer.ts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Child, GroupPeer, killAll } from './fixtures/groups-driver.ts';

const BIN = fileURLToPath(new URL('../node/bin.js', import.meta.url));
const SECRET = 'cli-grp';
let dir: string;
let rc: string;
let seed: GroupPeer;
let member: GroupPeer;

/** `aemp ARGS` as a child whose stdout lines arrive as {ev:'line'} events; stderr is kept. */
function aemp(...args: string[]): Child {
  return new Child(`aemp ${args.join(' ')}`, '../../node/bin.js', args, { AEMP_RC: rc });
}

/** Runs `aemp ARGS` to the end. */
async function run(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const p = spawn(BIN, args, { env: { ...process.env, AEMP_RC: rc }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((r) => p.on('close', r));
  return { code, out, err };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aemp-cli-grp-'));
  rc = join(dir, 'rc.json');
  const o = { secret: SECRET, monitor_timeout: 2000, connect_interval: 200 };
  seed = await GroupPeer.start({ nodeid: 'grp-seed', binds: ['127.0.0.1:0'], ...o });
  member = await GroupPeer.start({ nodeid: 'grp-member', seeds: [seed.url!], ...o });
  const r = await run('setseeds', seed.url!, 'setsecret', SECRET);
  assert.equal(r.code, 0, r.err);
});

after(async () => {
  await killAll();
  await rm(dir, { recursive: true, force: true });
});

test('cli-grp — grp prints the members as a JSON array; [] for a group without members', async () => {
  const p1 = await member.cmd<string>('port', { name: 'c1' });
  const p2 = await member.cmd<string>('port', { name: 'c2' });
  await member.cmd('reg', { group: 'cli_g', name: 'c1' });
  await member.cmd('reg', { group: 'cli_g', name: 'c2' });
  const r = await run('grp', 'cli_g');
  assert.equal(r.code, 0, r.err);
  assert.equal(r.err, '');
  assert.equal(r.out, JSON.stringify([p1, p2].sort()) + '\n');
  const empty = await run('grp', 'cli_nobody');
  assert.deepEqual([empty.code, empty.out, empty.err], [0, '[]\n', '']);
});

test('cli-grp — grp --watch prints the members, then every change, until SIGINT', async () => {
  const p3 = await member.cmd<string>('port', { name: 'w1' });
  await member.cmd('reg', { group: 'cli_w', name: 'w1' });
  const w = aemp('grp', '--watch', 'cli_w');
  const line = (n: number) => w.waitFor(() => w.filter((e) => e.ev === 'line').length >= n, { what: `${n} lines` });
  await line(1);
  const p4 = await member.cmd<string>('port', { name: 'w2' });
  await member.cmd('reg', { group: 'cli_w', name: 'w2' });
  await line(2);
  await member.cmd('kil', { name: 'w1' });
  await line(3);
  w.signal('SIGINT');
  const { code } = await w.exited;
  assert.equal(code, 0, w.stderr);
  assert.deepEqual(
    w.filter((e) => e.ev === 'line').map((e) => JSON.parse(e.text)),
    [
      { members: [p3], added: [p3], removed: [] },
      { members: [p3, p4].sort(), added: [p4], removed: [] },
      { members: [p4], added: [], removed: [p3] },
    ],
  );
  assert.equal(w.stderr, 'aemp: grp: watching cli_w; interrupt to stop\n');
});

test('cli-grp — a bad group name is a usage error (exit 2)', async () => {
  const r = await run('grp', 'no spaces');
  assert.equal(r.code, 2);
  assert.match(r.err, /^aemp: grp: group name "no spaces" has characters outside \[A-Za-z0-9_\-.:\/@\+=~\$\]/);
  assert.equal((await run('grp', '--watch')).code, 2);
});
