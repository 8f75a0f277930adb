import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { jsonOrString, main, parseMeshArgs } from '../node/cli.ts';
import { generateSelfSignedCert } from '../node/selfsigned.ts';
import { verifyToken } from '../lib/protocol/token.ts';

const BIN = fileURLToPath(new URL('../node/bin.js', import.meta.url));

interface Run {
  code: number | null;
  out: string;
  err: string;
}

/** Runs the real bin with AEMP_RC=rc. */
function aemp(rc: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const c = spawn(BIN, args, { env: { ...process.env, AEMP_RC: rc, AEMP_WARNLEVEL: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, out, err }));
  });
}

async function fresh(): Promise<{ dir: string; rc: string; db: () => Promise<any> }> {
  const dir = await mkdtemp(join(tmpdir(), 'aemp-cli-'));
  const rc = join(dir, 'rc.json');
  return { dir, rc, db: async () => JSON.parse(await readFile(rc, 'utf8')) };
}

/** Asserts a usage failure: exit 2, exactly one line on stderr matching re, nothing on stdout. */
function assertUsage(r: Run, re: RegExp): void {
  assert.equal(r.code, 2, r.err);
  assert.equal(r.out, '');
  const lines = r.err.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, r.err);
  assert.match(lines[0]!, re);
}

/** showprofile's "key  value  (origin)" lines as {key: [json, origin]}. */
function parseShow(out: string): Record<string, [unknown, string]> {
  const res: Record<string, [unknown, string]> = {};
  for (const line of out.split('\n').filter((l) => l && !l.startsWith('#'))) {
    const m = /^(\S+)\s+(.*)  \((.+)\)$/.exec(line);
    assert.ok(m, line);
    res[m[1]!] = [m[1] === 'cert' ? m[2] : JSON.parse(m[2]!), m[3]!];
  }
  return res;
}

test('cli — chained edits on a profile land in one write, file 0600', async () => {
  const { dir, rc, db } = await fresh();
  const r = await aemp(rc, 'profile', 'seed1', 'setnodeid', 'seed1', 'setbinds', '*:4040', 'setsecret', 'x');
  assert.deepEqual(r, { code: 0, out: '', err: '' });
  assert.deepEqual(await db(), { version: 1, global: {}, profiles: { seed1: { nodeid: 'seed1', binds: ['*:4040'], secret: 'x' } } });
  assert.equal((await stat(rc)).mode & 0o777, 0o600);
  assert.deepEqual(await readdir(dir), ['rc.json']);
});

test('cli — every edit command, global and per profile', async () => {
  const { rc, db } = await fresh();
  let r = await aemp(rc,
    'setseeds', 'a.example:1,wss://s.example/aemp', 'addseed', '[::1]:7', 'addseed', 'a.example:1', 'delseed', 'wss://s.example/aemp',
    'setbinds', '127.0.0.1:0', 'addbind', '*:4041', 'delbind', '127.0.0.1:0',
    'setservices', 'svc.ts', 'addservice', 'svc.ts', 'addservice', 'other.ts', 'delservice', 'svc.ts',
    'set', 'monitor_timeout', '12.5', 'set', 'connect_interval', '3', 'set', 'framing_format', 'json',
    'set', 'auth_offer', 'hmac_sha256,token', 'set', 'auth_accept', '["token"]', 'set', 'direct', 'no', 'set', 'anonymous', 'yes',
    'set', 'token', 'tok', 'gensecret', 'setnodeid', 'n1',
    'profile', 'p', 'setsecret', 's', 'delsecret', 'setnodeid', 'x', 'delnodeid', 'setparent', 'q', 'profile', 'q', 'set', 'token', 't2', 'del', 'token',
  );
  assert.deepEqual(r, { code: 0, out: '', err: '' });
  const d = await db();
  assert.match(d.global.secret, /^[A-Za-z0-9_-]{43}$/); // 32 random bytes, base64url
  delete d.global.secret;
  assert.deepEqual(d, {
    version: 1,
    global: {
      seeds: ['a.example:1', '[::1]:7'], binds: ['*:4041'], services: ['svc.ts', 'other.ts'],
      monitor_timeout: 12.5, connect_interval: 3, framing_format: 'json', auth_offer: ['hmac_sha256', 'token'], auth_accept: ['token'],
      direct: false, anonymous: true, token: 'tok', nodeid: 'n1',
    },
    profiles: { p: { parent: 'q' }, q: {} },
  });
  r = await aemp(rc, 'profile', 'p', 'delparent', 'delprofile', 'q', 'setseeds', '', 'showconfig');
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), await db());
  assert.deepEqual((await db()).profiles, { p: { seeds: [] } });
  r = await aemp(rc, 'delprofile', 'p', 'clrnodeid', 'delsecret');
  assert.equal(r.code, 0, r.err);
  assert.equal((await db()).global.nodeid, undefined);
  assert.deepEqual((await db()).profiles, {});
});

