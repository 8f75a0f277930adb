/**
 * The configuration database: one JSON file at $AEMP_RC, else
 * $XDG_CONFIG_HOME/aemp/rc.json, else ~/.config/aemp/rc.json.
 *
 *   { "version": 1, "global": { key: value }, "profiles": { name: { key: value, "parent"?: name } } }
 *
 * Writes are whole-file replacements (temp file, fsync, rename, fsync the
 * directory) under a lock file, so concurrent writers never lose an update.
 * A file that cannot be read or parsed is reported and never overwritten.
 */
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  ConfigError, ConfigFileError, DEFAULTS, DURATION_KEYS, assertKey, isListKey, listAllowsDupes, validateValue, checkProfileName,
} from './config-keys.ts';
import type { ConfigKey } from './config-keys.ts';
import { withFileLock } from './config-lock.ts';
import type { LockOptions } from './config-lock.ts';

export { ConfigError, ConfigFileError } from './config-keys.ts';
export type { ConfigKey } from './config-keys.ts';

export type Settings = Partial<Record<ConfigKey, unknown>>;
export interface ConfigDb {
  version: 1;
  global: Settings;
  profiles: Record<string, Settings>;
}

export interface Resolved {
  values: Record<string, unknown>;
  /** Where each value came from: a profile name of the chain, 'global', 'program' or 'default'. */
  origin: Record<string, string>;
  /** The profile chain, child first ([] without a profile). */
  chain: string[];
}

export function emptyDb(): ConfigDb {
  return { version: 1, global: {}, profiles: {} };
}

/** $AEMP_RC, else $XDG_CONFIG_HOME/aemp/rc.json, else ~/.config/aemp/rc.json. */
export function defaultRcPath(env: Record<string, string | undefined> = process.env): string {
  if (env.AEMP_RC) return env.AEMP_RC;
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.config');
  return join(base, 'aemp', 'rc.json');
}

/** Reads the database; a missing file is an empty database. */
export async function readConfig(path: string): Promise<ConfigDb> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return emptyDb();
    throw new ConfigFileError(path, (e as Error).message, e);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigFileError(path, (e as Error).message, e);
  }
  try {
    return checkDb(raw);
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigFileError(path, e.message, e);
    throw e;
  }
}

/** Checks the shape and every value of a parsed file. */
export function checkDb(raw: unknown): ConfigDb {
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObj(raw)) throw new ConfigError('not a JSON object');
  if (raw.version !== 1) throw new ConfigError(`version: unsupported ${JSON.stringify(raw.version)} (this aemp reads version 1)`);
  const settings = (where: string, v: unknown, inProfile: boolean): Settings => {
    if (v === undefined) return {};
    if (!isObj(v)) throw new ConfigError(`${where}: not a JSON object`);
    const out: Settings = {};
    for (const [k, val] of Object.entries(v)) {
      try {
        if (k === 'parent' && !inProfile) throw new ConfigError('parent: only a profile has a parent', k);
        out[k as ConfigKey] = validateValue(k, val);
      } catch (e) {
        if (e instanceof ConfigError) throw new ConfigError(`${where}.${e.message}`, e.key);
        throw e;
      }
    }
    return out;
  };
  const profiles: Record<string, Settings> = {};
  if (raw.profiles !== undefined && !isObj(raw.profiles)) throw new ConfigError('profiles: not a JSON object');
  for (const [name, p] of Object.entries(raw.profiles ?? {})) {
    profileName(name);
    profiles[name] = settings(`profiles.${name}`, p, true);
  }
  for (const k of Object.keys(raw)) if (!['version', 'global', 'profiles'].includes(k)) throw new ConfigError(`${k}: unknown top-level entry`);
  return { version: 1, global: settings('global', raw.global, false), profiles };
}

export interface UpdateOptions extends LockOptions {}

/**
 * Locked read-modify-write: reads the file, lets `mutate` change the
 * database in place, writes it back atomically. Nothing is written when
 * mutate throws or the file is unreadable or corrupt. Returns the new database.
 */
export async function updateConfig(
  path: string,
  mutate: (db: ConfigDb) => void | Promise<void>,
  opts: UpdateOptions = {},
): Promise<ConfigDb> {
  await ensureDir(dirname(path));
  for (let attempt = 0; ; attempt++) {
    const result = await withFileLock(`${path}.lock`, async (lock) => {
      const db = await readConfig(path);
      await mutate(db);
      const text = JSON.stringify(checkDb(db), null, 2) + '\n';
      // Our lock may have been taken over as stale (a very slow disk); then redo.
      if (!(await lock.stillHeld())) return undefined;
      await writeAtomic(path, text);
      return db;
    }, opts);
    if (result) return result;
    if (attempt >= 3) throw new ConfigFileError(path, 'lost the lock repeatedly; is the file system very slow?');
  }
}

async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  // Make the rename itself durable. Not all platforms can open a directory.
  try {
    const d = await open(dirname(path), 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // best effort
  }
}

function profileName(name: string): string {
  try {
    checkProfileName(name);
  } catch (why) {
    throw new ConfigError(`profile '${name}': ${String(why)}`, 'profile');
  }
  return name;
}

/** The chain of profiles from `name` up through its parents. */
export function profileChain(db: ConfigDb, name: string): string[] {
  const chain: string[] = [];
  for (let p: string | undefined = name; p !== undefined; ) {
    if (chain.includes(p)) throw new ConfigError(`parent cycle: ${[...chain, p].join(' -> ')}`, 'parent');
    const s: Settings | undefined = db.profiles[p];
    if (!s) {
      throw new ConfigError(chain.length ? `profile '${chain.at(-1)}': parent profile '${p}' does not exist` : `no profile '${p}'`, chain.length ? 'parent' : 'profile');
    }
    chain.push(p);
    p = s.parent as string | undefined;
  }
  return chain;
}

