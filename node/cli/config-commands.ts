/**
 * The configuration commands of `aemp` (chainable, applied in one locked
 * read-modify-write of the database): each parses its arguments into an Op,
 * and applyOps runs them all at once, or none.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  ConfigError, addToList, deleteProfile, deleteValue, readConfig, removeFromList,
  resolveProfile, setValue, target, updateConfig,
} from '../config.ts';
import type { ConfigDb } from '../config.ts';
import { KEYS, KEY_NAMES, DEFAULTS, assertKey, checkProfileName, parseCliValue, pemCertificates, validateValue } from '../config-keys.ts';
import { generateSelfSignedCert } from '../selfsigned.ts';
import { CAPS, isCap } from '../../lib/caps.ts';
import { ArgReader, UsageError, word, wrap } from './args.ts';
import { describeValue, readCertFile, readFileArg } from './pem.ts';

export interface Ctx {
  db: ConfigDb;
  profile: string | undefined;
  out: (line: string) => void;
}
export interface Op {
  name: string;
  mutates: boolean;
  run(ctx: Ctx): void | Promise<void>;
}
export interface Cmd {
  usage: string;
  summary: string;
  more?: string;
  parse(a: ArgReader): Op;
}

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
/** A command taking one ITEM (checked at parse time), applied with run. */
function itemCmd(name: string, what: string, summary: string, run: (c: Ctx, item: string) => void, check?: (item: string) => void): Cmd {
  return {
    usage: `${name} ${what}`,
    summary,
    parse: (a) => {
      const item = a.next(what);
      if (check) wrap(a.cmd, () => check(item));
      return edit(a.cmd, (c) => run(c, item));
    },
  };
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
    [`add${one}`]: itemCmd(`add${one}`, what, `add one to the ${summary}`, (c, item) => addToList(c.db, c.profile, key, item), (item) => validateValue(key, [item])),
    [`del${one}`]: itemCmd(`del${one}`, what, `remove one from the ${summary}`, (c, item) => removeFromList(c.db, c.profile, key, item)),
  };
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

export const COMMANDS: Record<string, Cmd> = {
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
        const { createToken } = await import('../../lib/protocol/token.ts');
        c.out(await createToken(globalThis.crypto.subtle, secret, { node: f.node!, ttlSec: ttl, nowMs: Date.now(), caps }));
      });
    },
  },
};

const ALIASES: Record<string, string> = { clrsecret: 'delsecret', clrcert: 'delcert', clrnodeid: 'delnodeid', clrparent: 'delparent' };

/** The command named name (or by an old alias). */
export function lookup(name: string): Cmd | undefined {
  const real = Object.hasOwn(ALIASES, name) ? ALIASES[name]! : name;
  return Object.hasOwn(COMMANDS, real) ? COMMANDS[real] : undefined;
}

/** Applies ops to the database at path (locked when one of them edits); returns the lines they print. */
export async function applyOps(ops: Op[], path: string): Promise<string[]> {
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
  return lines;
}