test('cli — showprofile shows resolved values with their origin; precedence child > parent > global > default', async () => {
  const { rc } = await fresh();
  let r = await aemp(rc,
    'setseeds', 'g.example:1', 'set', 'monitor_timeout', '20', 'setsecret', 'gs',
    'profile', 'base', 'setsecret', 'bs', 'setbinds', '*:4040', 'set', 'connect_interval', '5',
    'profile', 'child', 'setparent', 'base', 'setnodeid', 'kid', 'setbinds', '127.0.0.1:0',
    'showprofile', 'child',
  );
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out.split('\n')[0], '# profile child <- base <- global <- default');
  assert.deepEqual(parseShow(r.out), {
    anonymous: [false, 'default'], binds: [['127.0.0.1:0'], 'child'], connect_interval: [5, 'base'], direct: [true, 'default'],
    framing_format: ['msgpack', 'default'], monitor_timeout: [20, 'global'], nodeid: ['kid', 'child'], secret: ['bs', 'base'],
    seeds: [['g.example:1'], 'global'],
  });
  // A show in the middle of a chain sees the edits made before it.
  r = await aemp(rc, 'profile', 'child', 'delbinds', 'x:1');
  assertUsage(r, /^aemp: unknown command 'delbinds'; try 'aemp help'$/);
  r = await aemp(rc, 'profile', 'child', 'set', 'monitor_timeout', '1', 'showprofile', 'child', 'profile', 'base', 'setsecret', 'bs2');
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(parseShow(r.out).monitor_timeout, [1, 'child']);
  assert.deepEqual(parseShow(r.out).secret, ['bs', 'base']);
});

test('cli — parent cycles: refused when set (exit 2), reported when found (exit 1)', async () => {
  const { rc } = await fresh();
  await aemp(rc, 'profile', 'a', 'setparent', 'b', 'profile', 'b', 'setsecret', 'x');
  const before = await readFile(rc);
  let r = await aemp(rc, 'profile', 'b', 'setparent', 'a');
  assertUsage(r, /^aemp: setparent: parent cycle: b -> a -> b; try 'aemp help setparent'$/);
  assert.deepEqual(await readFile(rc), before);
  await writeFile(rc, JSON.stringify({ version: 1, global: {}, profiles: { a: { parent: 'b' }, b: { parent: 'a' } } }));
  r = await aemp(rc, 'showprofile', 'a');
  assert.deepEqual(r, { code: 1, out: '', err: 'aemp: showprofile: parent cycle: a -> b -> a\n' });
  r = await aemp(rc, 'showprofile', 'nope');
  assert.deepEqual(r, { code: 1, out: '', err: "aemp: showprofile: no profile 'nope'\n" });
  r = await aemp(rc, 'setparent', 'a');
  assertUsage(r, /^aemp: setparent: parent: only a profile has a parent/);
});

