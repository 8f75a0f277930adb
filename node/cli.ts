/**
 * The `aemp` tool: AEMP's configuration commands (chainable, applied in one
 * locked read-modify-write) and the argument checking of the mesh commands,
 * whose work lives in cli-mesh.ts.
 *
 * Exit codes: 0 done; 1 the database is unreadable or corrupt, a profile does
 * not resolve, a mesh command failed; 2 unknown command or bad argument.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { AempError } from '../lib/errors.ts';
import {
  ConfigError, addToList, defaultRcPath, deleteProfile, deleteValue, readConfig, removeFromList,
  resolveProfile, setValue, target, updateConfig,
} from './config.ts';
import type { ConfigDb } from './config.ts';
import { KEYS, KEY_NAMES, DEFAULTS, assertKey, checkNodeId, checkProfileName, parseCliValue, pemCertificates, validateValue } from './config-keys.ts';
import { generateSelfSignedCert } from './selfsigned.ts';
import { badGroupName, GROUP_DEFAULTS } from '../lib/groups/options.ts';
import { CAPS, isCap } from '../lib/caps.ts';

/** A bad command line: exit 2, one line, with a hint. */
export class UsageError extends AempError {
  readonly cmd: string | undefined;
  constructor(message: string, cmd?: string) {
    super('AEMP_ERR_BAD_ARGUMENT', message);
    this.cmd = cmd;
  }
}

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  env: Record<string, string | undefined>;
}

interface Ctx {
  db: ConfigDb;
  profile: string | undefined;
  out: (line: string) => void;
}
interface Op {
  name: string;
  mutates: boolean;
  run(ctx: Ctx): void | Promise<void>;
}
interface Cmd {
  usage: string;
  summary: string;
  more?: string;
  parse(a: ArgReader): Op;
}

class ArgReader {
  constructor(readonly cmd: string, private readonly argv: string[], public i: number) {}
  more(): boolean {
    return this.i < this.argv.length;
  }
  peek(): string | undefined {
    return this.argv[this.i];
  }
  next(what: string): string {
    if (!this.more()) throw new UsageError(`${this.cmd}: missing ${what}`, this.cmd);
    return this.argv[this.i++]!;
  }
}

/** AEMP's argument rule: an argument that parses as JSON is that JSON value, anything else is the string. */
export function jsonOrString(arg: string): unknown {
  try {
    return JSON.parse(arg);
  } catch {
    return arg;
  }
}

const DEFAULT_CAL_TIMEOUT_SEC = 10;
const rc = (io: CliIo) => defaultRcPath(io.env);

function wrap(cmd: string, f: () => unknown): unknown {
  try {
    return f();
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message, cmd);
    throw e;
  }
}
const word = (cmd: string, what: string, check: (s: string) => void) => (a: ArgReader): string => {
  const s = a.next(what);
  try {
    check(s);
  } catch (why) {
    if (typeof why !== 'string') throw why;
    throw new UsageError(`${cmd}: bad ${what} '${s}': ${why}`, cmd);
  }
  return s;
};

const edit = (name: string, run: (ctx: Ctx) => void): Op => ({ name, mutates: true, run });
const show = (name: string, run: (ctx: Ctx) => void | Promise<void>): Op => ({ name, mutates: false, run });

