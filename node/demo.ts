/**
 * `npm start`: the chat demo in one command. A seed from the profile
 * `aemp-demo` (created on first run: node ID demo_seed, 127.0.0.1:4080, a
 * generated secret), the built demo page served over HTTP on the seed's
 * port, GET /token handing pages a short-lived token, and the chat server
 * as a child process, restarted a second after it dies.
 *
 *   tsx node/demo.ts [--port N] [--host H] [--profile P] [--token-ttl SECONDS] [--no-chat-server] [--no-build] [--dist DIR]
 *
 * The page is built (vite) when dist/demo is missing or older than the
 * sources. --dist serves another copy of dist/ (tests use a private one).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { configure, defaultNode, shutdown, NODE } from './index.ts';
import { setHttpHandler } from './http.ts';
import { Mesh } from '../lib/mesh/mesh.ts';
import { DEMO_PROFILE, demoProfile, parseArgs, useDemoEnvironment } from './chat/env.ts';
import { demoHttpHandler } from './chat/http.ts';
import { ensureDemoBuilt } from './chat/build.ts';
import { AempError } from '../lib/errors.ts';

const say = (s: string) => process.stdout.write(`${s}\n`);
const root = fileURLToPath(new URL('..', import.meta.url));

let parsed: ReturnType<typeof parseArgs>;
try {
  parsed = parseArgs(process.argv.slice(2), ['port', 'host', 'profile', 'token-ttl', 'no-chat-server', 'no-build', 'dist']);
} catch (e) {
  process.stderr.write(`demo: ${(e as Error).message}\n`);
  process.exit(2);
}
const { flags } = parsed;

if (!flags['no-build'] && !flags.dist) await ensureDemoBuilt(root, say);
const dist = flags.dist ?? `${root}dist`;

/** What the demo cannot start with (a corrupt or unreadable config file, a port in use): one line, exit 1, the file left as it is. */
const orExit = <T>(p: Promise<T>): Promise<T> =>
  p.catch((e: unknown) => {
    if (!(e instanceof AempError)) throw e;
    process.stderr.write(`demo: ${e.message.split('\n')[0]}\n`);
    process.exit(1);
  });

const profileName = flags.profile ?? DEMO_PROFILE;
const profile = await orExit(demoProfile(profileName));
if (profile.created.length) say(`demo: wrote ${profile.created.join(' and ')} of profile ${profileName} to ${profile.rcPath}`);
const values = { ...profile.values };
if (flags.port !== undefined || flags.host !== undefined) {
  const [host, port] = splitBind(((values.binds as string[] | undefined) ?? [])[0] ?? '127.0.0.1:4080');
  values.binds = [`${flags.host ?? host}:${flags.port ?? port}`];
}
const secret = values.secret as string;
const tokenTtlSec = Number(flags['token-ttl'] ?? 24 * 3600);
if (!(tokenTtlSec > 0)) throw new Error(`--token-ttl must be a positive number of seconds`);

useDemoEnvironment(values);
setHttpHandler(
  demoHttpHandler({
    dir: `${dist}/demo`,
    libDir: dist,
    embedPage: `${root}web/demo/embed.example.html`,
    secret,
    tokenTtlSec,
    anonymous: values.anonymous === true,
  }),
);
await orExit(configure(values));
const mesh = defaultNode().net as Mesh;
const wsUrl = mesh.seed?.urls[0];
if (!wsUrl) throw new Error(`profile ${profileName} has no binds: the demo needs a seed`);
const httpUrl = wsUrl.replace(/^ws/, 'http');
say(`demo: seed ${NODE} listening on ${wsUrl}`);

// The chat server: its own node, in a child process, restarted when it dies
// (the clients notice, look for it again and carry on).
let child: ChildProcess | undefined;
let stopping = false;
function startChatServer(): void {
  const c = spawn(process.execPath, ['--import', 'tsx', `${root}node/chat/server.ts`, '--seed', wsUrl!, '--profile', profileName], {
    cwd: root,
    env: { ...process.env, AEMP_SECRET: secret },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  child = c;
  say(`demo: chat server pid ${c.pid} (kill it to watch the clients recover; it restarts after a second)`);
  c.on('exit', (code, signal) => {
    if (child === c) child = undefined;
    if (stopping) return;
    say(`demo: chat server exited (${signal ?? `code ${code}`}); restarting it in 1 s`);
    setTimeout(() => {
      if (!stopping) startChatServer();
    }, 1000);
  });
}
if (!flags['no-chat-server']) startChatServer();

say(`demo: open ${httpUrl} in two browser tabs; terminal client: npm run chat -- NICK`);

const stop = async (why: string) => {
  if (stopping) return;
  stopping = true;
  say(`demo: stopping (${why})`);
  child?.kill('SIGTERM');
  await shutdown();
  // The goodbyes are queued; give data channels (which close asynchronously) a moment to send them.
  setTimeout(() => process.exit(0), 200);
};
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));

function splitBind(b: string): [string, string] {
  const i = b.lastIndexOf(':');
  return [b.slice(0, i), b.slice(i + 1)];
}
