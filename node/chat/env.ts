/**
 * What the demo's Node processes share: the seed's profile (created on first
 * use, with a generated secret) and the environment they run in.
 *
 * The demo resolves its profile itself, as the aemp CLI does: the seed's
 * values come from the profile `aemp-demo`, the chat server and terminal
 * client take only its address and secret, and configure() gets final
 * values (no second profile lookup).
 */
import '../index.ts'; // evaluated first, so its setEnvironment never runs after ours
import { randomBytes } from 'node:crypto';
import { defaultRcPath, loadConfigFor, readConfig, resolveProfile, setValue, updateConfig } from '../config.ts';
import { serveHttp } from '../http.ts';
import { useCliEnvironment } from '../run.ts';
import { listenCert, nodeTransport, trustedCerts } from '../transport.ts';

/** The profile `npm start` runs the seed from. */
export const DEMO_PROFILE = 'aemp-demo';
/** What a new demo profile holds (the secret is generated). */
export const DEMO_PROFILE_DEFAULTS = { nodeid: 'demo_seed', binds: ['127.0.0.1:4080'] };

export interface DemoProfile {
  /** Resolved values, milliseconds for durations (configure's units). */
  values: Record<string, unknown>;
  /** What was written to the database now (empty when the profile was complete). */
  created: string[];
  rcPath: string;
}

/**
 * Resolve the demo profile, creating it with DEMO_PROFILE_DEFAULTS when
 * missing and adding a random secret when none resolves (profile or global).
 */
export async function demoProfile(name = DEMO_PROFILE, rcPath = defaultRcPath()): Promise<DemoProfile> {
  const created: string[] = [];
  const missing = (db: Awaited<ReturnType<typeof readConfig>>): string[] => {
    if (!db.profiles[name]) return ['profile', 'secret'];
    return resolveProfile(db, name).values.secret === undefined ? ['secret'] : [];
  };
  if (missing(await readConfig(rcPath)).length > 0) {
    await updateConfig(rcPath, (db) => {
      const need = missing(db); // again, under the lock: another process may have done it
      if (need.includes('profile')) {
        setValue(db, name, 'nodeid', DEMO_PROFILE_DEFAULTS.nodeid);
        setValue(db, name, 'binds', DEMO_PROFILE_DEFAULTS.binds);
      }
      if (need.includes('secret')) setValue(db, name, 'secret', randomBytes(24).toString('base64url'));
      created.push(...need);
    });
  }
  const { values } = await loadConfigFor({ profile: name, programOpts: {}, rcPath });
  return { values, created, rcPath };
}

/** A URL that reaches a bind address ("*:4080" → ws://127.0.0.1:4080/) from this host; wss:// for a seed with a cert. */
export function bindToUrl(bind: string, tls = false): string {
  const m = /^(\[[^\]]*\]|[^:]*):(\d+)$/.exec(bind);
  if (!m) throw new Error(`bad bind address ${JSON.stringify(bind)}`);
  let host = m[1]!;
  if (host === '*' || host === '0.0.0.0') host = '127.0.0.1';
  else if (host === '[::]') host = '[::1]';
  return `${tls ? 'wss' : 'ws'}://${host}:${m[2]}/`;
}

/**
 * The environment of the demo's processes (the aemp tool's: ws links, wss://
 * with the profile's cert, plain HTTP on a seed's port through
 * node/http.ts setHttpHandler, @roamhq/wrtc for direct links). No profile
 * lookup in configure(): callers pass final values.
 */
export function useDemoEnvironment(values: Record<string, unknown>): void {
  useCliEnvironment(nodeTransport({ onHttp: serveHttp, tls: listenCert(values), ca: trustedCerts(values) }));
}

/** `--name value` and `--name=value` flags, plus the other words. */
export function parseArgs(argv: string[], known: string[]): { flags: Record<string, string>; words: string[] } {
  const flags: Record<string, string> = {};
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) {
      words.push(a);
      continue;
    }
    const [, name, inline] = m;
    if (!known.includes(name!)) throw new Error(`unknown option --${name} (known: ${known.map((k) => `--${k}`).join(' ')})`);
    if (inline !== undefined) flags[name!] = inline;
    else if (name!.startsWith('no-')) flags[name!] = 'yes';
    else if (i + 1 < argv.length) flags[name!] = argv[++i]!;
    else throw new Error(`--${name} needs a value`);
  }
  return { flags, words };
}