test('cli — bad arguments exit 2 with one line naming the key or command, and write nothing', async () => {
  const { dir, rc } = await fresh();
  const cases: Array<[string[], RegExp]> = [
    [['frobnicate'], /^aemp: unknown command 'frobnicate'; try 'aemp help'$/],
    [['setsecret', 'x', 'setbinds', 'nohost'], /^aemp: binds: bad value 'nohost': .*; try 'aemp help setbinds'$/],
    [['addseed', 'h:70000'], /^aemp: seeds: bad value 'h:70000': port must be 1\.\.65535; try 'aemp help addseed'$/],
    [['set', 'monitor_timeout', '-3'], /^aemp: monitor_timeout: must be a number of seconds > 0.*; try 'aemp help set'$/],
    [['set', 'colour', 'red'], /^aemp: colour: unknown key .*; try 'aemp help set'$/],
    [['set', 'framing_format'], /^aemp: set: missing VALUE; try 'aemp help set'$/],
    [['setnodeid'], /^aemp: setnodeid: missing ID; try 'aemp help setnodeid'$/],
    [['profile', 'bad name', 'setsecret', 'x'], /^aemp: profile: bad profile name 'bad name'/],
    [['setcert', join(dir, 'missing.pem')], /^aemp: setcert: cannot read .*missing\.pem/],
    [['token', '--node', 'a', '--ttl', '-5'], /^aemp: token: bad --ttl '-5'/],
    [['token', '--ttl', '5'], /^aemp: token: missing --node PATTERN/],
    [['token', '--node', 'a b', '--ttl', '5'], /^aemp: token: bad --node 'a b'/],
    [['token', '--node', 'a', '--ttl', '5', '--caps', 'kil,root'], /^aemp: token: unknown capability 'root' in --caps: expected some of kil, spawn, trace, sndon; try 'aemp help token'$/],
    [['help', 'nosuch'], /^aemp: help: unknown command 'nosuch'; try 'aemp help'$/],
    [['snd'], /^aemp: snd: missing PORT; try 'aemp help snd'$/],
    [['mon', 'n#p', 'extra'], /^aemp: mon: unexpected argument 'extra'/],
    [['cal', '--timeout', 'soon', 'n#p'], /^aemp: cal: bad --timeout 'soon'/],
    [['nodes', 'x'], /^aemp: nodes: unexpected argument 'x'/],
    [['grp'], /^aemp: grp: missing GROUP/],
    [['run', 'seed', 'monitor_timeout=0'], /^aemp: monitor_timeout: must be a number/],
    [['setsecret', 'x', 'snd', 'n#p'], /^aemp: snd: mesh commands cannot be chained/],
  ];
  // Three at a time: each writes nothing, so they cannot disturb each other.
  for (let i = 0; i < cases.length; i += 3) {
    const batch = cases.slice(i, i + 3);
    const runs = await Promise.all(batch.map(([args]) => aemp(rc, ...args)));
    runs.forEach((r, j) => assertUsage(r, batch[j]![1]));
  }
  assert.deepEqual(await readdir(dir), []);
});

test('cli — a corrupt database is reported with path and error (exit 1) and left byte-for-byte unchanged', async () => {
  const { dir, rc } = await fresh();
  const junk = Buffer.from('{"version": 1, "global": {"secret": "x",,}}\n\x00\xff');
  await writeFile(rc, junk);
  for (const args of [['setsecret', 'y'], ['showconfig'], ['profile', 'p', 'addseed', 'a:1', 'showprofile', 'p']]) {
    const r = await aemp(rc, ...args);
    assert.equal(r.code, 1);
    assert.equal(r.out, '');
    assert.equal(r.err.split('\n').filter(Boolean).length, 1, r.err);
    assert.ok(r.err.startsWith(`aemp: ${rc}: `), r.err);
    assert.match(r.err, /JSON|Unexpected|Expected/);
    assert.deepEqual(await readFile(rc), junk);
  }
  assert.deepEqual(await readdir(dir), ['rc.json']);
});

