/**
 * A corrupt or unreadable configuration file: `npm start` (node/demo.ts),
 * `aemp run` and configure() each give one clear line (path and cause) and
 * exit 1 / throw AEMP_ERR_CONFIG_FILE; the file is never touched.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir } from 'node:fs/promises';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BIN, Proc, assertFails, reapAll } from './fixtures/cli-proc.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
after(reapAll);

const JUNK = Buffer.from('{"version": 1, "profiles": {"aemp-demo": {"secret": "x",,}}}\n\x00\xff');

/** A temporary AEMP_RC: a corrupt file, or a directory where the file should be (unreadable). */
async function rcFile(kind: 'corrupt' | 'unreadable'): Promise<{ dir: string; rc: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'aemp-rc-'));
  const rc = join(dir, 'rc.json');
  if (kind === 'corrupt') await writeFile(rc, JUNK);
  else await mkdir(rc);
  return { dir, rc };
}

async function unchanged(kind: 'corrupt' | 'unreadable', dir: string, rc: string): Promise<void> {
  assert.deepEqual(await readdir(dir), ['rc.json'], 'no temp or lock file left');
  if (kind === 'corrupt') assert.deepEqual(await readFile(rc), JUNK);
  else assert.deepEqual(await readdir(rc), []);
}

const CAUSE = { corrupt: /JSON|Expected|Unexpected/, unreadable: /EISDIR/ };

async function exitOf(cmd: string, args: string[], rc: string): Promise<{ code: number | null; out: string; err: string }> {
  const p = new Proc(cmd, args, { AEMP_RC: rc, AEMP_WARNLEVEL: '5' });
  const code = await p.exit();
  return { code, out: p.out, err: p.err };
}

for (const kind of ['corrupt', 'unreadable'] as const) {
  test(`config file — ${kind}: aemp run says so in one line and exits 1`, async () => {
    const { dir, rc } = await rcFile(kind);
    const r = await exitOf(BIN, ['run'], rc);
    assertFails({ ...r, ms: 0 }, new RegExp(`^aemp: ${rc.replace(/[.\\/]/g, '\\$&')}: `));
    assert.match(r.err, CAUSE[kind]);
    await unchanged(kind, dir, rc);
  });

  test(`config file — ${kind}: npm start (the demo) says so in one line and exits 1`, async () => {
    const { dir, rc } = await rcFile(kind);
    const dist = await mkdtemp(join(tmpdir(), 'aemp-dist-'));
    const r = await exitOf(process.execPath, ['--import', 'tsx', join(ROOT, 'node/demo.ts'), '--no-build', '--dist', dist, '--port', '0'], rc);
    assert.equal(r.code, 1, r.err);
    assert.equal(r.out, '');
    const lines = r.err.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, r.err);
    assert.ok(lines[0]!.startsWith(`demo: ${rc}: `), r.err);
    assert.match(lines[0]!, CAUSE[kind]);
    await unchanged(kind, dir, rc);
  });

  test(`config file — ${kind}: configure() throws AEMP_ERR_CONFIG_FILE naming the file`, async () => {
    const { dir, rc } = await rcFile(kind);
    const script = `import('${join(ROOT, 'node/index.ts')}').then((m) => m.configure({ profile: 'p' })).then(
      () => process.stdout.write('configured\\n'),
      (e) => process.stdout.write(JSON.stringify({ code: e.code, path: e.path, message: e.message }) + '\\n'));`;
    const r = await exitOf(process.execPath, ['--import', 'tsx', '-e', script], rc);
    assert.equal(r.code, 0, r.err);
    const e = JSON.parse(r.out) as { code: string; path: string; message: string };
    assert.equal(e.code, 'AEMP_ERR_CONFIG_FILE');
    assert.equal(e.path, rc);
    assert.ok(e.message.startsWith(`${rc}: `), e.message);
    assert.match(e.message, CAUSE[kind]);
    await unchanged(kind, dir, rc);
  });
}
