/**
 * The options of direct links (configure() keys, milliseconds), their
 * defaults, and their parsing. Every limit has a safe default.
 */
import { BadArgumentError } from '../errors.ts';

export interface DirectOptions {
  /** RTCPeerConnection & co. (Environment.wrtc). Without it this node never takes a direct link. */
  wrtc?: object;
  /** `direct: false` (or "no"): everything to other nodes goes through the seeds. Default true. */
  direct: boolean;
  /** ICE, DTLS and the data channel must be up within this long, else the relay stays. */
  directConnectTimeoutMs: number;
  /** The peer must confirm the switch marker within this long, else the relay stays. */
  directSwitchTimeoutMs: number;
  /** A direct link that carried no message either way for this long closes (back to the relay). */
  directIdleMs: number;
  /** After a failed attempt or a lost link, wait this long before the next attempt (doubling, up to 8x). */
  directRetryMs: number;
  /** Direct links (and attempts) at most at once. */
  directMaxLinks: number;
  /** Unconfirmed messages a direct link keeps for resending; past this, losing the link fires monitors. */
  directMaxResend: number;
  /**
   * Largest data-channel message, bytes; lowered to the connection's SCTP
   * maxMessageSize (16 KiB is what every implementation takes). Fewer,
   * larger messages cost less: each send is a synchronous call into
   * WebRTC's own thread.
   */
  directMaxFrame: number;
  /** STUN/TURN servers; none by default (host candidates only). A seed with TURN adds its own (ice.ts). */
  iceServers: RTCIceServer[];
  /** 'relay': ICE uses TURN relays only (tests, or peers that must not learn each other's addresses). Default 'all'. */
  iceTransportPolicy: RTCIceTransportPolicy;
  /** Test option: drop every ICE candidate, so no direct link can form. */
  directDropCandidates: boolean;
}

export const DIRECT_DEFAULTS: Omit<DirectOptions, 'wrtc'> = {
  direct: true,
  directConnectTimeoutMs: 15_000,
  directSwitchTimeoutMs: 15_000,
  directIdleMs: 300_000,
  directRetryMs: 30_000,
  directMaxLinks: 100,
  directMaxResend: 1_000_000,
  directMaxFrame: 64 * 1024,
  iceServers: [],
  iceTransportPolicy: 'all',
  directDropCandidates: false,
};

const YES = new Set([true, 'yes', 'true', '1', 1]);
const NO = new Set([false, 'no', 'false', '0', 0]);

function flag(v: unknown, key: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (YES.has(v as never)) return true;
  if (NO.has(v as never)) return false;
  throw new BadArgumentError(`configure: ${key} must be yes or no (a boolean)`);
}

export function positive(v: unknown, key: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new BadArgumentError(`configure: ${key} must be a positive number`);
  return n;
}

/** The direct-link options given to configure() (unset ones are left out, so defaults apply). */
export function directOptions(o: Record<string, unknown>, wrtc: object | undefined): Partial<DirectOptions> {
  const out: Partial<DirectOptions> = {};
  if (wrtc !== undefined) out.wrtc = wrtc;
  const direct = flag(o.direct, 'direct');
  if (direct !== undefined) out.direct = direct;
  const drop = flag(o.directDropCandidates, 'directDropCandidates');
  if (drop !== undefined) out.directDropCandidates = drop;
  for (const k of ['directConnectTimeoutMs', 'directSwitchTimeoutMs', 'directIdleMs', 'directRetryMs', 'directMaxLinks', 'directMaxResend', 'directMaxFrame'] as const) {
    const n = positive(o[k], k);
    if (n !== undefined) out[k] = n;
  }
  if (o.iceServers !== undefined) {
    if (!Array.isArray(o.iceServers)) throw new BadArgumentError('configure: iceServers must be a list of RTCIceServer objects');
    out.iceServers = o.iceServers as RTCIceServer[];
  }
  if (o.iceTransportPolicy !== undefined) {
    if (o.iceTransportPolicy !== 'all' && o.iceTransportPolicy !== 'relay') throw new BadArgumentError("configure: iceTransportPolicy must be 'all' or 'relay'");
    out.iceTransportPolicy = o.iceTransportPolicy;
  }
  return out;
}
