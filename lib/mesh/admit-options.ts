/**
 * The options of admission control and relay quotas at a seed (mesh
 * options, milliseconds), their defaults, and their parsing from
 * configure() — both the profile keys (snake_case, as `aemp set` stores
 * them) and the mesh option names (camelCase) are accepted.
 */
import { BadArgumentError } from '../errors.ts';

export interface AdmitOptions {
  /** Handshakes from one remote address (IPv6: one /64) in progress at once (admission.ts). */
  maxPendingPerAddress: number;
  /** A TCP connection must finish its HTTP request (a WebSocket upgrade or a plain request) within this long, else it is dropped. */
  admitTimeoutMs: number;
  /** Relayed messages/s per secret-holding node; 0: unlimited. */
  relayMessagesPerSec: number;
  /** Bytes/s a secret-holding node may send its seed while it relays; 0: unlimited. */
  relayBytesPerSec: number;
  /** Relayed messages/s per page (token or anonymous node); 0: unlimited. */
  pageRelayMessagesPerSec: number;
  /** Bytes/s a page may send its seed while it relays; 0: unlimited. */
  pageRelayBytesPerSec: number;
  /** A node over its relay quota without a break (2 s) for this long loses its link; 0: never. */
  quotaCloseMs: number;
}

export const ADMIT_DEFAULTS: AdmitOptions = {
  maxPendingPerAddress: 128,
  admitTimeoutMs: 5_000,
  relayMessagesPerSec: 0,
  relayBytesPerSec: 0,
  pageRelayMessagesPerSec: 2_000,
  pageRelayBytesPerSec: 4 * 1024 * 1024,
  quotaCloseMs: 30_000,
};

/** Profile key → mesh option (durations: the database's seconds reach configure() as milliseconds). */
export const ADMIT_PROFILE_KEYS = {
  max_pending_handshakes: 'maxPendingHandshakes',
  max_pending_per_address: 'maxPendingPerAddress',
  admit_timeout: 'admitTimeoutMs',
  relay_msgs_per_sec: 'relayMessagesPerSec',
  relay_bytes_per_sec: 'relayBytesPerSec',
  page_relay_msgs_per_sec: 'pageRelayMessagesPerSec',
  page_relay_bytes_per_sec: 'pageRelayBytesPerSec',
} as const;

type Name = keyof AdmitOptions | 'maxPendingHandshakes';
/** Options that must be > 0; the others take 0 for "unlimited" / "never". */
const POSITIVE = new Set<Name>(['maxPendingHandshakes', 'maxPendingPerAddress', 'admitTimeoutMs']);

/** The admission and quota options given to configure() (unset ones are left out, so defaults apply). */
export function admitOptions(o: Record<string, unknown>): Partial<AdmitOptions> & { maxPendingHandshakes?: number } {
  const out: Partial<Record<Name, number>> = {};
  const names = [...Object.entries(ADMIT_PROFILE_KEYS), ['quotaCloseMs', 'quotaCloseMs']] as Array<[string, Name]>;
  for (const [key, name] of names) {
    for (const k of key === name ? [key] : [key, name]) {
      const v = o[k];
      if (v === undefined || v === null) continue;
      const n = Number(v);
      const ok = Number.isFinite(n) && (POSITIVE.has(name) ? n > 0 : n >= 0);
      if (!ok) throw new BadArgumentError(`configure: ${k} must be a ${POSITIVE.has(name) ? 'positive' : 'non-negative'} number`);
      out[name] = n;
    }
  }
  return out;
}
