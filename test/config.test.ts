import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtemp, readFile, readdir, stat, writeFile, mkdir, utimes } from 'node:fs/promises';
import { tmpdir, hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import tls from 'node:tls';
import {
  ConfigError, ConfigFileError, addToList, defaultRcPath, deleteProfile, emptyDb, loadConfigFor, readConfig, removeFromList,
  resolveProfile, setValue, updateConfig,
} from '../node/config.ts';
import type { ConfigDb } from '../node/config.ts';
import { parseCliValue, validateValue } from '../node/config-keys.ts';
import { withFileLock } from '../node/config-lock.ts';
import { generateSelfSignedCert, serialNumber } from '../node/selfsigned.ts';

const tmp = () => mkdtemp(join(tmpdir(), 'aemp-config-'));

function sampleDb(): ConfigDb {
  const db = emptyDb();
  setValue(db, undefined, 'seeds', ['g:1']);
  setValue(db, undefined, 'monitor_timeout', 20);
  setValue(db, undefined, 'secret', 'global-secret');
  setValue(db, 'base', 'secret', 'base-secret');
  setValue(db, 'base', 'binds', ['*:4040']);
  setValue(db, 'base', 'connect_interval', 5);
  setValue(db, 'child', 'parent', 'base');
  setValue(db, 'child', 'nodeid', 'kid');
  setValue(db, 'child', 'binds', ['127.0.0.1:0']);
  return db;
}

test('config — default path is $AEMP_RC, else $XDG_CONFIG_HOME/aemp/rc.json, else ~/.config/aemp/rc.json', () => {
  assert.equal(defaultRcPath({ AEMP_RC: '/x/rc.json', XDG_CONFIG_HOME: '/y' }), '/x/rc.json');
  assert.equal(defaultRcPath({ XDG_CONFIG_HOME: '/y' }), '/y/aemp/rc.json');
  assert.match(defaultRcPath({}), /\/\.config\/aemp\/rc\.json$/);
  assert.match(defaultRcPath({ XDG_CONFIG_HOME: 'relative' }), /\/\.config\/aemp\/rc\.json$/);
});

test('config — values are validated and normalized, errors name the key', () => {
  assert.deepEqual(parseCliValue('binds', '*:4040,[::1]:0,host.example:65535'), ['*:4040', '[::1]:0', 'host.example:65535']);
  assert.deepEqual(parseCliValue('seeds', '["a:1","wss://seed.example/aemp"]'), ['a:1', 'wss://seed.example/aemp']);
  assert.deepEqual(parseCliValue('seeds', '[::1]:4040,[fe80::1]:1'), ['[::1]:4040', '[fe80::1]:1']);
  assert.deepEqual(parseCliValue('seeds', '[]'), []);
  assert.equal(parseCliValue('monitor_timeout', '2.5'), 2.5);
  assert.equal(parseCliValue('direct', 'no'), false);
  assert.equal(parseCliValue('anonymous', 'yes'), true);
  assert.deepEqual(parseCliValue('auth_offer', 'token,hmac_sha256'), ['token', 'hmac_sha256']);
  const bad: Array<[string, string, RegExp]> = [
    ['binds', 'host:65536', /^binds: bad value 'host:65536': port must be 0\.\.65535$/],
    ['binds', 'host', /^binds: bad value 'host'/],
    ['seeds', '*:4040', /^seeds: bad value '\*:4040'/],
    ['seeds', 'host:0', /^seeds: bad value 'host:0': port must be 1\.\.65535$/],
    ['seeds', 'http://x:1', /^seeds: .*ws:\/\/ or wss:\/\//],
    ['seeds', '[::zz]:1', /^seeds: .*not an IPv6 address/],
    ['binds', '300.1.1.1:5', /^binds: .*not an IPv4 address/],
    ['monitor_timeout', '-1', /^monitor_timeout: must be a number of seconds > 0/],
    ['monitor_timeout', '0', /^monitor_timeout: /],
    ['connect_interval', '', /^connect_interval: /],
    ['connect_interval', 'abc', /^connect_interval: /],
    ['framing_format', 'xml', /^framing_format: must be one of msgpack, json/],
    ['auth_accept', 'md5', /^auth_accept: bad value 'md5'/],
    ['direct', 'maybe', /^direct: must be yes or no/],
    ['nodeid', 'a b', /^nodeid: bad value 'a b'/],
    ['bogus', '1', /^bogus: unknown key/],
    ['profile', 'x', /^profile: selects a profile/],
    ['cert', 'x', /^cert: set it with/],
  ];
  for (const [k, v, re] of bad) {
    assert.throws(() => parseCliValue(k, v), (e: unknown) => e instanceof ConfigError && e.code === 'AEMP_ERR_CONFIG' && re.test(e.message), `${k}=${v}`);
  }
  assert.throws(() => validateValue('cert', { cert: 'x', key: 'y' }), /^ConfigError: cert: bad certificate/);
  const a = generateSelfSignedCert();
  const b = generateSelfSignedCert();
  assert.throws(() => validateValue('cert', { cert: a.cert, key: b.key }), /cert: the private key does not belong/);
  assert.deepEqual(validateValue('cert', a), a);
});

test('config — profile chain beats global beats program values beats defaults', () => {
  const r = resolveProfile(sampleDb(), 'child', { nodeid: 'prog', framing_format: 'json', seeds: ['p:1'], custom: 7 });
  assert.deepEqual(r.chain, ['child', 'base']);
  assert.deepEqual(r.values, {
    monitor_timeout: 20, connect_interval: 5, framing_format: 'json', direct: true, anonymous: false,
    nodeid: 'kid', seeds: ['g:1'], custom: 7, secret: 'base-secret', binds: ['127.0.0.1:0'],
  });
  assert.deepEqual(r.origin, {
    monitor_timeout: 'global', connect_interval: 'base', framing_format: 'program', direct: 'default', anonymous: 'default',
    nodeid: 'child', seeds: 'global', custom: 'program', secret: 'base', binds: 'child',
  });
  const g = resolveProfile(sampleDb(), undefined, { nodeid: 'prog' });
  assert.deepEqual(g.chain, []);
  assert.equal(g.values.secret, 'global-secret');
  assert.equal(g.origin.nodeid, 'program');
});

test('config — loadConfigFor resolves from the file and gives durations in milliseconds', async () => {
  const dir = await tmp();
  const rcPath = join(dir, 'rc.json');
  await updateConfig(rcPath, (db) => void Object.assign(db, sampleDb()));
  const r = await loadConfigFor({ profile: 'child', programOpts: { monitor_timeout: 1234, nodeid: 'prog', secret: 'p' }, rcPath });
  assert.equal(r.values.nodeid, 'kid');
  assert.equal(r.values.monitor_timeout, 20_000);
  assert.equal(r.origin.monitor_timeout, 'global');
  assert.equal(r.values.connect_interval, 5_000);
  assert.equal(r.values.secret, 'base-secret');
  assert.equal(r.origin.secret, 'base');
  const p = await loadConfigFor({ programOpts: { profile: 'base', monitor_timeout: 1234 }, rcPath });
  assert.deepEqual(p.values.binds, ['*:4040']);
  assert.equal(p.values.monitor_timeout, 20_000);
  assert.equal('profile' in p.values, false);
  // Without a file: program values, then defaults (converted).
  const none = await loadConfigFor({ programOpts: { monitor_timeout: 1234 }, rcPath: join(dir, 'missing.json') });
  assert.deepEqual(none.values, { monitor_timeout: 1234, connect_interval: 2000, framing_format: 'msgpack', direct: true, anonymous: false });
  assert.equal(none.origin.monitor_timeout, 'program');
  assert.equal(none.origin.connect_interval, 'default');
  await assert.rejects(loadConfigFor({ profile: 'nope', programOpts: {}, rcPath }), { code: 'AEMP_ERR_CONFIG', message: "no profile 'nope'" });
});

test('config — a parent cycle is refused when set and reported when found in the file', async () => {
  const db = sampleDb();
  assert.throws(() => setValue(db, 'base', 'parent', 'child'), { code: 'AEMP_ERR_CONFIG', message: 'parent cycle: base -> child -> base' });
  assert.equal(db.profiles.base!.parent, undefined);
  assert.throws(() => setValue(db, undefined, 'parent', 'base'), /parent: only a profile has a parent/);
  const dir = await tmp();
  const rcPath = join(dir, 'rc.json');
  await writeFile(rcPath, JSON.stringify({ version: 1, global: {}, profiles: { a: { parent: 'b' }, b: { parent: 'c' }, c: { parent: 'a' } } }));
  await assert.rejects(loadConfigFor({ profile: 'a', programOpts: {}, rcPath }), { code: 'AEMP_ERR_CONFIG', message: 'parent cycle: a -> b -> c -> a' });
  setValue(db, 'orphan', 'parent', 'ghost');
  assert.throws(() => resolveProfile(db, 'orphan'), { message: "profile 'orphan': parent profile 'ghost' does not exist" });
});

test('config — list edits and profile deletion', () => {
  const db = sampleDb();
  addToList(db, 'child', 'seeds', 'x:1');
  addToList(db, 'child', 'seeds', 'x:1');
  addToList(db, 'child', 'services', 'svc.ts');
  addToList(db, 'child', 'services', 'svc.ts');
  assert.deepEqual(db.profiles.child!.seeds, ['x:1']);
  assert.deepEqual(db.profiles.child!.services, ['svc.ts', 'svc.ts']);
  removeFromList(db, 'child', 'services', 'svc.ts');
  removeFromList(db, 'child', 'seeds', 'absent:1');
  assert.deepEqual(db.profiles.child!.services, ['svc.ts']);
  assert.throws(() => addToList(db, 'child', 'seeds', 'bad'), /^ConfigError: seeds: bad value 'bad'/);
  assert.throws(() => deleteProfile(db, 'base'), { message: "profile 'base' is the parent of 'child'" });
  deleteProfile(db, 'child');
  deleteProfile(db, 'base');
  assert.deepEqual(db.profiles, {});
});

test('config — first write creates the file 0600 in a 0700 directory, atomically, with no leftovers', async () => {
  const dir = await tmp();
  const rcPath = join(dir, 'sub', 'aemp', 'rc.json');
  await updateConfig(rcPath, (db) => setValue(db, undefined, 'secret', 's'));
  assert.equal((await stat(rcPath)).mode & 0o777, 0o600);
  assert.equal((await stat(join(dir, 'sub', 'aemp'))).mode & 0o777, 0o700);
  assert.deepEqual(await readdir(join(dir, 'sub', 'aemp')), ['rc.json']);
  assert.deepEqual(JSON.parse(await readFile(rcPath, 'utf8')), { version: 1, global: { secret: 's' }, profiles: {} });
});

test('config — a failing edit writes nothing', async () => {
  const dir = await tmp();
  const rcPath = join(dir, 'rc.json');
  await updateConfig(rcPath, (db) => setValue(db, undefined, 'secret', 's'));
  const before = await readFile(rcPath);
  await assert.rejects(updateConfig(rcPath, (db) => {
    setValue(db, undefined, 'secret', 'changed');
    setValue(db, undefined, 'binds', ['nope']);
  }), { code: 'AEMP_ERR_CONFIG' });
  assert.deepEqual(await readFile(rcPath), before);
  assert.deepEqual(await readdir(dir), ['rc.json']);
});

test('config — a corrupt, invalid or unreadable file is reported with its path and never overwritten', async () => {
  const dir = await tmp();
  const cases: Array<[string, string | undefined, RegExp]> = [
    ['garbage.json', '{"version": 1, "global": {', /: Unexpected end of JSON input|: Expected/],
    ['empty.json', '', /: Unexpected end of JSON input/],
    ['version.json', '{"version": 2}', /: version: unsupported 2/],
    ['badvalue.json', '{"version": 1, "global": {"seeds": ["*:1"]}}', /: global\.seeds: bad value '\*:1'/],
    ['unknown.json', '{"version": 1, "profiles": {"p": {"colour": "red"}}}', /: profiles\.p\.colour: unknown key/],
    ['isdir', undefined, /: EISDIR/],
  ];
  for (const [name, content, re] of cases) {
    const rcPath = join(dir, name);
    if (content === undefined) await mkdir(rcPath);
    else await writeFile(rcPath, content);
    const check = (e: unknown) => e instanceof ConfigFileError && e.code === 'AEMP_ERR_CONFIG_FILE' && e.message.startsWith(`${rcPath}: `) && re.test(e.message);
    await assert.rejects(readConfig(rcPath), check, name);
    await assert.rejects(updateConfig(rcPath, (db) => setValue(db, undefined, 'secret', 'x')), check, name);
    if (content !== undefined) assert.equal(await readFile(rcPath, 'utf8'), content);
  }
  assert.deepEqual((await readdir(dir)).sort(), cases.map((c) => c[0]).sort());
});

test('config lock — a lock of a dead process or an old lock is taken over; a live one is waited for', async () => {
  const dir = await tmp();
  const lockPath = join(dir, 'rc.json.lock');
  const deadPid = await new Promise<number>((resolve) => {
    const c = spawn(process.execPath, ['-e', '']);
    c.on('exit', () => resolve(c.pid!));
  });
  await writeFile(lockPath, JSON.stringify({ pid: deadPid, host: hostname(), time: Date.now(), nonce: 'x' }));
  assert.equal(await withFileLock(lockPath, async () => 'ran', { timeoutMs: 2000 }), 'ran');
  await assert.rejects(stat(lockPath), { code: 'ENOENT' });

  // Alive owner (us), but older than staleMs.
  await writeFile(lockPath, JSON.stringify({ pid: process.pid, host: hostname(), time: Date.now() - 60_000, nonce: 'y' }));
  assert.equal(await withFileLock(lockPath, async () => 'ran', { timeoutMs: 2000 }), 'ran');

  // Garbled lock file: judged by its age.
  await writeFile(lockPath, '');
  const old = new Date(Date.now() - 60_000);
  await utimes(lockPath, old, old);
  assert.equal(await withFileLock(lockPath, async () => 'ran', { timeoutMs: 2000 }), 'ran');

  // Alive and fresh: we wait, then give up with a message naming the owner.
  const fresh = JSON.stringify({ pid: process.pid, host: hostname(), time: Date.now(), nonce: 'z' });
  await writeFile(lockPath, fresh);
  await assert.rejects(withFileLock(lockPath, async () => 'ran', { timeoutMs: 100 }), (e: unknown) =>
    e instanceof ConfigFileError && e.message.includes(`held by pid ${process.pid}`));
  assert.equal(await readFile(lockPath, 'utf8'), fresh);
});

test('config — two processes doing 100 `aemp addseed` each (the CLI entry point, in process) lose no update', async () => {
  const dir = await tmp();
  const rcPath = join(dir, 'rc.json');
  const cliUrl = new URL('../node/cli.ts', import.meta.url).href;
  // Each writer says "ready", waits for "go" so both loops really overlap. main() is
  // what the bin runs per invocation (200 bin processes would take too long here;
  // test/cli.test.ts runs the bin itself concurrently).
  const script = `
    const { main } = await import(${JSON.stringify(cliUrl)});
    const [tag, rc] = process.argv.slice(-2);
    const io = { env: { AEMP_RC: rc }, out: () => {}, err: (l) => process.stderr.write(l + '\\n') };
    process.stdout.write('ready\\n');
    await new Promise((r) => process.stdin.once('data', r));
    for (let i = 0; i < 100; i++) {
      if ((await main(['addseed', tag + '-' + i + '.example:1'], io)) !== 0) process.exit(3);
      // A pause like that between two aemp invocations, so the writers take turns.
      await new Promise((r) => setTimeout(r, Math.random() * 3));
    }
    process.stdout.write('done\\n');
    process.stdin.destroy();
  `;
  const tsx = fileURLToPath(new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url));
  const writers = ['a', 'b'].map((tag) => {
    const c = spawn(process.execPath, ['--import', tsx, '--input-type=module', '-e', script, tag, rcPath], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: c.stdout! });
    const ready = new Promise<void>((r) => lines.once('line', () => r()));
    const exited = new Promise<number | null>((r) => c.on('exit', (code) => r(code)));
    return { c, ready, exited };
  });
  await Promise.all(writers.map((w) => w.ready));
  for (const w of writers) w.c.stdin!.write('go\n');
  assert.deepEqual(await Promise.all(writers.map((w) => w.exited)), [0, 0]);
  const db = await readConfig(rcPath);
  const seeds = db.global.seeds as string[];
  assert.equal(seeds.length, 200);
  for (const tag of ['a', 'b']) for (let i = 0; i < 100; i++) assert.ok(seeds.includes(`${tag}-${i}.example:1`));
  assert.deepEqual(await readdir(dir), ['rc.json']);
  // The writers overlapped (the list is not just a's then b's), so the lock was contended.
  const switches = seeds.filter((s, i) => i > 0 && s[0] !== seeds[i - 1]![0]).length;
  assert.ok(switches >= 2, `writers took turns ${switches} times`);
});

