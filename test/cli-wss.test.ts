/**
 * wss:// end to end: `aemp run` with a profile that has a cert listens with
 * TLS; a program on "another host" (another config file) joins through a
 * profile that trusts the seed's certificate (settlsca); nodes that share
 * the cert trust it as it is; nodes that trust nothing are refused.
 * Then the same in one process through configure()'s environment.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Proc, BIN, aemp, assertFails, ok, reapAll } from './fixtures/cli-proc.ts';
import { generateSelfSignedCert } from '../node/selfsigned.ts';
import { connectWs, listenWs } from '../node/ws.ts';
import { deferred } from './util.ts';

const RECEIVER = fileURLToPath(new URL('./fixtures/cli-receiver.ts', import.meta.url));

let dir: string;
/** The seed's host: a global cert (gencert) and secret, profile seed with binds. */
let rcSeed: string;
/** Another host: profile receiver with the seed's URL, the secret and the seed's certificate as tls_ca. */
let rcRemote: string;
let seed: Proc;
let seedUrl: string;
let receiver: Proc;
let main: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aemp-cli-wss-'));
  rcSeed = join(dir, 'seed-host.json');
  rcRemote = join(dir, 'remote-host.json');
  await ok(rcSeed, 'gencert', 'setsecret', 'x', 'profile', 'seed', 'setnodeid', 'seed', 'setbinds', '127.0.0.1:0');
  seed = new Proc(BIN, ['run', 'seed'], { AEMP_RC: rcSeed });
  seedUrl = (await seed.waitFor('err', /^aemp: node seed listening on (wss:\/\/127\.0\.0\.1:\d+\/)$/m))[1]!;
  await ok(rcSeed, 'setseeds', seedUrl);
  const pem = join(dir, 'seed.pem');
  await writeFile(pem, await ok(rcSeed, 'showcert'));
  await ok(rcRemote, 'profile', 'receiver', 'setnodeid', 'receiver', 'setseeds', seedUrl, 'setsecret', 'x', 'settlsca', pem);
  receiver = new Proc(process.execPath, ['--import', 'tsx', RECEIVER, 'receiver'], { AEMP_RC: rcRemote });
  main = (await receiver.waitFor('out', /^port main (\S+)$/m))[1]!;
});

after(async () => {
  await reapAll();
  await rm(dir, { recursive: true, force: true });
});

test('cli-wss — aemp run listens with wss:// when its profile has (or inherits) a cert', () => {
  assert.deepEqual(seed.err.split('\n').filter((l) => l.startsWith('aemp: ')), [`aemp: node seed listening on ${seedUrl}`]);
  assert.match(receiver.out, /^node receiver$/m);
});

test('cli-wss — snd from the seed host (shared cert) reaches the program that joined through its profile', async () => {
  assert.equal(await ok(rcSeed, 'snd', main, 'hello', '1', '{"over":"wss"}'), '');
  await receiver.waitFor('out', /^got hello \[1,\{"over":"wss"\}\]$/m);
});

test('cli-wss — cal and nodes from the other host, through the profile that trusts the seed (settlsca)', async () => {
  assert.equal(await ok(rcRemote, '--profile', 'receiver', 'cal', main, 'add', '2', '3'), '[5]\n');
  const lines = (await ok(rcRemote, 'profile', 'receiver', 'nodes')).split('\n');
  assert.equal(lines[0], 'seed up (seed)');
  assert.ok(lines.includes('receiver up'), lines.join('\n'));
});

test("cli-wss — a node that does not trust the seed's certificate is refused at once (exit 1, the TLS reason)", async () => {
  const rcNone = join(dir, 'no-trust.json');
  await ok(rcNone, 'setseeds', seedUrl, 'setsecret', 'x');
  const r = await aemp(rcNone, 'snd', main, 'never');
  const url = seedUrl.replace(/[.$/]/g, '\\$&');
  assertFails(r, new RegExp(`^aemp: snd: cannot reach any seed of the global settings: ${url} \\(connect ${url}: self-signed certificate\\)$`));
  assert.doesNotMatch(receiver.out, /never/);
});

