/**
 * The package as users get it: `npm pack`, then the tarball installed
 * offline (test/fixtures/offline-install.ts) into temporary projects —
 * a plain Node ESM project and a Vite app — with no access to the clone's
 * sources or its node_modules beyond the tools (tsc, vite, Chromium) the
 * test drives them with. `npm test` builds dist/ first; so does `prepack`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { installOffline, npmEnv, ROOT, run, type Project } from './fixtures/offline-install.ts';
import { Proc, procs } from './fixtures/cli-proc.ts';
import { launchChromium } from '../e2e/browser.ts';

const SECRET = 'pkg-test-secret';
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const VITE = join(ROOT, 'node_modules/vite/bin/vite.js');

let tmp: string;
let tarball: string;
let packed: string[];
let nodeApp: Project;
let webApp: Project;
let seed: Proc;
let seedUrl: string;

function write(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
}

/** The installed bin, with its own configuration file. */
function aemp(args: string[], env: Record<string, string> = {}): Proc {
  return new Proc(join(nodeApp.dir, 'node_modules/.bin/aemp'), args, { AEMP_RC: join(tmp, 'rc.json'), ...npmEnv(), ...env });
}

before(async () => {
  if (!existsSync(join(ROOT, 'dist/node/bin.js'))) throw new Error('package test: dist/ is not built; run `npm run build` (npm test does)');
  tmp = mkdtempSync(join(tmpdir(), 'aemp-pkg-'));
  // dist/ is fresh (npm test built it): pack without running prepack's build again.
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], ROOT);
  const info = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = join(tmp, info[0]!.filename);
  packed = info[0]!.files.map((f) => f.path);
  const node = join(tmp, 'node-app');
  const web = join(tmp, 'web-app');
  mkdirSync(node);
  mkdirSync(web);
  [nodeApp, webApp] = await Promise.all([installOffline(node, tarball, ['@types/node']), installOffline(web, tarball)]);
});