test('cli — gencert, setcert FILE, delcert', async () => {
  const { dir, rc, db } = await fresh();
  let r = await aemp(rc, 'profile', 'seed', 'setbinds', '10.1.2.3:4040,seed.example:443', 'gencert', 'showprofile', 'seed');
  assert.equal(r.code, 0, r.err);
  assert.match(parseShow(r.out).cert![0] as string, /^certificate CN=seed, valid until \d{4}-\d\d-\d\d$/);
  const { cert, key } = (await db()).profiles.seed.cert;
  const x = new X509Certificate(cert);
  assert.ok(x.checkPrivateKey(createPrivateKey(key)));
  assert.match(x.subjectAltName!, /DNS:localhost, IP Address:127\.0\.0\.1, .*IP Address:10\.1\.2\.3, DNS:seed\.example$/);

  const mine = generateSelfSignedCert({ commonName: 'mine' });
  const file = join(dir, 'both.pem');
  await writeFile(file, mine.key + mine.cert);
  r = await aemp(rc, 'setcert', file);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual((await db()).global.cert, { cert: mine.cert, key: mine.key });
  await writeFile(file, mine.cert);
  assertUsage(await aemp(rc, 'setcert', file), /^aemp: setcert: .*both\.pem must hold a PEM certificate and its private key/);
  r = await aemp(rc, 'delcert', 'profile', 'seed', 'clrcert');
  assert.equal(r.code, 0, r.err);
  assert.deepEqual((await db()).global, {});
  assert.deepEqual((await db()).profiles.seed, { binds: ['10.1.2.3:4040', 'seed.example:443'] });
});

test('cli — token prints a token that verifies with the profile secret', async () => {
  const { rc } = await fresh();
  let r = await aemp(rc, 'token', '--node', 'web/*', '--ttl', '60');
  assert.deepEqual(r, { code: 1, out: '', err: 'aemp: token: no secret in the global settings\n' });
  await aemp(rc, 'setsecret', 'global-s', 'profile', 'web', 'setsecret', 'web-s');
  const t0 = Date.now();
  r = await aemp(rc, 'token', '--node', 'web/*', '--ttl=60', '--profile', 'web');
  assert.equal(r.code, 0, r.err);
  const tok = r.out.trim();
  assert.equal(r.out, tok + '\n');
  const t1 = Date.now();
  const subtle = globalThis.crypto.subtle;
  // Signed with the CLI's clock, somewhere between t0 and t1 (however slow a loaded machine starts it).
  const { exp } = await verifyToken(subtle, 'web-s', tok, 'web/tab1', t0);
  assert.ok(exp >= Math.floor(t0 / 1000) + 60 && exp <= Math.ceil(t1 / 1000) + 60, `exp ${exp}`);
  await assert.rejects(verifyToken(subtle, 'global-s', tok, 'web/tab1', t0), { code: 'AEMP_ERR_TOKEN' });
  await assert.rejects(verifyToken(subtle, 'web-s', tok, 'web/tab1', exp * 1000), { code: 'AEMP_ERR_TOKEN' });
  await assert.rejects(verifyToken(subtle, 'web-s', tok, 'other', t0), { code: 'AEMP_ERR_TOKEN' });
  // In a chain, token uses the current profile, as edited so far.
  r = await aemp(rc, 'profile', 'web', 'token', '--node', 'w', '--ttl', '5', 'profile', 'x', 'setsecret', 'x-s', 'token', '--node', 'w', '--ttl', '5');
  assert.equal(r.code, 0, r.err);
  const [a, b] = r.out.trim().split('\n');
  await verifyToken(subtle, 'web-s', a!, 'w', Date.now());
  await verifyToken(subtle, 'x-s', b!, 'w', Date.now());
  // --caps signs capabilities into the token.
  r = await aemp(rc, 'token', '--node', 'web/*', '--ttl', '60', '--caps', 'kil,spawn', '--profile', 'web');
  assert.equal(r.code, 0, r.err);
  assert.deepEqual((await verifyToken(subtle, 'web-s', r.out.trim(), 'web/tab1', Date.now())).caps, ['kil', 'spawn']);
});

