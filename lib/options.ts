/**
 * The options of configure() and createNode(): every valid key, its type,
 * and for the AEMP durations their floor. OPTIONS is the one list: the
 * ConfigureOptions type is made from it (an unknown key is a compile error)
 * and checkOptions() refuses unknown keys at run time with the closest valid
 * one. Adding an option is one line here (the code that uses it aside).
 * Every option is documented in docs/api.md.
 */
import type { Clock, Random } from './clock.ts';
import { BadArgumentError } from './errors.ts';
import type { GroupLimits } from './groups/options.ts';
import type { Framing } from './protocol/codec.ts';
import type { AuthMethod } from './protocol/handshake.ts';

/** An option's value type (a type only) and, for a duration in milliseconds, the smallest sane value. */
export interface OptionSpec<T> {
  readonly minMs?: number;
  /** Carries T for ConfigureOptions; never set. */
  readonly type?: T;
}

const opt = <T>(): OptionSpec<T> => ({});
/** A duration in milliseconds; below minMs it was almost surely meant as seconds (AEMP's unit). */
const duration = (minMs: number): OptionSpec<number> => ({ minMs });

/** A STUN/TURN server (the DOM's RTCIceServer, without needing the DOM types). */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/** A TLS certificate and its key, PEM. */
export interface CertPem {
  cert: string;
  key: string;
}

export const OPTIONS = {
  /** Profile of the configuration database to resolve (Node; `configure('name')` is short for this). */
  profile: opt<string>(),
  /** This node's ID ([A-Za-z0-9_-.:/]+); "anon/" asks for a random one. Default: a random ID. */
  nodeid: opt<string>(),
  /** Listen addresses (host:port, *:port, [::1]:port): a node with binds is a seed (Node only), unless `seed: false`. */
  binds: opt<string[]>(),
  /** false: a node with binds is not a seed; its binds take direct WebSocket links from other secret holders only. Default true. */
  seed: opt<boolean>(),
  /** Seeds to join: host:port or ws://, wss:// URLs. */
  seeds: opt<string[]>(),
  /** The mesh's shared secret (HMAC-SHA256 handshake). */
  secret: opt<string>(),
  /** A token signed with the mesh secret (`aemp token`, createToken), presented instead of the secret; or a function (sync or async) called for a fresh one before every connect and reconnect. */
  token: opt<string | (() => string | Promise<string>)>(),
  /** TLS certificate and key: binds listen with wss://; also trusted for wss:// seeds (Node). */
  cert: opt<CertPem>(),
  /** PEM certificates trusted for wss:// seeds besides the system CAs (Node). */
  tls_ca: opt<string>(),
  /** Modules whose exported functions become spawnable (`aemp run`). */
  services: opt<string[]>(),
  /** Profile this profile inherits from (configuration database). */
  parent: opt<string>(),
  /** Milliseconds without traffic before a link counts as lost (profiles and the CLI: seconds). Default 6000, at least 100. */
  monitor_timeout: duration(100),
  /** Milliseconds between attempts to reach a seed, the first back-off step (profiles and the CLI: seconds). Default 2000, at least 50. */
  connect_interval: duration(50),
  /** Wire encoding offered: 'msgpack' (default) or 'json'. */
  framing_format: opt<Framing>(),
  /** Authentication methods offered, in order of preference. Default from secret/token: ['hmac_sha256'], ['token'] or ['none']. */
  auth_offer: opt<AuthMethod[]>(),
  /** Authentication methods accepted from peers. Default ['hmac_sha256', 'token'] (plus 'none' with anonymous). */
  auth_accept: opt<AuthMethod[]>(),
  /** Direct WebRTC links between nodes (else everything goes through the seeds). Default true. */
  direct: opt<boolean>(),
  /** A seed accepts anonymous nodes (no secret, no token; IDs "anon/…"). Default false. */
  anonymous: opt<boolean>(),
  /** Injected clock (tests): timers and heartbeats run on it. */
  clock: opt<Clock>(),
  /** Injected random source (tests): back-off jitter and IDs that need no secrecy. Default Math.random. */
  random: opt<Random>(),
  /** Limits of the global groups (docs/groups.md). */
  groups: opt<Partial<GroupLimits>>(),
  /** A link whose send buffer holds more than this many bytes is closed (monitors fire). Default 64 MiB. */
  maxBufferedBytes: opt<number>(),
  /** Packets queued per node while its link is being set up; past this, monitors fire. Default 4000000. */
  maxQueuedPackets: opt<number>(),
  /** A peer must finish the handshake within this many milliseconds. Default 10000. */
  handshakeTimeoutMs: opt<number>(),
  /** Largest batch (encoded bytes) a secret holder may send this node; at most 2^32 − 1. Default 134217728 (128 MiB). */
  maxMessageSize: opt<number>(),
  /** Largest batch a page (token or anonymous node) may send this node. Default 1048576 (1 MiB). */
  pageMaxMessageSize: opt<number>(),
  /** Most packets in one batch from a secret holder. Default 65536. */
  maxBatchPackets: opt<number>(),
  /** Most packets in one batch from a page. Default 4096. */
  pageMaxBatchPackets: opt<number>(),
  /** Most values (array elements, map keys and values) one batch from a secret holder decodes to. Default 2097152. */
  maxBatchElements: opt<number>(),
  /** The same for a page. Default 131072. */
  pageMaxBatchElements: opt<number>(),
  /** ICE, DTLS and the data channel must be up within this many ms, else the relay stays. Default 15000. */
  directConnectTimeoutMs: opt<number>(),
  /** The peer must confirm the switch to a direct link within this many ms. Default 15000. */
  directSwitchTimeoutMs: opt<number>(),
  /** A direct link idle this many ms closes (back to the relay). Default 300000. */
  directIdleMs: opt<number>(),
  /** Wait after a failed direct attempt, ms (doubling, up to 8×). Default 30000. */
  directRetryMs: opt<number>(),
  /** Direct links (and attempts) at most at once. Default 100. */
  directMaxLinks: opt<number>(),
  /** Unconfirmed messages a direct link keeps for resending. Default 1000000. */
  directMaxResend: opt<number>(),
  /** Largest data-channel message, bytes (lowered to the connection's limit). Default 65536. */
  directMaxFrame: opt<number>(),
  /** STUN/TURN servers for direct links. Default none (host candidates only). */
  iceServers: opt<IceServer[]>(),
  /** Remote monitors one secret-holding node may hold on this node's ports; past it, its monitors fire ['denied', 'AEMP_ERR_QUOTA: …']. Default 1000000. */
  maxRemoteMonitors: opt<number>(),
  /** The same for a page (token or anonymous node). Default 10000. */
  pageMaxRemoteMonitors: opt<number>(),
  /** cal/call waiting for a reply at once on this node; past it, call rejects (AEMP_ERR_QUOTA). Default 100000. */
  maxPendingCalls: opt<number>(),
  /** 'relay' forces direct links through TURN (iceServers or the seed's turn_urls). Default 'all'. */
  iceTransportPolicy: opt<'all' | 'relay'>(),
  /** Seeds: coturn's shared secret (its REST API scheme); the seed hands its nodes short-lived TURN credentials. */
  turn_secret: opt<string>(),
  /** Seeds: the TURN servers (turn: or turns: URLs) those credentials are for. */
  turn_urls: opt<string[] | string>(),
  /** Seeds: lifetime of the TURN credentials handed out, ms (profiles: seconds). Default one hour. */
  turn_ttl: opt<number>(),
  /** Seeds: incoming links in their handshake at once. Default 256 (profile key max_pending_handshakes). */
  maxPendingHandshakes: opt<number>(),
  max_pending_handshakes: opt<number>(),
  /** Seeds: handshakes in progress at once from one address (IPv6: one /64). Default 128. */
  maxPendingPerAddress: opt<number>(),
  max_pending_per_address: opt<number>(),
  /** Seeds: ms a connection has to send a complete HTTP request or WebSocket upgrade (profiles: seconds). Default 5000. */
  admitTimeoutMs: opt<number>(),
  admit_timeout: opt<number>(),
  /** Seeds: messages/s relayed for each secret-holding node; 0 unlimited. Default 0. */
  relayMessagesPerSec: opt<number>(),
  relay_msgs_per_sec: opt<number>(),
  /** Seeds: bytes/s a secret-holding node may send while relaying; 0 unlimited. Default 0. */
  relayBytesPerSec: opt<number>(),
  relay_bytes_per_sec: opt<number>(),
  /** Seeds: messages/s relayed for each page (token or anonymous node); 0 unlimited. Default 2000. */
  pageRelayMessagesPerSec: opt<number>(),
  page_relay_msgs_per_sec: opt<number>(),
  /** Seeds: bytes/s a page may send while relaying; 0 unlimited. Default 4 MiB. */
  pageRelayBytesPerSec: opt<number>(),
  page_relay_bytes_per_sec: opt<number>(),
  /** Seeds: a node over its relay quota without a break for this many ms loses its link; 0 never. Default 30000. */
  quotaCloseMs: opt<number>(),
  /** Test option: drop every ICE candidate, so no direct link can form. */
  directDropCandidates: opt<boolean>(),
} as const;

