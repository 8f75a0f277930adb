/**
 * What every attack test in test/security/ needs: a real seed in a child
 * process that accepts secret holders, tokens and anonymous nodes; an honest
 * pair of secret-holding nodes that stream numbered messages to each other
 * through that seed for the whole attack (and must lose none); tokens; and a
 * hostile client that completes a real token or anonymous handshake and
 * then sends whatever it likes (test/fixtures/raw-client.ts).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createToken } from '../../lib/protocol/token.ts';
import { Peer, type PeerEvent, type PeerOptions } from '../fixtures/driver.ts';
import { rawNode, type RawNode } from '../fixtures/raw-client.ts';

export { killAll, Peer, type PeerEvent } from '../fixtures/driver.ts';

// glibc keeps freed buffers of a few hundred KiB (a page's batches) resident unless they are
// mmapped: with a fixed threshold, what an attack allocated goes back to the system when it is
// freed, so "RSS returns within 10% of before" measures the seed, not the allocator
// (docs/security.md recommends the same for seeds facing pages). Every child inherits it.
process.env.MALLOC_MMAP_THRESHOLD_ ??= '65536';

export const SECRET = 'security-test-secret';
/** monitor_timeout of every node here, ms: short, so what hangs is cut quickly. */
export const MT = 2000;

export interface Memory {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

export interface Seed {
  peer: Peer;
  url: string;
  /** Memory after a full GC (the seed runs with --expose-gc). */
  memory(): Promise<Memory>;
  /** Peak RSS (VmHWM) since the last resetPeak(), in bytes (Linux). */
  peakRss(): number;
  /** Start a new peak-RSS window (writes 5 to /proc/PID/clear_refs). */
  resetPeak(): void;
}

/** A seed on 127.0.0.1 (ephemeral port) accepting hmac_sha256, token and none. */
export async function startSeed(extra: Partial<PeerOptions> = {}): Promise<Seed> {
  const peer = await Peer.start({
    nodeid: 'sec_seed',
    binds: ['127.0.0.1:0'],
    secret: SECRET,
    auth_accept: ['hmac_sha256', 'token', 'none'],
    monitor_timeout: MT,
    connect_interval: 200,
    // V8's young generation grows with the allocation rate and is not given back by a forced GC: fixed at
    // its full size from the start, it is in "before" already, and RSS after an attack measures what the
    // attack left behind.
    nodeArgs: ['--expose-gc', '--min-semi-space-size=16', '--max-semi-space-size=16'],
    ...extra,
  });
  const status = () => readFileSync(`/proc/${peer.pid}/status`, 'utf8');
  return {
    peer,
    url: peer.url!,
    memory: () => peer.cmd<Memory>('memory', {}, 60_000),
    peakRss: () => Number(/VmHWM:\s+(\d+) kB/.exec(status())![1]) * 1024,
    resetPeak: () => writeFileSync(`/proc/${peer.pid}/clear_refs`, '5'),
  };
}

export interface HonestPair {
  a: Peer;
  b: Peer;
  /**
   * Stop the stream and check it: every message arrived at b exactly once,
   * in order, no monitor fired, neither node saw the other go down. Returns
   * how many messages went through.
   */
  check(): Promise<number>;
}

/**
 * Two secret-holding nodes on `seed`, relayed through it (no direct link),
 * a → b streaming ['s', i] at about `rate` messages/s until check().
 */
export async function honestPair(seed: Seed, rate = 4000, extra: Partial<PeerOptions> = {}): Promise<HonestPair> {
  const node = (nodeid: string) =>
    Peer.start({ nodeid, seeds: [seed.url], secret: SECRET, monitor_timeout: MT, connect_interval: 200, direct: false, ...extra });
  const [a, b] = await Promise.all([node('honest_a'), node('honest_b')]);
  const sink = await b.cmd<string>('sink', { name: 'honest' });
  const intervalMs = 10;
  await a.cmd('stream', { name: 'honest', port: sink, count: 1e9, chunk: Math.max(1, Math.round((rate * intervalMs) / 1000)), intervalMs });
  return {
    a,
    b,
    async check() {
      const sent = await a.cmd<number>('streamEnd', { name: 'honest' });
      await a.waitFor((e: PeerEvent) => e.ev === 'streamDone' && e.name === 'honest', { timeoutMs: 30_000, what: 'honest stream done' });
      const got = await b.cmd<{ ranges: Array<[number, number]>; count: number }>('sinkWait', { name: 'honest', count: sent }, 30_000);
      const fired = a.filter((e) => e.ev === 'streamFire');
      const downs = [...a.filter((e) => e.ev === 'node' && e.node === b.node && !e.up), ...b.filter((e) => e.ev === 'node' && e.node === a.node && !e.up)];
      if (fired.length > 0 || downs.length > 0) {
        throw new Error(`honest pair disturbed: monitor fired ${JSON.stringify(fired)}, node down ${JSON.stringify(downs)}`);
      }
      if (got.count !== sent || got.ranges.length !== 1 || got.ranges[0]![0] !== 0 || got.ranges[0]![1] !== sent - 1) {
        throw new Error(`honest pair lost or reordered messages: sent ${sent}, received ${got.count} as ${JSON.stringify(got.ranges.slice(0, 10))}`);
      }
      return sent;
    },
  };
}

/** A token signed with SECRET for node IDs matching `pattern` (caps: what it grants beyond a page's defaults). */
export function tokenFor(pattern: string, o: { ttlSec?: number; caps?: string[] } = {}): Promise<string> {
  const opts: Record<string, unknown> = { node: pattern, ttlSec: o.ttlSec ?? 3600, nowMs: Date.now() };
  if (o.caps !== undefined) opts.caps = o.caps;
  return createToken(globalThis.crypto.subtle, SECRET, opts as Parameters<typeof createToken>[2]);
}

/**
 * A hand-driven page on `url`: with a token (node ID `web/…`), or anonymous
 * (`anon/…`). It answers heartbeats unless told not to (pong: false).
 */
export async function hostile(
  url: string,
  o: { token?: string; nodeId?: string; pong?: boolean; maxFrameSize?: number; claimsPings?: boolean; pingEveryMs?: number } = {},
): Promise<RawNode> {
  const nodeId = o.nodeId ?? (o.token !== undefined ? `web/hostile-${Math.random().toString(36).slice(2, 8)}` : `anon/hostile-${Math.random().toString(36).slice(2, 8)}`);
  return rawNode(url, { nodeId, token: o.token, pong: o.pong, maxFrameSize: o.maxFrameSize, claimsPings: o.claimsPings, pingEveryMs: o.pingEveryMs });
}

export const MiB = 1024 * 1024;

/**
 * Make `seed` a seed in use, as a baseline for memory: a token page and an
 * anonymous page join and each sends one big (fragmented) honest batch.
 */
export async function warmUp(seed: Seed): Promise<void> {
  for (const token of [await tokenFor('web/*'), undefined]) {
    const page = await hostile(seed.url, { token });
    page.send([['p', new Uint8Array(MiB - 64)]]);
    await page.waitFrame(() => page.packets.some((p) => p[0] === 'P'), 30_000);
    page.link.close('warmed up');
    await page.closed;
  }
}

/** Resolves once the honest pair's stream is flowing (b has had its first 10,000 messages). */
export function flowing(pair: HonestPair): Promise<unknown> {
  return pair.b.waitFor((e: PeerEvent) => e.ev === 'sink' && e.name === 'honest', { timeoutMs: 30_000, what: 'honest stream flowing' });
}