after(async () => {
  for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('package — the tarball holds dist/, the README and the LICENSE, not the sources, tests or CI; installing it warns about no install script', () => {
  for (const f of ['package.json', 'README.md', 'LICENSE', 'dist/node/bin.js', 'dist/node/index.js', 'dist/node/index.d.ts', 'dist/web/index.js', 'dist/web/index.d.ts', 'dist/lib/index.js', 'dist/lib/index.js.map', 'dist/aemp.js', 'dist/aemp.d.ts']) {
    assert.ok(packed.includes(f), `${f} is packed`);
  }
  const stray = packed.filter((f) => !/^(dist\/(lib|node|web)\/|dist\/[\w-]+\.js(\.map)?$|dist\/aemp\.d\.ts$|package\.json$|README\.md$|LICENSE$)/.test(f));
  assert.deepEqual(stray, []);
  assert.ok(!packed.some((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')), 'no TypeScript sources');
  for (const p of [nodeApp, webApp]) {
    assert.doesNotMatch(p.stderr, /install-scripts|install script/i);
    assert.ok(!existsSync(join(p.dir, 'node_modules/tsx')) && !existsSync(join(p.dir, 'node_modules/@roamhq')) && !existsSync(join(p.dir, 'node_modules/bufferutil')));
  }
});

test('package — the installed aemp: --help, and `aemp run` starts a seed from a profile', async () => {
  const help = aemp(['--help']);
  assert.equal(await help.exit(), 0, help.err);
  assert.match(help.out, /^usage: aemp COMMAND/);
  const setup = aemp(['profile', 'pkgseed', 'setnodeid', 'pkgseed', 'setbinds', '127.0.0.1:0', 'setsecret', SECRET]);
  assert.equal(await setup.exit(), 0, setup.err);
  seed = aemp(['run', 'pkgseed']);
  seedUrl = (await seed.waitFor('err', /^aemp: node pkgseed listening on (ws:\/\/127\.0\.0\.1:\d+\/)$/m))[1]!;
});

test('package — a plain Node ESM script joins the seed and exchanges a message; without @roamhq/wrtc it says once that it stays on the relay', async () => {
  assert.ok(seedUrl, 'the seed runs (previous test)');
  write(nodeApp.dir, {
    'echo.mjs': `import { configure, port, rcv, snd, grpReg, grpMon, shutdown } from 'aemp';
import { createToken } from 'aemp/node';
const [seed, secret] = process.argv.slice(2);
await configure({ nodeid: 'pkg_echo', seeds: [seed], secret });
const echo = port();
rcv(echo, 'ping', (text, reply) => snd(reply, 'pong', text));
grpReg('pkg_echo', echo);
const greeted = new Set();
grpMon('pkg_page', (ports) => {
  for (const p of ports ?? []) if (!greeted.has(p)) greeted.add(p), snd(p, 'hello', 'from node');
});
process.on('SIGTERM', () => shutdown().then(() => process.exit(0)));
console.log('token ' + (await createToken(secret, { node: 'web/*', ttlSec: 600 })));
`,
    'ping.mjs': `import { configure, call, grpMon, shutdown } from 'aemp';
const [seed, secret] = process.argv.slice(2);
await configure({ nodeid: 'pkg_ping', seeds: [seed], secret });
const echo = await new Promise((resolve) => grpMon('pkg_echo', (ports) => ports?.[0] && resolve(ports[0])));
console.log(JSON.stringify(await call(echo, ['ping', 'hi'], { timeoutMs: 30000 })));
await shutdown();
`,
  });
  const echo = new Proc(process.execPath, [join(nodeApp.dir, 'echo.mjs'), seedUrl, SECRET], { ...npmEnv(), AEMP_WARNLEVEL: '6' });
  await echo.waitFor('out', /^token \S+$/m);
  const ping = new Proc(process.execPath, [join(nodeApp.dir, 'ping.mjs'), seedUrl, SECRET], npmEnv());
  assert.equal(await ping.exit(), 0, ping.err);
  assert.equal(ping.out, '["pong","hi"]\n');
  assert.equal(echo.err.match(/@roamhq\/wrtc is not installed/g)?.length, 1, echo.err);
});

test('package — a strict TypeScript project typechecks against aemp, aemp/node, aemp/web and aemp/core', async () => {
  write(nodeApp.dir, {
    'tsconfig.json': JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] },
      include: ['check.ts'],
    }),
    'check.ts': `import { configure, port, rcv, snd, call, grpMon, type ConfigureOptions, type PortId, BadArgumentError } from 'aemp';
import { createToken, setHttpHandler, type TokenOptions } from 'aemp/node';
import { monSeed, monLinkFailures } from 'aemp/web';
import { createNode, type MpNode } from 'aemp/core';

const opts: ConfigureOptions = { seeds: ['ws://127.0.0.1:4040/'], secret: 's', monitor_timeout: 6000, groups: { maxGroups: 10 } };
// @ts-expect-error an unknown option is a compile error
const typo: ConfigureOptions = { monitor_timout: 6000 };
const p: PortId = port();
rcv(p, 'add', (a: number, b: number, reply: PortId) => snd(reply, a + b));
const sum: Promise<unknown[]> = call(p, ['add', 1, 2], { timeoutMs: 1000 });
const t: Promise<string> = createToken('secret', { node: 'web/*', ttlSec: 60 } satisfies TokenOptions);
const n: Promise<MpNode> = createNode({ nodeid: 'x' });
const g = grpMon('g', (ports: PortId[] | undefined) => ports);
export { opts, typo, sum, t, n, g, configure, setHttpHandler, monSeed, monLinkFailures, BadArgumentError };
`,
  });
  await run(process.execPath, [TSC, '-p', join(nodeApp.dir, 'tsconfig.json')], nodeApp.dir);
});

test('package — a Vite app importing aemp builds with no configuration and typechecks with the web types; it and a plain page with dist/aemp.js, in Chromium, receive a message from a Node node', async () => {
  assert.ok(seedUrl, 'the seed runs');
  write(webApp.dir, {
    'index.html': '<!doctype html><meta charset="utf-8"><title>aemp app</title><pre id="out">starting</pre><script type="module" src="./main.ts"></script>\n',
    'main.ts': `import { configure, port, rcv, grpReg, monSeed, type PortId } from 'aemp';

const q = new URLSearchParams(location.search);
const out = document.getElementById('out')!;
await configure({ seeds: [q.get('seed')!], token: q.get('token')!, nodeid: 'web/pkg' });
monSeed((seed, why) => (out.dataset.seed = seed ?? \`none: \${why ?? ''}\`));
const me: PortId = port();
rcv(me, 'hello', (text: string) => (out.textContent = \`got \${text}\`));
grpReg('pkg_page', me);
`,
    'tsconfig.json': JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler', lib: ['ES2022', 'DOM'], types: [], strict: true, noEmit: true, skipLibCheck: false, isolatedModules: true },
      include: ['main.ts'],
    }),
  });
  await run(process.execPath, [TSC, '-p', join(webApp.dir, 'tsconfig.json')], webApp.dir);
  await run(process.execPath, [VITE, 'build', '--logLevel', 'warn'], webApp.dir);
  // The same without a bundler: the package's dist/aemp.js and its chunks copied next to a plain page.
  const plain = join(webApp.dir, 'dist/plain');
  mkdirSync(plain);
  const pkgDist = join(webApp.dir, 'node_modules/aemp/dist');
  for (const f of readdirSync(pkgDist)) if (f.endsWith('.js')) copyFileSync(join(pkgDist, f), join(plain, f));
  write(plain, {
    'index.html': `<!doctype html><meta charset="utf-8"><pre id="out">starting</pre><script type="module">
  import { configure, port, rcv, grpReg } from './aemp.js';
  const q = new URLSearchParams(location.search);
  await configure({ seeds: [q.get('seed')], token: q.get('token'), nodeid: 'web/plain' });
  const me = port();
  rcv(me, 'hello', (text) => (document.getElementById('out').textContent = 'got ' + text));
  grpReg('pkg_page', me);
</script>
`,
  });

  const echo = procs.find((p) => p.child.spawnargs.some((a) => a.endsWith('echo.mjs')));
  assert.ok(echo, 'the Node node runs (previous test)');
  const token = (await echo.waitFor('out', /^token (\S+)$/m))[1]!;
  const server = await serve(join(webApp.dir, 'dist'));
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const { port } = server.address() as { port: number };
    const query = `?seed=${encodeURIComponent(seedUrl)}&token=${encodeURIComponent(token)}`;
    const greeted = async (path: string) => {
      await page.goto(`http://127.0.0.1:${port}${path}${query}`);
      await page.waitForFunction(() => document.getElementById('out')?.textContent === 'got from node', undefined, { timeout: 60_000 }).catch(async (e) => {
        throw new Error(`${path}: ${e.message}\npage: ${await page.locator('#out').evaluate((el) => `${el.textContent} (seed ${(el as HTMLElement).dataset.seed})`)}\nerrors: ${errors.join('\n')}`);
      });
    };
    await greeted('/');
    assert.equal(await page.locator('#out').evaluate((el) => (el as HTMLElement).dataset.seed), 'pkgseed');
    await greeted('/plain/');
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    server.close();
    echo.child.kill('SIGTERM');
    seed.child.kill('SIGTERM');
  }
});

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.map': 'application/json', '.css': 'text/css' };

/** The built app over HTTP on 127.0.0.1 (an ephemeral port). */
function serve(dir: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const file = join(dir, path.endsWith('/') ? `${path}index.html` : path);
    if (!file.startsWith(dir) || !existsSync(file)) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}