export type OptionKey = keyof typeof OPTIONS;

/** What configure() and createNode() take. Durations are milliseconds (the aemp tool and profiles use seconds). */
export type ConfigureOptions = {
  [K in OptionKey]?: (typeof OPTIONS)[K] extends OptionSpec<infer T> ? T : never;
};

export const OPTION_KEYS = Object.keys(OPTIONS) as OptionKey[];

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      row[j] = Math.min(up + 1, row[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length]!;
}

/** The valid key nearest to `key` (edit distance, case-insensitive). */
export function closestOption(key: string): OptionKey {
  let best = OPTION_KEYS[0]!;
  let bestD = Infinity;
  for (const k of OPTION_KEYS) {
    const d = distance(key.toLowerCase(), k.toLowerCase());
    if (d < bestD) (best = k), (bestD = d);
  }
  return best;
}

/**
 * Refuse what configure() would otherwise ignore or misread: an unknown key
 * (naming the closest valid one) and a duration below its floor (it was
 * meant as seconds, the unit of profiles and the aemp tool).
 */
export function checkOptions(o: object, where = 'configure'): void {
  for (const [k, v] of Object.entries(o)) {
    if (!Object.hasOwn(OPTIONS, k)) {
      throw new BadArgumentError(`${where}: unknown option ${JSON.stringify(k)}; did you mean ${JSON.stringify(closestOption(k))}?`);
    }
    const min = (OPTIONS[k as OptionKey] as OptionSpec<unknown>).minMs;
    if (min === undefined || v === undefined || v === null) continue;
    const n = Number(v);
    if (!(n >= min) || !Number.isFinite(n)) {
      throw new BadArgumentError(
        `${where}: ${k} ${JSON.stringify(v)} is below ${min} ms: the TypeScript API takes milliseconds (profiles and the aemp tool take seconds)` +
          (n > 0 ? `; for ${n} seconds write ${k}: ${n * 1000}` : ''),
      );
    }
  }
}
