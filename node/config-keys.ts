/**
 * The keys of the configuration database (api.md's ConfigureOptions), their
 * defaults, and the checks a value passes before it is stored. Durations are
 * seconds here, as in AEMP's tool; the runtime gets milliseconds from
 * loadConfigFor.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { isIP } from 'node:net';
import { AempError } from '../lib/errors.ts';

/** A bad key or value (set by a user or found while resolving a profile). */
export class ConfigError extends AempError {
  readonly key: string | undefined;
  constructor(message: string, key?: string) {
    super('AEMP_ERR_CONFIG', message);
    this.key = key;
  }
}

/** The database file cannot be read, parsed or locked; it is never overwritten then. */
export class ConfigFileError extends AempError {
  readonly path: string;
  constructor(path: string, message: string, cause?: unknown) {
    super('AEMP_ERR_CONFIG_FILE', `${path}: ${message}`, { cause });
    this.path = path;
  }
}

type Kind = 'string' | 'list' | 'seconds' | 'count' | 'enum' | 'enumlist' | 'bool' | 'cert';
interface KeyDef {
  kind: Kind;
  doc: string;
  /** Per-item check for strings and lists; throws a message (the key is added). */
  check?: (s: string) => void;
  choices?: readonly string[];
  /** Lists whose items may repeat (AEMP: several instances of a service). */
  dupes?: boolean;
  /** Counts: the smallest value (0 where 0 means unlimited). */
  min?: number;
}

/** Stored keys. `profile` is a ConfigureOptions key too, but it selects, it is not stored. */
export const KEYS = {
  nodeid: { kind: 'string', check: checkNodeId, doc: 'node ID ([A-Za-z0-9_-.:/]+; "anon/" asks for a random one)' },
  binds: { kind: 'list', check: (s) => checkHostPort(s, true), doc: 'listen addresses: host:port, *:port, [::1]:port (port 0..65535); a node with binds is a seed (unless seed: no)' },
  seed: { kind: 'bool', doc: 'yes/no: a node with binds is a seed (default yes); no: its binds take only direct WebSocket links from other secret holders' },
  seeds: { kind: 'list', check: checkSeed, doc: 'seed addresses: host:port or ws://, wss:// URLs' },
  secret: { kind: 'string', check: (s) => { if (!s) throw 'must not be empty'; }, doc: 'shared secret of the mesh (HMAC-SHA256 handshake)' },
  token: { kind: 'string', check: (s) => { if (!/^\S+$/.test(s)) throw 'must be a non-empty word'; }, doc: "token presented instead of the secret (from 'aemp token')" },
  cert: { kind: 'cert', doc: 'TLS certificate and key for wss:// binds: {"cert": PEM, "key": PEM}; also trusted for wss:// seeds' },
  tls_ca: { kind: 'string', check: checkPemCerts, doc: 'PEM certificates trusted for wss:// seeds besides the system CAs (e.g. a self-signed seed\'s)' },
  services: { kind: 'list', dupes: true, check: (s) => { if (!s) throw 'must not be empty'; }, doc: 'modules whose exported init functions become spawnable (specifiers or paths)' },
  parent: { kind: 'string', check: checkProfileName, doc: 'profile whose values this profile inherits' },
  monitor_timeout: { kind: 'seconds', doc: 'seconds without traffic before a link counts as lost' },
  connect_interval: { kind: 'seconds', doc: 'seconds between attempts to reach a seed (first back-off step)' },
  framing_format: { kind: 'enum', choices: ['msgpack', 'json'], doc: 'wire encoding offered: msgpack or json' },
  auth_offer: { kind: 'enumlist', choices: ['hmac_sha256', 'token', 'none'], doc: 'authentication methods this node offers, in order of preference' },
  auth_accept: { kind: 'enumlist', choices: ['hmac_sha256', 'token', 'none'], doc: 'authentication methods this node accepts from peers' },
  direct: { kind: 'bool', doc: 'yes/no: allow direct WebRTC links (else everything is relayed by seeds)' },
  anonymous: { kind: 'bool', doc: 'yes/no: a seed accepts anonymous browser nodes' },
  turn_secret: { kind: 'string', check: (s) => { if (!s) throw 'must not be empty'; }, doc: "a seed's TURN shared secret (coturn static-auth-secret): it hands its nodes short-lived TURN credentials" },
  turn_urls: { kind: 'list', check: (s) => { if (!/^turns?:\S+$/.test(s)) throw 'must be a turn: or turns: URL'; }, doc: 'TURN servers a seed hands out with credentials (turn:host:port?transport=udp, turns:…)' },
  turn_ttl: { kind: 'seconds', doc: 'lifetime of the TURN credentials a seed hands out (default 3600)' },
  max_pending_handshakes: { kind: 'count', min: 1, doc: 'seeds: incoming links in their handshake at once (default 256)' },
  max_pending_per_address: { kind: 'count', min: 1, doc: 'seeds: incoming handshakes at once from one address, IPv6: one /64 (default 128)' },
  admit_timeout: { kind: 'seconds', doc: 'seeds: seconds a connection has to send a complete HTTP request or WebSocket upgrade (default 5)' },
  relay_msgs_per_sec: { kind: 'count', min: 0, doc: 'seeds: messages/s relayed for each secret-holding node (0: unlimited; default 0)' },
  relay_bytes_per_sec: { kind: 'count', min: 0, doc: 'seeds: bytes/s a secret-holding node may send while relaying (0: unlimited; default 0)' },
  page_relay_msgs_per_sec: { kind: 'count', min: 0, doc: 'seeds: messages/s relayed for each token or anonymous node (0: unlimited; default 2000)' },
  page_relay_bytes_per_sec: { kind: 'count', min: 0, doc: 'seeds: bytes/s a token or anonymous node may send while relaying (0: unlimited; default 4194304)' },
} as const satisfies Record<string, KeyDef>;

