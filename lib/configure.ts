/**
 * configure() and createNode(): give a node its identity and network.
 * Without seeds or binds a node joins the in-process hub; with them, the
 * mesh. The environment (node/ or web/) injects transports, crypto and the
 * profile database through setEnvironment().
 */
import { processHub } from './hub.ts';
import { resolveNodeId } from './ids.ts';
import { MpNode } from './node.ts';
import type { Clock } from './clock.ts';
import { BadArgumentError, NotConfiguredError } from './errors.ts';
import { installTrace } from './trace.ts';
import { Mesh, MESH_DEFAULTS, type MeshOptions, type MeshTransport, type TokenSource } from './mesh/mesh.ts';
import { batchLimitOptions } from './mesh/batch-limits.ts';
import { directOptions } from './mesh/direct-options.ts';
import { checkOptions, type ConfigureOptions, type OptionKey } from './options.ts';

export type { ConfigureOptions } from './options.ts';

export interface Environment {
  transport: MeshTransport;
  subtle: SubtleCrypto;
  /**
   * RTCPeerConnection & co. for direct links ({ RTCPeerConnection, RTCSessionDescription,
   * RTCIceCandidate }, simple-peer's `wrtc` option): `@roamhq/wrtc` in Node, the
   * browser's own in web/. Without it, nodes talk through seeds only.
   */
  wrtc?: object;
  /** Resolve a profile from the config database (Node); values it returns beat opts. */
  resolve?(opts: ConfigureOptions): Promise<ConfigureOptions>;
  /** What makes a node with binds a seed (node/: `(m) => new SeedRole(m)`); without it, binds are refused. */
  seedRole?: MeshOptions['seedRole'];
  /** Direct WebSocket links between secret holders (node/: `(m, links) => new WsAttempts(m, links)`); without it, none. */
  directWs?: MeshOptions['directWs'];
  /** Runs of relayed messages (node/: RELAY_RUNS, lib/mesh/relay-runs.ts); without it, one relay packet per message. */
  relayRuns?: MeshOptions['relayRuns'];
  /**
   * The options only a seed or a listener uses, parsed (node/: admission control and relay
   * quotas, lib/mesh/admit-options.ts; TURN, lib/mesh/ice-seed.ts); a page ignores them.
   */
  seedOptions?(opts: Record<string, unknown>): Partial<MeshOptions>;
}

let env: Environment | undefined;

/** Called by aemp/node and aemp/web to inject what the core must not import. */
export function setEnvironment(e: Environment): void {
  env = e;
}

function list(v: unknown, key: string): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return v.split(',').map((s) => s.trim()).filter(Boolean);
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  throw new BadArgumentError(`configure: ${key} must be a list of strings`);
}

/** A duration option: milliseconds in the API (the config database's seconds are converted when read). */
function ms(o: ConfigureOptions, key: 'monitor_timeout' | 'connect_interval', dflt: number): number {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  const n = Number(v);
  if (!(n > 0)) throw new BadArgumentError(`configure: ${key} must be a positive number of milliseconds`);
  return n;
}

/** A count option (a limit): a whole number >= 1. */
function count(o: ConfigureOptions, key: OptionKey): number {
  const n = o[key];
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw new BadArgumentError(`configure: ${key} must be a whole number >= 1`);
  return n;
}

