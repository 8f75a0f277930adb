/**
 * aemp/web: the core plus the browser's transports (native WebSocket and
 * RTCPeerConnection, WebCrypto).
 *
 * A browser node joins a seed with a token (from `aemp token` or the
 * embedding app's backend) or, where the seed's profile allows it,
 * anonymously (node ID "anon/…", no token). The mesh keeps the seed link,
 * reconnecting with back-off when the seed goes away and comes back. On
 * `pagehide` every networked node of the page says goodbye, so peers'
 * monitors fire at once instead of after monitor_timeout; a page restored
 * from the back/forward cache joins again.
 */
import './shim.ts'; // first: simple-peer needs `process` and `global` when it is evaluated
import { configure as coreConfigure, defaultNode } from '../lib/api.ts';
import { createNode as coreCreateNode, joinNetwork, setEnvironment, type ConfigureOptions } from '../lib/configure.ts';
import type { Guard } from '../lib/kernel.ts';
import type { NodeId } from '../lib/ids.ts';
import type { Link } from '../lib/link.ts';
import { logger } from '../lib/log.ts';
import { Mesh } from '../lib/mesh/mesh.ts';
import type { MpNode } from '../lib/node.ts';
import { connectWs } from './ws.ts';

export * from '../lib/index.ts';

const log = logger('web');

/** Why a link to a seed failed: connect errors and every close of a seed link, refusals included. */
export type LinkFailure = (url: string, why: string) => void;
const failureWatchers = new Set<LinkFailure>();

function linkFailed(url: string, why: string): void {
  for (const w of failureWatchers) {
    try {
      w(url, why);
    } catch (e) {
      log.error(`link failure watcher threw: ${(e as Error)?.message ?? e}`);
    }
  }
}

const g = globalThis as Record<string, unknown>;
const wrtc =
  typeof g.RTCPeerConnection === 'function'
    ? { RTCPeerConnection: g.RTCPeerConnection, RTCSessionDescription: g.RTCSessionDescription, RTCIceCandidate: g.RTCIceCandidate }
    : undefined;

setEnvironment({
  subtle: globalThis.crypto.subtle,
  ...(wrtc ? { wrtc } : {}),
  transport: {
    // A browser only dials: seeds are Node processes.
    connect: async (url, o) => {
      let link: Link;
      try {
        link = await connectWs(url, o);
      } catch (e) {
        linkFailed(url, (e as Error).message);
        throw e;
      }
      // Report how the link ended (a refused handshake closes it with the seed's code and reason).
      const set = link.setHandlers.bind(link);
      link.setHandlers = (h) => set(h.close ? { ...h, close: (why: string) => (linkFailed(url, why), h.close!(why)) } : h);
      return link;
    },
  },
});

/** Networked nodes of this page and the options they joined with (for goodbye and bfcache restore). */
const joined = new Map<MpNode, ConfigureOptions>();
let listening = false;

function track(n: MpNode, opts: ConfigureOptions): void {
  const wants = (k: 'seeds' | 'binds') => opts[k] !== undefined && opts[k] !== null && String(opts[k]) !== '';
  if (wants('seeds') || wants('binds')) joined.set(n, opts);
  else joined.delete(n);
  if (listening || typeof g.addEventListener !== 'function') return;
  listening = true;
  const on = g.addEventListener as (type: string, fn: (ev: { persisted?: boolean }) => void) => void;
  // shutdown() sends the goodbye synchronously, before the page is gone.
  on('pagehide', () => {
    for (const node of joined.keys()) if (node.net) void node.shutdown();
  });
  on('pageshow', (ev) => {
    if (!ev.persisted) return;
    for (const [node, o] of joined) if (!node.net) joinNetwork(node, { ...o, nodeid: undefined }).catch((e) => log.warn(`rejoin after back/forward cache failed: ${(e as Error).message}`));
  });
}

/** Join the mesh with the default node (seeds, token or anonymous, ...); says goodbye on pagehide. */
export async function configure(opts: ConfigureOptions | string = {}): Promise<NodeId> {
  const o = typeof opts === 'string' ? { profile: opts } : opts;
  const id = await coreConfigure(o);
  track(defaultNode(), o);
  return id;
}

/** A new node with its own ports and network; says goodbye on pagehide. */
export async function createNode(opts: ConfigureOptions = {}): Promise<MpNode> {
  const n = await coreCreateNode(opts);
  track(n, opts);
  return n;
}

/**
 * Watch a node's seed link: cb(seedNodeId) when linked, cb(undefined, why)
 * when not (why: the last failure, if any). Called at once with the current
 * state, then on every change and every failed attempt.
 */
export function monSeed(cb: (seed: NodeId | undefined, why?: string) => void, n: MpNode = defaultNode()): Guard {
  const mesh = n.net instanceof Mesh ? n.net : undefined;
  let last: string | undefined;
  const hook = { seedLink: (seed: NodeId | undefined) => cb(seed, seed ? undefined : last) };
  const onFail: LinkFailure = (url, why) => {
    last = `${url}: ${why}`;
    if (!(n.net instanceof Mesh) || !n.net.seedConn) cb(undefined, last);
  };
  mesh?.hooks.add(hook);
  failureWatchers.add(onFail);
  cb(mesh?.seedConn?.peer);
  return () => {
    mesh?.hooks.delete(hook);
    failureWatchers.delete(onFail);
  };
}

/** Hear about every failed seed connect and closed seed link of this page (before configure() too). */
export function monLinkFailures(cb: LinkFailure): Guard {
  failureWatchers.add(cb);
  return () => void failureWatchers.delete(cb);
}