test('cli — help lists every command; help CMD explains one', async () => {
  const { rc } = await fresh();
  const r = await aemp(rc, '--help');
  assert.equal(r.code, 0);
  for (const c of ['gensecret', 'setsecret', 'delsecret', 'gencert', 'setcert', 'delcert', 'setnodeid', 'delnodeid', 'setseeds', 'addseed',
    'delseed', 'setbinds', 'addbind', 'delbind', 'setservices', 'addservice', 'delservice', 'setparent', 'delparent', 'set KEY VALUE',
    'profile NAME', 'delprofile', 'showprofile', 'showconfig', 'token --node', 'run [PROFILE]', 'snd PORT', 'mon PORT', 'cal [--timeout',
    'trace NODE', 'nodes', 'grp [--watch]']) {
    assert.ok(r.out.includes(`\n  ${c}`), c);
  }
  assert.match(r.out, /AEMP_RC/);
  const h = await aemp(rc, 'help', 'set');
  assert.equal(h.code, 0);
  assert.match(h.out, /^usage: aemp set KEY VALUE\n/);
  assert.match(h.out, /\n {2}monitor_timeout +seconds without traffic/);
});

test('cli — mesh arguments: JSON-or-string rule and checks', () => {
  assert.deepEqual(['42', 'true', 'null', '{"a":1}', '[1,"x"]', 'hello', '"42"', '', 'a b'].map(jsonOrString),
    [42, true, null, { a: 1 }, [1, 'x'], 'hello', '42', '', 'a b']);
  assert.deepEqual(parseMeshArgs('snd', ['n1#p', 'ping', '1', '{"x":[2]}']), { cmd: 'snd', port: 'n1#p', msg: ['ping', 1, { x: [2] }] });
  assert.deepEqual(parseMeshArgs('cal', ['--timeout', '2.5', 'n1#p', 'add', '1', '2']), { cmd: 'cal', port: 'n1#p', msg: ['add', 1, 2], timeoutSec: 2.5 });
  assert.deepEqual(parseMeshArgs('cal', ['n1#p']), { cmd: 'cal', port: 'n1#p', msg: [], timeoutSec: 10 });
  assert.deepEqual(parseMeshArgs('mon', ['n1']), { cmd: 'mon', port: 'n1' });
  assert.deepEqual(parseMeshArgs('trace', ['n1#p']), { cmd: 'trace', target: 'n1#p' });
  assert.deepEqual(parseMeshArgs('nodes', []), { cmd: 'nodes' });
  assert.deepEqual(parseMeshArgs('grp', ['--watch', 'chat']), { cmd: 'grp', group: 'chat', watch: true });
  assert.deepEqual(parseMeshArgs('grp', ['chat']), { cmd: 'grp', group: 'chat', watch: false });
  assert.deepEqual(parseMeshArgs('run', ['monitor_timeout=5', 'binds=127.0.0.1:0']), { cmd: 'run', overrides: { monitor_timeout: 5, binds: ['127.0.0.1:0'] } });
  assert.throws(() => parseMeshArgs('snd', ['bad port']), { code: 'AEMP_ERR_BAD_ARGUMENT', message: "snd: bad PORT 'bad port': node IDs use only A-Z a-z 0-9 _ - . : /" });
  assert.throws(() => parseMeshArgs('run', ['nokey']), { code: 'AEMP_ERR_BAD_ARGUMENT', message: "run: expected KEY=VALUE, got 'nokey'" });
});

// ---- gaps of issue 6's command list ----