test('cli-wss — settlsca takes only certificates; showcert without a cert fails', async () => {
  const rc = join(dir, 'edit.json');
  const { cert, key } = generateSelfSignedCert();
  const both = join(dir, 'both.pem');
  await writeFile(both, key + cert);
  await ok(rc, 'settlsca', both);
  const db = JSON.parse(await ok(rc, 'showconfig'));
  assert.deepEqual(db.global, { tls_ca: cert });
  const keyOnly = join(dir, 'key.pem');
  await writeFile(keyOnly, key);
  const bad = await aemp(rc, 'settlsca', keyOnly);
  assert.equal(bad.code, 2);
  assert.equal(bad.err, "aemp: settlsca: no PEM certificate in the file; try 'aemp help settlsca'\n");
  assert.match((await aemp(rc, 'set', 'tls_ca', key + cert)).err, /^aemp: tls_ca: bad value .*holds a private key/);
  assertFails(await aemp(rc, 'profile', 'p', 'setnodeid', 'p', 'showcert'), /^aemp: showcert: no cert in profile 'p'$/);
  await ok(rc, 'deltlsca');
  assert.deepEqual(JSON.parse(await ok(rc, 'showconfig')).global, {});
});

// ---- configure()'s environment (node/index.ts) in this process ----

test('cli-wss — configure(): a node with cert and binds listens with wss://, one without with ws://; tls_ca lets a node join', async () => {
  process.env.AEMP_RC = join(dir, 'in-process.json'); // no file: global values are empty
  const { createNode } = await import('../node/index.ts');
  const { cert, key } = generateSelfSignedCert({ commonName: 'inproc' });
  const s = await createNode({ nodeid: 'wss-seed', binds: ['127.0.0.1:0'], cert: { cert, key }, secret: 's' });
  const plain = await createNode({ nodeid: 'ws-seed', binds: ['127.0.0.1:0'], secret: 's' });
  const urlOf = (n: typeof s) => n.net!.seedLink!.listening()[0]!;
  try {
    assert.match(urlOf(s), /^wss:\/\/127\.0\.0\.1:\d+\/$/);
    assert.match(urlOf(plain), /^ws:\/\/127\.0\.0\.1:\d+\/$/);
    const n = await createNode({ nodeid: 'wss-node', seeds: [urlOf(s)], secret: 's', tls_ca: cert });
    try {
      const got = deferred<unknown[]>();
      const p = s.port((...m: unknown[]) => got.resolve(m));
      n.snd(p, 'over', 'tls');
      assert.deepEqual(await got.promise, ['over', 'tls']);
      assert.equal(n.linkInfo('wss-seed')?.path, 'seed');
    } finally {
      await n.shutdown();
    }
  } finally {
    await s.shutdown();
    await plain.shutdown();
  }
});

test('ws — connectWs verifies the host name even for a trusted certificate', async () => {
  const other = generateSelfSignedCert({ altNames: ['seed.example'] });
  const l = await listenWs({ host: '127.0.0.1', port: 0, onLink: (link) => link.close('unexpected'), tls: other });
  try {
    assert.match(l.url, /^wss:/);
    await assert.rejects(connectWs(l.url, { ca: other.cert, timeoutMs: 3000 }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'AEMP_ERR_CONNECT');
      assert.match(e.message, /IP: 127\.0\.0\.1 is not in the cert's list/);
      return true;
    });
    const mine = generateSelfSignedCert();
    const l2 = await listenWs({ host: '127.0.0.1', port: 0, onLink: () => {}, tls: mine });
    try {
      const link = await connectWs(l2.url, { ca: [other.cert, mine.cert], timeoutMs: 3000 });
      link.close('done');
    } finally {
      await l2.close();
    }
  } finally {
    await l.close();
  }
});