/** (Re)attach node n to its network according to opts. */
export async function joinNetwork(n: MpNode, given: ConfigureOptions): Promise<void> {
  checkOptions(given);
  const opts = env?.resolve ? await env.resolve(given) : given;
  if (opts !== given) checkOptions(opts, 'configure (resolved profile)');
  const seeds = list(opts.seeds, 'seeds');
  const binds = list(opts.binds, 'binds');
  const wantsNet = seeds.length > 0 || binds.length > 0;
  if (opts.maxPendingCalls !== undefined) n.maxPendingCalls = count(opts, 'maxPendingCalls');
  if (opts.nodeid !== undefined && opts.nodeid !== n.NODE) {
    const id = resolveNodeId(opts.nodeid);
    if (n.net) await n.shutdown();
    n.kernel.rename(id);
  }
  if (!wantsNet) {
    await processHub.groupsReady(); // global groups among the hub's nodes (a page in a mesh never loads them)
    if (!n.net) {
      n.net = processHub.join(n);
      n.kernel.transport = n.net;
    }
    n.groups.useNetwork(opts.groups); // global groups: limits (opts.groups), and register on this network
    return;
  }
  if (!env) throw new NotConfiguredError('configure: no network environment; import aemp/node or aemp/web');
  if (n.net) await n.shutdown();
  // Every networked node answers `aemp trace` / `aemp nodes` (node-port requests, no code evaluated).
  installTrace(n);
  const secret = opts.secret as string | undefined;
  const token = opts.token as string | TokenSource | undefined;
  if (token !== undefined && typeof token !== 'string' && typeof token !== 'function') throw new BadArgumentError('configure: token must be a string or a function returning one');
  const mesh = new Mesh(n, {
    ...MESH_DEFAULTS,
    seedRole: env.seedRole,
    directWs: env.directWs,
    relayRuns: env.relayRuns,
    seeds,
    binds,
    // seed: false — binds listen for direct WebSocket links from secret holders only (lib/mesh/direct-ws.ts).
    ...(opts.seed === false || (opts.seed as unknown) === 'no' ? { seed: false } : {}),
    secret,
    token,
    monitorTimeoutMs: ms(opts, 'monitor_timeout', MESH_DEFAULTS.monitorTimeoutMs),
    connectIntervalMs: ms(opts, 'connect_interval', MESH_DEFAULTS.connectIntervalMs),
    framing: opts.framing_format === 'json' ? 'json' : 'msgpack',
    authOffer: list(opts.auth_offer, 'auth_offer').length
      ? list(opts.auth_offer, 'auth_offer')
      : secret !== undefined
        ? ['hmac_sha256']
        : token !== undefined
          ? ['token']
          : ['none'],
    authAccept: list(opts.auth_accept, 'auth_accept').length
      ? list(opts.auth_accept, 'auth_accept')
      : opts.anonymous === true || (opts.anonymous as unknown) === 'yes'
        ? ['hmac_sha256', 'token', 'none']
        : ['hmac_sha256', 'token'],
    transport: env.transport,
    subtle: env.subtle,
    ...(typeof opts.maxBufferedBytes === 'number' ? { maxBufferedBytes: opts.maxBufferedBytes } : {}),
    ...(typeof opts.maxQueuedPackets === 'number' ? { maxQueuedPackets: opts.maxQueuedPackets } : {}),
    ...(typeof opts.handshakeTimeoutMs === 'number' ? { handshakeTimeoutMs: opts.handshakeTimeoutMs } : {}),
    ...(opts.maxRemoteMonitors !== undefined ? { maxRemoteMonitors: count(opts, 'maxRemoteMonitors') } : {}),
    ...(opts.pageMaxRemoteMonitors !== undefined ? { pageMaxRemoteMonitors: count(opts, 'pageMaxRemoteMonitors') } : {}),
    // Direct WebRTC links: `direct`, `directIdleMs`, ... (lib/mesh/direct-options.ts); env.wrtc makes them possible.
    ...directOptions(opts as Record<string, unknown>, env.wrtc),
    // Admission control, relay quotas and TURN at a seed: profile keys or option names (node/roles.ts).
    ...env.seedOptions?.(opts as Record<string, unknown>),
    // maxMessageSize, pageMaxMessageSize, maxBatchPackets, ... (lib/mesh/batch-limits.ts)
    ...batchLimitOptions(opts as Record<string, unknown>),
  });
  n.net = mesh;
  n.kernel.transport = mesh;
  n.groups.useNetwork(opts.groups); // global groups: limits (opts.groups), and register through this mesh
  await mesh.start();
}

/** A new node with its own ports, identity and network (many may live in one process). */
export async function createNode(opts: ConfigureOptions = {}): Promise<MpNode> {
  const n = new MpNode({ nodeid: opts.nodeid, clock: opts.clock, random: opts.random });
  await joinNetwork(n, { ...opts, nodeid: undefined });
  return n;
}
