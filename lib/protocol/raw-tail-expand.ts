/**
 * A RawTail's values, decoded: apart from raw-tail.ts because decoding
 * needs the msgpack reader, which itself builds RawTails (one file each
 * way would be an import cycle).
 */
import { MsgpackReader } from './msgpack.ts';
import type { RelayCodec } from './codec.ts';
import { RelayPackets, hasTail, tailAsArray, type RawTail } from './raw-tail.ts';

/** The tail's values (for a message to the seed itself, a page's screened request, a json link). */
export function expandTail(t: RawTail, maxDepth = 100): unknown[] {
  return new MsgpackReader(maxDepth).read(tailAsArray(t)) as unknown[];
}

/** `p` with a RawTail at its end replaced by the values it holds. */
export function expandPacket(p: readonly unknown[]): unknown[] {
  const t = p[p.length - 1] as RawTail;
  return [...p.slice(0, -1), ...expandTail(t)];
}

/** What a relaying seed's links decode and encode with (codec.ts `relay`; the seed role supplies it). */
export const RELAY_CODEC: RelayCodec = {
  reader: (maxDepth) => new RelayPackets(maxDepth),
  expand: (batch) => (batch.some(hasTail) ? batch.map((p) => (hasTail(p) ? expandPacket(p) : p)) : batch),
};