/** setX VALUE / delX for a plain key. */
function setCmd(key: keyof typeof KEYS, what: string, summary: string): Cmd {
  return {
    usage: `set${key} ${what}`,
    summary,
    parse: (a) => {
      const v = wrap(a.cmd, () => parseCliValue(key, a.next(what)));
      return edit(a.cmd, (c) => setValue(c.db, c.profile, key, v));
    },
  };
}
function delCmd(key: keyof typeof KEYS, summary: string): Cmd {
  return { usage: `del${key}`, summary, parse: (a) => edit(a.cmd, (c) => deleteValue(c.db, c.profile, key)) };
}
/** setXs a,b / addX a / delX a for a list key. */
function listCmds(key: 'seeds' | 'binds' | 'services', one: string, what: string, summary: string, note: string): Record<string, Cmd> {
  return {
    [`set${key}`]: {
      usage: `set${key} ${what},...`,
      summary: `set the ${summary}${note}`,
      more: "A comma-separated list or a JSON list of strings; '' sets an empty list.\n"
        + 'Lists replace inherited ones; add/del change the list stored at this level.',
      parse: (a) => {
        const v = wrap(a.cmd, () => parseCliValue(key, a.next(`${what},...`)));
        return edit(a.cmd, (c) => setValue(c.db, c.profile, key, v));
      },
    },
    [`add${one}`]: {
      usage: `add${one} ${what}`,
      summary: `add one to the ${summary}`,
      parse: (a) => {
        const item = a.next(what);
        wrap(a.cmd, () => validateValue(key, [item]));
        return edit(a.cmd, (c) => addToList(c.db, c.profile, key, item));
      },
    },
    [`del${one}`]: {
      usage: `del${one} ${what}`,
      summary: `remove one from the ${summary}`,
      parse: (a) => {
        const item = a.next(what);
        return edit(a.cmd, (c) => removeFromList(c.db, c.profile, key, item));
      },
    },
  };
}

function readCertFile(cmd: string, file: string): { cert: string; key: string } {
  const text = readFileArg(cmd, file);
  const certs = pemCertificates(text);
  const key = text.match(/-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/);
  if (!certs.length || !key) throw new UsageError(`${cmd}: ${file} must hold a PEM certificate and its private key`, cmd);
  return wrap(cmd, () => validateValue('cert', { cert: certs.join('\n') + '\n', key: key[0] + '\n' })) as { cert: string; key: string };
}

function readFileArg(cmd: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`${cmd}: cannot read ${file}: ${(e as Error).message}`, cmd);
  }
}

function describeCert(pem: string): string {
  const x = new X509Certificate(pem);
  return `${x.subject.replace(/\n/g, ', ')}, valid until ${new Date(x.validTo).toISOString().slice(0, 10)}`;
}

function describeValue(key: string, v: unknown): string {
  if (key === 'cert' && typeof v === 'object' && v) return `certificate ${describeCert((v as { cert: string }).cert)}`;
  if (key === 'tls_ca' && typeof v === 'string') return `trusts ${pemCertificates(v).map(describeCert).join('; ')}`;
  return JSON.stringify(v);
}

function tokenFlags(a: ArgReader): { node?: string; ttl?: string; profile?: string; caps?: string } {
  const flags: Record<string, string> = {};
  while (a.more() && a.peek()!.startsWith('--')) {
    const arg = a.next('flag');
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    if (!['node', 'ttl', 'profile', 'caps'].includes(name)) throw new UsageError(`token: unknown flag '--${name}'`, 'token');
    flags[name] = eq >= 0 ? arg.slice(eq + 1) : a.next(`value of --${name}`);
  }
  return flags;
}