test('selfsigned — a serial whose random bytes begin with a zero byte is still minimal DER (OpenSSL parses the certificate)', () => {
  for (const first of [0x00, 0x80]) {
    const bytes = new Uint8Array(16).fill(0x05);
    bytes[0] = first;
    const x = new X509Certificate(generateSelfSignedCert({ serialBytes: bytes }).cert);
    assert.equal(x.serialNumber, '01' + '05'.repeat(15));
  }
  assert.deepEqual([...serialNumber(Uint8Array.from([0xff, 0x00]))], [0x7f, 0x00]);
  assert.deepEqual([...serialNumber(Uint8Array.from([0x42, 0x00]))], [0x42, 0x00]);
});

test('selfsigned — the certificate is valid for its key and serves TLS to a client that pins it', async () => {
  const { cert, key } = generateSelfSignedCert({ commonName: 'seed1', altNames: ['localhost', '127.0.0.1', '::1'], days: 30, nowMs: Date.UTC(2030, 0, 1) });
  const x = new X509Certificate(cert);
  assert.equal(x.subject, 'CN=seed1');
  assert.equal(x.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
  assert.equal(new Date(x.validTo).toISOString(), '2030-01-31T00:00:00.000Z');
  assert.ok(x.checkPrivateKey(createPrivateKey(key)));
  assert.ok(x.verify(x.publicKey));
  // Expiry after 2049 needs GeneralizedTime.
  assert.equal(new Date(new X509Certificate(generateSelfSignedCert({ nowMs: Date.UTC(2049, 6, 1), days: 365 }).cert).validTo).getUTCFullYear(), 2050);

  const live = generateSelfSignedCert();
  const server = tls.createServer({ cert: live.cert, key: live.key }, (s) => s.end('hello'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  try {
    for (const servername of ['localhost', undefined]) {
      const got = await new Promise<string>((resolve, reject) => {
        const c = tls.connect({ host: '127.0.0.1', port, ca: live.cert, servername }, () => {
          if (!c.authorized) reject(new Error('not authorized'));
        });
        let data = '';
        c.on('data', (d) => (data += d));
        c.on('end', () => resolve(data));
        c.on('error', reject);
      });
      assert.equal(got, 'hello');
    }
  } finally {
    await new Promise((r) => server.close(r));
  }
});