export type ConfigKey = keyof typeof KEYS;
export const KEY_NAMES = Object.keys(KEYS) as ConfigKey[];

/** Built-in values, lowest precedence (origin "default"); durations in seconds. */
export const DEFAULTS: Partial<Record<ConfigKey, unknown>> = {
  monitor_timeout: 6,
  connect_interval: 2,
  framing_format: 'msgpack',
  direct: true,
  anonymous: false,
};

/** Keys holding seconds in the database and milliseconds in the TypeScript API. */
export const DURATION_KEYS: readonly ConfigKey[] = ['monitor_timeout', 'connect_interval', 'turn_ttl', 'admit_timeout'];

/** Largest duration: setTimeout's limit (2^31-1 ms) in whole seconds. */
const MAX_SECONDS = 2147483;

export function isConfigKey(k: string): k is ConfigKey {
  return Object.hasOwn(KEYS, k);
}

export function keyKind(k: ConfigKey): Kind {
  return KEYS[k].kind;
}

export function isListKey(k: ConfigKey): boolean {
  const kind = KEYS[k].kind;
  return kind === 'list' || kind === 'enumlist';
}

export function listAllowsDupes(k: ConfigKey): boolean {
  const def: KeyDef = KEYS[k];
  return def.dupes === true;
}

/** Throws a ConfigError unless `key` is a key that can be stored. */
export function assertKey(key: string): asserts key is ConfigKey {
  if (key === 'profile') throw new ConfigError("profile: selects a profile, it is not stored; use 'aemp profile NAME ...'", key);
  if (!isConfigKey(key)) throw new ConfigError(`${key}: unknown key (known: ${KEY_NAMES.join(', ')})`, key);
}

/** Checks a value about to be stored (or read from the file); returns it normalized. */
export function validateValue(key: string, value: unknown): unknown {
  assertKey(key);
  const def: KeyDef = KEYS[key];
  const fail = (why: string): never => {
    throw new ConfigError(`${key}: ${why}`, key);
  };
  const item = (s: unknown): string => {
    if (typeof s !== 'string') return fail(`expected a string, got ${JSON.stringify(s)}`);
    try {
      def.check?.(s);
    } catch (why) {
      if (typeof why !== 'string') throw why;
      // A PEM text or a long value would flood the one-line error: show its start.
      fail(`bad value '${s.length > 60 || s.includes('\n') ? `${s.split('\n')[0]!.slice(0, 40)}...` : s}': ${why}`);
    }
    return s;
  };
  switch (def.kind) {
    case 'string':
      return item(value);
    case 'list':
    case 'enumlist': {
      if (!Array.isArray(value)) return fail(`expected a list, got ${JSON.stringify(value)}`);
      const out = value.map(item);
      if (def.kind === 'enumlist') {
        for (const s of out) if (!def.choices!.includes(s)) fail(`bad value '${s}' (one of: ${def.choices!.join(', ')})`);
        if (out.length === 0) fail('must name at least one method');
      }
      if (!def.dupes && new Set(out).size !== out.length) fail('lists a value twice');
      return out;
    }
    case 'seconds':
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_SECONDS) {
        return fail(`must be a number of seconds > 0 and <= ${MAX_SECONDS}, got ${JSON.stringify(value)}`);
      }
      return value;
    case 'count': {
      const min = def.min ?? 0;
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
        return fail(`must be a whole number >= ${min}, got ${JSON.stringify(value)}`);
      }
      return value;
    }
    case 'enum':
      if (typeof value !== 'string' || !def.choices!.includes(value)) {
        return fail(`must be one of ${def.choices!.join(', ')}, got ${JSON.stringify(value)}`);
      }
      return value;
    case 'bool': {
      const b = toBool(value);
      return b ?? fail(`must be yes or no, got ${JSON.stringify(value)}`);
    }
    case 'cert':
      return checkCert(value, fail);
  }
}