type Layer = [origin: string, values: Record<string, unknown>];

function dbLayers(db: ConfigDb, name: string | undefined): { global: Layer; chain: Layer[]; names: string[] } {
  const names = name === undefined ? [] : profileChain(db, name);
  return { global: ['global', db.global], chain: names.map((n) => [n, db.profiles[n]!] as Layer), names };
}

function merge(layers: Layer[], names: string[]): Resolved {
  const values: Record<string, unknown> = {};
  const origin: Record<string, string> = {};
  for (const [o, vals] of layers) {
    for (const [k, v] of Object.entries(vals)) {
      if (v === undefined || k === 'parent' || k === 'profile') continue;
      values[k] = v;
      origin[k] = o;
    }
  }
  return { values, origin, chain: names };
}

/**
 * AEMP's precedence, lowest first: built-in defaults, the values the
 * program passed, global defaults, the profile's parents, the profile.
 * All in database units (seconds).
 */
export function resolveProfile(db: ConfigDb, name: string | undefined, programDefaults: Record<string, unknown> = {}): Resolved {
  const { global, chain, names } = dbLayers(db, name);
  return merge([['default', DEFAULTS], ['program', programDefaults], global, ...chain.reverse()], names);
}

/**
 * What `configure()` calls: resolves `profile` (or programOpts.profile; none
 * means global values only) from the database at rcPath (default
 * defaultRcPath()). Database and default durations are converted from
 * seconds to milliseconds; the program's values are passed through as given.
 */
export async function loadConfigFor(opts: {
  profile?: string;
  programOpts: Record<string, unknown>;
  rcPath?: string;
}): Promise<{ values: Record<string, unknown>; origin: Record<string, string> }> {
  const db = await readConfig(opts.rcPath ?? defaultRcPath());
  const p = opts.programOpts.profile;
  const name = opts.profile ?? (typeof p === 'string' ? p : undefined);
  const { global, chain, names } = dbLayers(db, name);
  const toMs = ([o, vals]: Layer): Layer => {
    const out = { ...vals };
    for (const k of DURATION_KEYS) if (typeof out[k] === 'number') out[k] = (out[k] as number) * 1000;
    return [o, out];
  };
  const { values, origin } = merge(
    [toMs(['default', DEFAULTS]), ['program', opts.programOpts], toMs(global), ...chain.reverse().map(toMs)],
    names,
  );
  return { values, origin };
}

// ---- edits, applied to a database in memory (inside updateConfig) ----

/** The settings an edit applies to: a profile (created when missing) or the global ones. */
export function target(db: ConfigDb, profile: string | undefined): Settings {
  if (profile === undefined) return db.global;
  profileName(profile);
  return (db.profiles[profile] ??= {});
}

/** Sets one key after validating it; a parent that would close a cycle is refused. */
export function setValue(db: ConfigDb, profile: string | undefined, key: string, value: unknown): void {
  assertKey(key);
  const v = validateValue(key, value);
  if (key === 'parent') {
    if (profile === undefined) throw new ConfigError("parent: only a profile has a parent; use 'aemp profile NAME setparent P'", key);
    const trial: ConfigDb = { ...db, profiles: { ...db.profiles, [profile]: { ...db.profiles[profile], parent: v } } };
    checkNoCycle(trial, profile);
  }
  target(db, profile)[key] = v;
}

export function deleteValue(db: ConfigDb, profile: string | undefined, key: string): void {
  assertKey(key);
  delete target(db, profile)[key];
}

/** Adds an item to a list key (kept once, except for services: AEMP counts instances). */
export function addToList(db: ConfigDb, profile: string | undefined, key: string, item: string): void {
  assertKey(key);
  if (!isListKey(key)) throw new ConfigError(`${key}: not a list`, key);
  const s = target(db, profile);
  const cur = (s[key] as string[] | undefined) ?? [];
  if (!listAllowsDupes(key) && cur.includes(item)) return;
  s[key] = validateValue(key, [...cur, item]);
}

/** Removes one instance of an item from a list key; absent items are ignored. */
export function removeFromList(db: ConfigDb, profile: string | undefined, key: string, item: string): void {
  assertKey(key);
  if (!isListKey(key)) throw new ConfigError(`${key}: not a list`, key);
  const s = target(db, profile);
  const cur = s[key] as string[] | undefined;
  const i = cur?.indexOf(item) ?? -1;
  if (cur && i >= 0) s[key] = cur.filter((_, j) => j !== i);
}

/** Deletes a profile; refused while another profile names it as parent. */
export function deleteProfile(db: ConfigDb, name: string): void {
  profileName(name);
  if (!db.profiles[name]) throw new ConfigError(`no profile '${name}'`, 'profile');
  const children = Object.entries(db.profiles).filter(([, s]) => s.parent === name).map(([n]) => n);
  if (children.length) throw new ConfigError(`profile '${name}' is the parent of ${children.map((c) => `'${c}'`).join(', ')}`, 'parent');
  delete db.profiles[name];
}

function checkNoCycle(db: ConfigDb, name: string): void {
  const seen: string[] = [];
  for (let p: string | undefined = name; p !== undefined; p = db.profiles[p]?.parent as string | undefined) {
    if (seen.includes(p)) throw new ConfigError(`parent cycle: ${[...seen, p].join(' -> ')}`, 'parent');
    seen.push(p);
  }
}
