/**
 * How much one batch from a peer may cost to decode, by the peer's kind:
 * holders of the mesh secret get the large limits (AEMP semantics among
 * trusted nodes: a 100 MB message just works), pages (token and anonymous
 * nodes) smaller ones, because anyone who loads a page can send anything.
 * The codec (lib/protocol/codec.ts) enforces them; a batch over a limit
 * closes that one link with the code in its logged reason.
 */
import { BadArgumentError } from '../errors.ts';
import { DEFAULT_MAX_BATCH_ELEMENTS, DEFAULT_MAX_BATCH_PACKETS, DEFAULT_MAX_MESSAGE_SIZE, type BatchLimits } from '../protocol/codec.ts';
import type { PeerKind } from './peer-kind.ts';

export interface BatchLimitOptions {
  /** Largest batch encoding from a secret holder, bytes (at most 2^32 − 1). */
  maxMessageSize: number;
  /** Largest batch encoding from a page (token or anonymous node), bytes. */
  pageMaxMessageSize: number;
  /** Most packets in one batch from a secret holder. */
  maxBatchPackets: number;
  /** Most packets in one batch from a page. */
  pageMaxBatchPackets: number;
  /** Most values (array elements, map keys and values) one batch from a secret holder decodes to. */
  maxBatchElements: number;
  /** Most values one batch from a page decodes to. */
  pageMaxBatchElements: number;
}

export const BATCH_LIMIT_DEFAULTS: BatchLimitOptions = {
  maxMessageSize: DEFAULT_MAX_MESSAGE_SIZE, // 128 MiB
  // As socket.io's default; what a page sends in one batch, so a trickling page holds at most this.
  pageMaxMessageSize: 1024 * 1024,
  maxBatchPackets: DEFAULT_MAX_BATCH_PACKETS, // 65536
  // A page's batch is one tick of its sends (at most 4096 packets, lib/mesh/conn.ts), ~8 values each.
  pageMaxBatchPackets: 4096,
  maxBatchElements: DEFAULT_MAX_BATCH_ELEMENTS, // 2 Mi: ~100 MB of heap at worst (empty maps), ~0.3 s
  pageMaxBatchElements: 128 * 1024, // ~7 MB of heap at worst, a few ms
};

const KEYS = Object.keys(BATCH_LIMIT_DEFAULTS) as (keyof BatchLimitOptions)[];

/** The batch limits given to configure() (unset ones are left out, so defaults apply). */
export function batchLimitOptions(o: Record<string, unknown>): Partial<BatchLimitOptions> {
  const out: Partial<BatchLimitOptions> = {};
  for (const k of KEYS) {
    const v = o[k];
    if (v === undefined || v === null) continue;
    const n = Number(v);
    const max = k.endsWith('MessageSize') ? 0xffffffff : Number.MAX_SAFE_INTEGER;
    if (!Number.isInteger(n) || n < 1 || n > max) throw new BadArgumentError(`configure: ${k} must be an integer in 1..${max}`);
    out[k] = n;
  }
  return out;
}

/** What the Conn to a peer of each kind applies (conn.ts): `self` is this node's own kind, which its peers apply to it. */
export interface KindLimits {
  secret: BatchLimits;
  page: BatchLimits;
  self: PeerKind;
}

export function kindLimits(o: BatchLimitOptions, self: PeerKind): KindLimits {
  return {
    secret: { maxMessageSize: o.maxMessageSize, maxBatchPackets: o.maxBatchPackets, maxBatchElements: o.maxBatchElements },
    page: { maxMessageSize: o.pageMaxMessageSize, maxBatchPackets: o.pageMaxBatchPackets, maxBatchElements: o.pageMaxBatchElements },
    self,
  };
}