/** Turns the text a user typed after `set KEY` into a value, then validates it. */
export function parseCliValue(key: string, text: string): unknown {
  assertKey(key);
  const def: KeyDef = KEYS[key];
  switch (def.kind) {
    case 'list':
    case 'enumlist':
      return validateValue(key, parseList(key, text));
    case 'seconds':
      // Number('') is 0 and Number(' 5') is 5: accept only plain decimal numbers.
      return validateValue(key, /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(text) ? Number(text) : text);
    case 'count':
      return validateValue(key, /^\s*\d+\s*$/.test(text) ? Number(text) : text);
    case 'cert':
      throw new ConfigError("cert: set it with 'aemp setcert FILE' or 'aemp gencert'", key);
    default:
      return validateValue(key, text);
  }
}

/** "a,b,c" or a JSON array of strings (starts with `["` or is `[]`; "[::1]:80" is an address). */
export function parseList(key: string, text: string): string[] {
  if (/^\s*\[\s*["\]]/.test(text)) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new ConfigError(`${key}: bad JSON list: ${(e as Error).message}`, key);
    }
    if (!Array.isArray(v)) throw new ConfigError(`${key}: expected a JSON list`, key);
    return v as string[];
  }
  return text.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function toBool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v !== 'string') return undefined;
  const s = v.toLowerCase();
  if (['yes', 'true', 'on', '1'].includes(s)) return true;
  if (['no', 'false', 'off', '0'].includes(s)) return false;
  return undefined;
}

function checkCert(v: unknown, fail: (why: string) => never): { cert: string; key: string } {
  if (typeof v !== 'object' || v === null || typeof (v as Record<string, unknown>).cert !== 'string' || typeof (v as Record<string, unknown>).key !== 'string') {
    return fail('expected {"cert": PEM, "key": PEM}');
  }
  const { cert, key } = v as { cert: string; key: string };
  let x: X509Certificate;
  try {
    x = new X509Certificate(cert);
  } catch (e) {
    return fail(`bad certificate: ${(e as Error).message}`);
  }
  let k;
  try {
    k = createPrivateKey(key);
  } catch (e) {
    return fail(`bad private key: ${(e as Error).message}`);
  }
  if (!x.checkPrivateKey(k)) fail('the private key does not belong to the certificate');
  return { cert, key };
}

/** One or more PEM certificates, each one parseable, nothing else. */
export function checkPemCerts(s: string): void {
  const certs = pemCertificates(s);
  if (certs.length === 0) throw 'expected one or more PEM certificates (-----BEGIN CERTIFICATE-----)';
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(s)) throw 'holds a private key; only certificates belong here';
  for (const c of certs) {
    try {
      new X509Certificate(c);
    } catch (e) {
      throw `bad certificate: ${(e as Error).message}`;
    }
  }
}

/** The PEM certificate blocks in a text. */
export function pemCertificates(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

export function checkNodeId(s: string): void {
  if (!/^[A-Za-z0-9_\-.:/]+$/.test(s)) throw 'node IDs use only A-Z a-z 0-9 _ - . : /';
}

export function checkProfileName(s: string): void {
  if (!/^[A-Za-z0-9_\-.:/]+$/.test(s)) throw 'profile names use only A-Z a-z 0-9 _ - . : /';
}

function checkHost(h: string): void {
  if (isIP(h)) return;
  if (/^\d+(\.\d+){3}$/.test(h)) throw `'${h}' is not an IPv4 address`;
  const label = '[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?';
  if (h.length > 253 || !new RegExp(`^${label}(\\.${label})*\\.?$`).test(h)) throw `'${h}' is not a host name`;
}

function checkPort(p: string, min: number): void {
  if (!/^\d{1,5}$/.test(p) || Number(p) < min || Number(p) > 65535) throw `port must be ${min}..65535`;
}

/** host:port, [v6]:port, and (for binds) *:port. */
export function checkHostPort(s: string, bind: boolean): void {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):([^:]*)$/.exec(s);
  if (!m) throw bind ? 'expected host:port, *:port or [v6]:port' : 'expected host:port, [v6]:port or a ws:// or wss:// URL';
  const [, v6, host = '', port = ''] = m;
  if (v6 !== undefined) {
    if (isIP(v6) !== 6) throw `'${v6}' is not an IPv6 address`;
  } else if (!(bind && host === '*')) checkHost(host);
  checkPort(port, bind ? 0 : 1);
}

function checkSeed(s: string): void {
  if (/^wss?:\/\//i.test(s)) {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      throw 'not a valid URL';
    }
    if (!u.hostname) throw 'URL has no host';
    if (u.username || u.password) throw 'URL must not hold credentials';
    return;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) throw 'URLs must be ws:// or wss://';
  checkHostPort(s, false);
}