const COMMANDS: Record<string, Cmd> = {
  profile: {
    usage: 'profile NAME',
    summary: 'apply the following commands to profile NAME (until the next profile)',
    parse: (a) => {
      const name = word(a.cmd, 'profile name', checkProfileName)(a);
      return { name: a.cmd, mutates: false, run: (c) => void (c.profile = name) };
    },
  },
  gensecret: {
    usage: 'gensecret',
    summary: 'generate a random shared secret (32 bytes, base64url)',
    parse: (a) => edit(a.cmd, (c) => setValue(c.db, c.profile, 'secret', randomBytes(32).toString('base64url'))),
  },
  setsecret: setCmd('secret', 'SECRET', 'set the shared secret'),
  delsecret: delCmd('secret', 'remove the shared secret'),
  gencert: {
    usage: 'gencert',
    summary: 'generate a self-signed certificate and key for wss:// binds',
    more: 'The certificate (ECDSA P-256, 10 years) names localhost, 127.0.0.1, ::1, this\n'
      + 'host name and the hosts of the binds set so far (set binds first). A node whose\n'
      + 'profile has (or inherits) this cert trusts it; elsewhere, trust it with\n'
      + "'aemp profile P settlsca FILE', FILE made by 'aemp profile SEED showcert > FILE'.",
    parse: (a) =>
      edit(a.cmd, (c) => {
        const binds = (target(c.db, c.profile).binds as string[] | undefined) ?? [];
        const hosts = binds.map((b) => b.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1')).filter((h) => h !== '*');
        const altNames = [...new Set(['localhost', '127.0.0.1', '::1', hostname(), ...hosts])];
        setValue(c.db, c.profile, 'cert', generateSelfSignedCert({ commonName: c.profile ?? 'aemp', altNames }));
      }),
  },
  setcert: {
    usage: 'setcert FILE',
    summary: 'set the certificate and key from one PEM file holding both',
    parse: (a) => {
      const v = readCertFile(a.cmd, a.next('FILE'));
      return edit(a.cmd, (c) => setValue(c.db, c.profile, 'cert', v));
    },
  },
  delcert: delCmd('cert', 'remove the certificate'),
  showcert: {
    usage: 'showcert',
    summary: 'print the certificate (not its key) for nodes that must trust it',
    parse: (a) =>
      show(a.cmd, (c) => {
        const v = resolveProfile(c.db, c.profile).values.cert as { cert: string } | undefined;
        if (!v) throw new ConfigError(`no cert in ${c.profile === undefined ? 'the global settings' : `profile '${c.profile}'`}`);
        c.out(v.cert.trimEnd());
      }),
  },
  settlsca: {
    usage: 'settlsca FILE',
    summary: 'trust the PEM certificates in FILE for wss:// seeds (besides the system CAs)',
    more: 'For a seed with a self-signed certificate: FILE is its certificate, from\n'
      + "'aemp profile SEED showcert'. A private key in FILE is ignored, never stored.\n"
      + 'The server certificate is always verified, host name included.',
    parse: (a) => {
      const text = readFileArg(a.cmd, a.next('FILE'));
      const certs = pemCertificates(text);
      if (!certs.length) throw new UsageError(`${a.cmd}: no PEM certificate in the file`, a.cmd);
      const v = wrap(a.cmd, () => validateValue('tls_ca', certs.join('\n') + '\n'));
      return edit(a.cmd, (c) => setValue(c.db, c.profile, 'tls_ca', v));
    },
  },
  deltlsca: { ...delCmd('tls_ca', 'stop trusting the certificates of settlsca'), usage: 'deltlsca' },
  setnodeid: setCmd('nodeid', 'ID', 'set the node ID'),
  delnodeid: delCmd('nodeid', 'remove the node ID'),
  ...listCmds('seeds', 'seed', 'HOST:PORT|URL', 'seed addresses', ' (ws:// and wss:// URLs too)'),
  ...listCmds('binds', 'bind', 'HOST:PORT', 'listen addresses', ' (a node with binds is a seed)'),
  ...listCmds('services', 'service', 'MODULE', 'service modules', ' (init functions they export can be spawned)'),
  setparent: setCmd('parent', 'PROFILE', 'inherit values from PROFILE (profiles only)'),
  delparent: delCmd('parent', 'stop inheriting'),
  set: {
    usage: 'set KEY VALUE',
    summary: 'set any key (lists: a,b or a JSON list; yes/no; seconds)',
    more: 'Keys:\n' + KEY_NAMES.map((k) => `  ${k.padEnd(Math.max(...KEY_NAMES.map((n) => n.length)) + 2)}${KEYS[k].doc}${k in DEFAULTS ? ` (default ${JSON.stringify(DEFAULTS[k])})` : ''}`).join('\n'),
    parse: (a) => {
      const key = a.next('KEY');
      const v = wrap(a.cmd, () => parseCliValue(key, a.next('VALUE')));
      return edit(a.cmd, (c) => setValue(c.db, c.profile, key, v));
    },
  },
  del: {
    usage: 'del KEY',
    summary: 'remove any key',
    parse: (a) => {
      const key = a.next('KEY');
      wrap(a.cmd, () => assertKey(key));
      return edit(a.cmd, (c) => deleteValue(c.db, c.profile, key));
    },
  },
  delprofile: {
    usage: 'delprofile NAME',
    summary: 'delete a profile (refused while another profile names it as parent)',
    parse: (a) => {
      const name = a.next('NAME');
      return edit(a.cmd, (c) => deleteProfile(c.db, name));
    },
  },
  showprofile: {
    usage: 'showprofile NAME',
    summary: 'show the resolved values of a profile and where each came from',
    more: 'Precedence: the profile, then its parents, then global, then built-in defaults.',
    parse: (a) => {
      const name = a.next('NAME');
      return show(a.cmd, (c) => {
        const r = resolveProfile(c.db, name);
        c.out(`# profile ${r.chain.join(' <- ')} <- global <- default`);
        for (const k of Object.keys(r.values).sort()) c.out(`${k.padEnd(17)}${describeValue(k, r.values[k])}  (${r.origin[k]})`);
      });
    },
  },
  showconfig: {
    usage: 'showconfig',
    summary: 'print the whole database as JSON',
    parse: (a) => show(a.cmd, (c) => c.out(JSON.stringify(c.db, null, 2))),
  },
  token: {
    usage: 'token --node PATTERN --ttl SECONDS [--caps CAP,...] [--profile P]',
    summary: 'print a token a browser node presents instead of the secret',
    more: "Signed with the secret of profile P (default: the current 'profile', else global).\n"
      + 'PATTERN is the node ID the bearer may use (see the token format for wildcards).\n'
      + `CAPs grant more than a page may do by default: ${CAPS.join(', ')} (docs/security.md).`,
    parse: (a) => {
      const f = tokenFlags(a);
      if (!f.node) throw new UsageError('token: missing --node PATTERN', 'token');
      if (!/^[A-Za-z0-9_\-.:/*]{1,256}$/.test(f.node)) {
        throw new UsageError(`token: bad --node '${f.node}': node ID characters and '*', 1..256 of them`, 'token');
      }
      const ttl = Number(f.ttl);
      if (f.ttl === undefined) throw new UsageError('token: missing --ttl SECONDS', 'token');
      if (!/^\d+$/.test(f.ttl) || ttl <= 0) throw new UsageError(`token: bad --ttl '${f.ttl}': a whole number of seconds > 0`, 'token');
      if (f.profile !== undefined) word('token', 'profile name', checkProfileName)(new ArgReader('token', [f.profile], 0));
      const caps = f.caps === undefined ? [] : f.caps.split(',').map((x) => x.trim()).filter(Boolean);
      for (const cap of caps) {
        if (!isCap(cap)) throw new UsageError(`token: unknown capability '${cap}' in --caps: expected some of ${CAPS.join(', ')}`, 'token');
      }
      return show(a.cmd, async (c) => {
        const profile = f.profile ?? c.profile;
        const secret = resolveProfile(c.db, profile).values.secret;
        if (typeof secret !== 'string') throw new ConfigError(`no secret in ${profile === undefined ? 'the global settings' : `profile '${profile}'`}`);
        const { createToken } = await import('../lib/protocol/token.ts');
        c.out(await createToken(globalThis.crypto.subtle, secret, { node: f.node!, ttlSec: ttl, nowMs: Date.now(), caps }));
      });
    },
  },
};

const ALIASES: Record<string, string> = { clrsecret: 'delsecret', clrcert: 'delcert', clrnodeid: 'delnodeid', clrparent: 'delparent' };

function lookup(name: string): Cmd | undefined {
  const real = Object.hasOwn(ALIASES, name) ? ALIASES[name]! : name;
  return Object.hasOwn(COMMANDS, real) ? COMMANDS[real] : undefined;
}

// ---- mesh commands: checked here, run by cli-mesh.ts ----

const MESH: Record<string, { usage: string; summary: string; more?: string }> = {
  run: {
    usage: 'run [PROFILE] [KEY=VALUE ...]',
    summary: 'run a node from PROFILE (a seed when it has binds) and start its services',
    more: 'KEY=VALUE pairs override the profile (database units: seconds). With a cert\n'
      + '(gencert, setcert) the binds listen with wss://. Logs go to stderr;\n'
      + 'SIGINT/SIGTERM leave the mesh cleanly.',
  },
  snd: { usage: 'snd PORT [ARG ...]', summary: 'send the message [ARG, ...] to PORT' },
  mon: { usage: 'mon PORT', summary: 'wait until PORT dies, print the reason, exit' },
  cal: {
    usage: `cal [--timeout SECONDS] PORT [ARG ...]`,
    summary: 'call PORT with [ARG, ..., replyPort], print the reply as JSON',
    more: `Default timeout ${DEFAULT_CAL_TIMEOUT_SEC} s; on timeout exit 1.`,
  },
  trace: { usage: 'trace NODE|PORT', summary: 'print messages sent to and received from NODE or PORT as they happen' },
  nodes: { usage: 'nodes', summary: 'list known nodes and whether they are up' },
  grp: {
    usage: 'grp [--watch] GROUP',
    summary: 'print the members of GROUP (--watch: follow changes)',
    more: 'Prints the member ports as a JSON array ([] when none). With --watch, one JSON\n'
      + 'line per change, {"members":[...],"added":[...],"removed":[...]}, the first with\n'
      + 'the current members, until SIGINT/SIGTERM.',
  },
};
export const MESH_COMMANDS = Object.keys(MESH);

export type MeshArgs =
  | { cmd: 'run'; overrides: Record<string, unknown> }
  | { cmd: 'snd'; port: string; msg: unknown[] }
  | { cmd: 'mon'; port: string }
  | { cmd: 'cal'; port: string; msg: unknown[]; timeoutSec: number }
  | { cmd: 'trace'; target: string }
  | { cmd: 'nodes' }
  | { cmd: 'grp'; group: string; watch: boolean };

const checkPort = (s: string) => {
  const [node = '', ...rest] = s.split('#');
  checkNodeId(node);
  if (rest.length && !/^\S+$/.test(rest.join('#'))) throw 'port names have no spaces';
};

/**
 * Checks a mesh command's arguments (as runMeshCommand gets them: without
 * --profile and without run's PROFILE) and returns them parsed. ARGs follow
 * jsonOrString. Throws UsageError.
 */
export function parseMeshArgs(cmd: string, args: string[]): MeshArgs {
  const a = new ArgReader(cmd, args, 0);
  const port = word(cmd, 'PORT', checkPort);
  const done = <T>(v: T): T => {
    if (a.more()) throw new UsageError(`${cmd}: unexpected argument '${a.peek()}'`, cmd);
    return v;
  };
  switch (cmd) {
    case 'run': {
      const overrides: Record<string, unknown> = {};
      for (const kv of args) {
        const eq = kv.indexOf('=');
        if (eq <= 0) throw new UsageError(`run: expected KEY=VALUE, got '${kv}'`, cmd);
        const key = kv.slice(0, eq);
        overrides[key] = wrap(cmd, () => parseCliValue(key, kv.slice(eq + 1)));
      }
      return { cmd, overrides };
    }
    case 'snd': {
      const p = port(a);
      return { cmd, port: p, msg: args.slice(a.i).map(jsonOrString) };
    }
    case 'mon':
      return done({ cmd, port: port(a) });
    case 'cal': {
      let timeoutSec = DEFAULT_CAL_TIMEOUT_SEC;
      while (a.peek()?.startsWith('--')) {
        const flag = a.next('flag');
        const m = /^--timeout(?:=(.*))?$/.exec(flag);
        if (!m) throw new UsageError(`cal: unknown flag '${flag}'`, cmd);
        const v = m[1] ?? a.next('value of --timeout');
        timeoutSec = Number(v);
        if (!/^\d+(\.\d+)?$/.test(v) || timeoutSec <= 0) throw new UsageError(`cal: bad --timeout '${v}': seconds > 0`, cmd);
      }
      const p = port(a);
      return { cmd, port: p, msg: args.slice(a.i).map(jsonOrString), timeoutSec };
    }
    case 'trace':
      return done({ cmd, target: port(a) });
    case 'nodes':
      return done({ cmd });
    case 'grp': {
      const rest = args.filter((x) => x !== '--watch');
      if (rest.length !== 1) throw new UsageError(rest.length ? `grp: unexpected argument '${rest[1]}'` : 'grp: missing GROUP', cmd);
      if (rest[0]!.startsWith('-')) throw new UsageError(`grp: unknown flag '${rest[0]}'`, cmd);
      const bad = badGroupName(rest[0], GROUP_DEFAULTS);
      if (bad !== undefined) throw new UsageError(`grp: ${bad}`, cmd);
      return { cmd, group: rest[0]!, watch: rest.length !== args.length };
    }
  }
  throw new UsageError(`unknown command '${cmd}'`);
}

async function runMesh(cmd: string, args: string[], profile: string | undefined, io: CliIo): Promise<number> {
  if (args[0] === '--profile' || args[0]?.startsWith('--profile=')) {
    const v = args[0].includes('=') ? args[0].slice(10) : args[1];
    if (v === undefined) throw new UsageError(`${cmd}: missing value of --profile`, cmd);
    if (profile !== undefined) throw new UsageError(`${cmd}: profile given twice`, cmd);
    profile = v;
    args = args.slice(args[0].includes('=') ? 1 : 2);
  }
  if (cmd === 'run' && args[0] !== undefined && !args[0].includes('=')) {
    if (profile !== undefined) throw new UsageError('run: profile given twice', cmd);
    profile = args[0];
    args = args.slice(1);
  }
  if (profile !== undefined) word(cmd, 'profile name', checkProfileName)(new ArgReader(cmd, [profile], 0));
  parseMeshArgs(cmd, args);
  // Loaded only for mesh commands: the configuration commands and --help start without the mesh.
  const m = await import('./cli-mesh.ts');
  const code = await m.runMeshCommand(cmd, args, { profile, rcPath: rc(io), out: io.out, err: io.err });
  return typeof code === 'number' ? code : 0;
}

// ---- help ----

function helpText(): string {
  const row = (usage: string, summary: string) =>
    usage.length < 36 ? `  ${usage.padEnd(36)}${summary}` : `  ${usage}\n  ${''.padEnd(36)}${summary}`;
  const cmds = Object.values(COMMANDS);
  return [
    'usage: aemp COMMAND [ARGS] [COMMAND [ARGS] ...]',
    '',
    'Configuration commands can be chained; they act on the global settings, or on',
    "a profile after 'profile NAME', and are all applied at once, or none is.",
    "  aemp profile seed1 setnodeid seed1 setbinds '*:4040' setsecret x",
    '',
    'Configuration:',
    ...cmds.map((c) => row(c.usage, c.summary)),
    '',
    "Mesh commands (one per call, after at most one 'profile NAME'; they use that",
    "profile's seeds and secret; 'aemp --profile NAME CMD' and 'aemp CMD --profile NAME' work too):",
    ...Object.values(MESH).map((c) => row(c.usage, c.summary)),
    '',
    'ARGs that parse as JSON are JSON, others are strings: 42, true, null,',
    `'{"a":1}' and '[1,2]' are JSON; hello is the string "hello"; '"42"' is the string "42".`,
    '',
    'The database is $AEMP_RC, else $XDG_CONFIG_HOME/aemp/rc.json, else',
    '~/.config/aemp/rc.json (mode 0600). Durations are in seconds.',
    'Exit status: 0 ok, 1 failure (unreadable database, mesh error), 2 bad usage.',
    "'aemp help COMMAND' tells more.",
  ].join('\n');
}

function helpFor(name: string): string | undefined {
  const c = lookup(name) ?? (Object.hasOwn(MESH, name) ? MESH[name] : undefined);
  if (name === 'help') return 'usage: aemp help [COMMAND]';
  if (!c) return undefined;
  return [`usage: aemp ${c.usage}`, '', c.summary + '.', ...(c.more ? ['', c.more] : [])].join('\n');
}

// ---- main ----

/** Runs one `aemp` invocation; returns the exit code. */
export async function main(argv: string[], ioIn: Partial<CliIo> = {}): Promise<number> {
  const io: CliIo = {
    out: ioIn.out ?? ((l) => process.stdout.write(l + '\n')),
    err: ioIn.err ?? ((l) => process.stderr.write(l + '\n')),
    env: ioIn.env ?? process.env,
  };
  try {
    return await run(argv, io);
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    if (e instanceof AempError && e.code === 'AEMP_ERR_BAD_ARGUMENT') {
      const cmd = e instanceof UsageError ? e.cmd : undefined;
      io.err(`aemp: ${msg}; try 'aemp help${cmd && helpFor(cmd) ? ` ${cmd}` : ''}'`);
      return 2;
    }
    if (e instanceof AempError) {
      io.err(`aemp: ${msg}`);
      return 1;
    }
    io.err(`aemp: internal error: ${(e as Error).stack ?? String(e)}`);
    return 1;
  }
}

async function run(argv: string[], io: CliIo): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h') {
    io.out(helpText());
    return 0;
  }
  if (argv[0] === 'help') {
    if (argv.length > 2) throw new UsageError(`help: unexpected argument '${argv[2]}'`, 'help');
    if (argv[1] === undefined) {
      io.out(helpText());
      return 0;
    }
    const h = helpFor(argv[1]);
    if (!h) throw new UsageError(`help: unknown command '${argv[1]}'`);
    io.out(h);
    return 0;
  }
  // A leading --profile P is the same as 'profile P'.
  if (argv[0] === '--profile') argv = ['profile', ...argv.slice(1)];
  else if (argv[0]?.startsWith('--profile=')) argv = ['profile', argv[0].slice(10), ...argv.slice(1)];
  const ops: Op[] = [];
  let meshProfile: string | undefined;
  for (let i = 0; i < argv.length; ) {
    const name = argv[i++]!;
    if (Object.hasOwn(MESH, name)) {
      if (ops.some((o) => o.name !== 'profile') || ops.length > 1) throw new UsageError(`${name}: mesh commands cannot be chained with other commands`, name);
      return runMesh(name, argv.slice(i), meshProfile, io);
    }
    const cmd = lookup(name);
    if (!cmd) throw new UsageError(`unknown command '${name}'`);
    const a = new ArgReader(name, argv, i);
    const op = cmd.parse(a);
    if (op.name === 'profile') meshProfile = argv[i];
    i = a.i;
    ops.push(op);
  }
  const path = rc(io);
  const lines: string[] = [];
  const apply = async (db: ConfigDb) => {
    const ctx: Ctx = { db, profile: undefined, out: (l) => lines.push(l) };
    for (const op of ops) {
      try {
        await op.run(ctx);
      } catch (e) {
        // A refused edit (a parent cycle, deleting a parent) is a bad argument; a
        // profile that does not resolve for show or token is a state problem.
        if (e instanceof ConfigError) {
          if (op.mutates) throw new UsageError(`${op.name}: ${e.message}`, op.name);
          throw new ConfigError(`${op.name}: ${e.message}`, e.key);
        }
        throw e;
      }
    }
  };
  if (ops.some((o) => o.mutates)) await updateConfig(path, apply);
  else await apply(await readConfig(path));
  for (const l of lines) io.out(l);
  return 0;
}
