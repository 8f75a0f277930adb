/**
 * A lock file next to the database, so two `aemp` processes doing
 * read-modify-write at once do not lose an update. The lock is created with
 * O_EXCL and holds {pid, host, time, nonce}; a lock whose owner died (same
 * host) or that is older than `staleMs` is taken over.
 */
import { link, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { ConfigFileError } from './config-keys.ts';

export interface LockOptions {
  /** A lock older than this is taken over even if its owner looks alive. Default 10 000 ms. */
  staleMs?: number;
  /** Give up waiting after this long. Default 30 000 ms. */
  timeoutMs?: number;
  /** Back-off between attempts: starts at minDelayMs, doubles up to maxDelayMs (plus jitter). Defaults 2 and 50 ms. */
  minDelayMs?: number;
  maxDelayMs?: number;
}

export interface HeldLock {
  /** True while the lock file is still ours (not taken over as stale). */
  stillHeld(): Promise<boolean>;
}

/** Runs `fn` while holding `lockPath`; releases it afterwards, also when fn throws. */
export async function withFileLock<T>(lockPath: string, fn: (lock: HeldLock) => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const me = JSON.stringify({ pid: process.pid, host: hostname(), time: Date.now(), nonce: randomBytes(8).toString('hex') });
  await acquire(lockPath, me, opts);
  const lock: HeldLock = { stillHeld: async () => (await readOrUndefined(lockPath)) === me };
  try {
    return await fn(lock);
  } finally {
    if (await lock.stillHeld()) await unlink(lockPath).catch(() => {});
  }
}

async function acquire(lockPath: string, me: string, opts: LockOptions): Promise<void> {
  const staleMs = opts.staleMs ?? 10_000;
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  const maxDelay = opts.maxDelayMs ?? 50;
  let delay = opts.minDelayMs ?? 2;
  for (;;) {
    try {
      const fh = await open(lockPath, 'wx', 0o600);
      try {
        await fh.writeFile(me);
      } finally {
        await fh.close();
      }
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new ConfigFileError(lockPath, `cannot create lock: ${(e as Error).message}`, e);
    }
    const held = await readOrUndefined(lockPath);
    if (held === undefined) continue; // released between our open and read: try again at once
    if (await isStale(lockPath, held, staleMs)) {
      await takeOver(lockPath, held);
      continue;
    }
    if (Date.now() >= deadline) {
      throw new ConfigFileError(lockPath, `timed out waiting for the lock (held by ${describe(held)}); remove the file if no aemp is running`);
    }
    await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
    delay = Math.min(maxDelay, delay * 2);
  }
}

async function isStale(lockPath: string, held: string, staleMs: number): Promise<boolean> {
  const owner = parse(held);
  if (owner) {
    if (owner.host === hostname() && !pidAlive(owner.pid)) return true;
    return Date.now() - owner.time > staleMs;
  }
  // Empty or garbled: its creator may be between open and write, so go by age.
  try {
    return Date.now() - (await stat(lockPath)).mtimeMs > staleMs;
  } catch {
    return false;
  }
}

/**
 * Removes a stale lock without removing a fresh one another process created
 * in the meantime: move it aside, check it is the one we judged, and put it
 * back if it is not.
 */
async function takeOver(lockPath: string, judged: string): Promise<void> {
  const aside = `${lockPath}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await rename(lockPath, aside);
  } catch {
    return; // gone already
  }
  const got = await readOrUndefined(aside);
  if (got !== judged) await link(aside, lockPath).catch(() => {});
  await unlink(aside).catch(() => {});
}

function parse(s: string): { pid: number; host: string; time: number } | undefined {
  try {
    const o = JSON.parse(s) as { pid?: unknown; host?: unknown; time?: unknown };
    if (typeof o.pid === 'number' && typeof o.host === 'string' && typeof o.time === 'number') return { pid: o.pid, host: o.host, time: o.time };
  } catch {
    // fall through
  }
  return undefined;
}

function describe(held: string): string {
  const o = parse(held);
  return o ? `pid ${o.pid} on ${o.host} since ${new Date(o.time).toISOString()}` : 'an unknown process';
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}