test('cli — help CMD works for every command the help lists, and for the aliases', async () => {
  const out: string[] = [];
  const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(`ERR ${l}`), env: {} };
  assert.equal(await main(['--help'], io), 0);
  const names = [...new Set(out.join('\n').split('\n').map((l) => /^ {2}([a-z]+)\b/.exec(l)?.[1]).filter((n): n is string => !!n && n !== 'aemp'))];
  assert.ok(names.length >= 35, names.join(' '));
  for (const name of [...names, 'clrsecret', 'clrcert', 'clrnodeid', 'clrparent', 'help']) {
    out.length = 0;
    assert.equal(await main(['help', name], io), 0, name);
    assert.match(out[0]!, new RegExp(`^usage: aemp (${name}|${name.replace(/^clr/, 'del')})\\b`), name);
  }
  // And through the real bin.
  const { rc } = await fresh();
  const r = await aemp(rc, 'help', 'addseed');
  assert.deepEqual(r, { code: 0, out: 'usage: aemp addseed HOST:PORT|URL\n\nadd one to the seed addresses.\n', err: '' });
});

test('cli — delprofile: refused while another profile inherits from it, or when it does not exist; nothing written', async () => {
  const { rc, db } = await fresh();
  await aemp(rc, 'profile', 'base', 'setsecret', 's', 'profile', 'child', 'setparent', 'base');
  const before = await readFile(rc);
  assertUsage(await aemp(rc, 'delprofile', 'base'), /^aemp: delprofile: profile 'base' is the parent of 'child'; try 'aemp help delprofile'$/);
  assertUsage(await aemp(rc, 'delprofile', 'nope'), /^aemp: delprofile: no profile 'nope'; try 'aemp help delprofile'$/);
  assert.deepEqual(await readFile(rc), before);
  // In one chain: the child lets go first, then the parent can go.
  const r = await aemp(rc, 'profile', 'child', 'delparent', 'delprofile', 'base');
  assert.equal(r.code, 0, r.err);
  assert.deepEqual((await db()).profiles, { child: {} });
});

test('cli — a three-level parent chain: child beats parent beats grandparent beats global beats default', async () => {
  const { rc } = await fresh();
  const r = await aemp(rc,
    'set', 'monitor_timeout', '30', 'setsecret', 'g', 'setseeds', 'g.example:1', 'set', 'framing_format', 'json',
    'profile', 'grand', 'setsecret', 'gp', 'setseeds', 'gp.example:1', 'set', 'connect_interval', '9',
    'profile', 'mid', 'setparent', 'grand', 'setseeds', 'mid.example:1', 'set', 'direct', 'no',
    'profile', 'leaf', 'setparent', 'mid', 'setnodeid', 'leaf1', 'set', 'direct', 'yes',
    'showprofile', 'leaf',
  );
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out.split('\n')[0], '# profile leaf <- mid <- grand <- global <- default');
  assert.deepEqual(parseShow(r.out), {
    anonymous: [false, 'default'], connect_interval: [9, 'grand'], direct: [true, 'leaf'], framing_format: ['json', 'global'],
    monitor_timeout: [30, 'global'], nodeid: ['leaf1', 'leaf'], secret: ['gp', 'grand'], seeds: [['mid.example:1'], 'mid'],
  });
});

test('cli — two aemp processes adding seeds at the same time lose none', async () => {
  const { dir, rc } = await fresh();
  const N = 6;
  const writer = async (tag: string) => {
    for (let i = 0; i < N; i++) {
      const r = await aemp(rc, 'addseed', `${tag}${i}.example:1`);
      assert.deepEqual(r, { code: 0, out: '', err: '' });
    }
  };
  await Promise.all([writer('a'), writer('b')]);
  const seeds = JSON.parse(await readFile(rc, 'utf8')).global.seeds as string[];
  assert.equal(seeds.length, 2 * N);
  for (const tag of ['a', 'b']) for (let i = 0; i < N; i++) assert.ok(seeds.includes(`${tag}${i}.example:1`), `${tag}${i}`);
  assert.deepEqual(await readdir(dir), ['rc.json']);
});
