/**
 * Relay runs: consecutive messages of one session to one relayed node
 * leave as one packet, ['R', dst, sid, seq0, port, msg, port, msg, …]
 * (message i numbered seq0 + i), so the seed reads, counts and forwards
 * them once per run, not once per message (docs/protocol.md, "Relaying
 * bytes"). A message joins the relay packet queued last on the seed link,
 * if that is a run to the same node whose next number it has, and not sent
 * yet: a run is what one tick sends to one node, cut wherever anything
 * else is queued in between.
 *
 * Node processes only (node/roles.ts injects it, like the seed role): a
 * page's relayed messages are screened by its seed one by one anyway, and
 * its bundle stays small; it sends one 'r' per message.
 */
import type { NodeId, PortId } from '../ids.ts';
import type { Message } from '../kernel.ts';
import type { Packet, RelayCodec } from '../protocol/codec.ts';
import { RELAY_CODEC } from '../protocol/raw-tail-expand.ts';
import type { Conn } from './conn.ts';
import type { TxSession } from './sessions.ts';

/** Most messages in one run: the seed's element budget per batch holds hundreds of such runs. */
export const RUN_MAX_MESSAGES = 4096;
const MAX_LENGTH = 4 + 2 * RUN_MAX_MESSAGES;

export interface RelayRuns {
  /** Queue message s.seq of session `s` to `node` on the seed link `sc` (and count it). */
  send(sc: Conn, node: NodeId, s: TxSession, port: PortId, msg: Message): void;
  /** The seed link's codec: splits a run over the batch limits as it is encoded. */
  codec: RelayCodec;
}

function send(sc: Conn, node: NodeId, s: TxSession, port: PortId, msg: Message): void {
  const r = sc.queued();
  if (r !== undefined && r[0] === 'R' && r[1] === node && r[2] === s.sid && r.length < MAX_LENGTH && (r[3] as number) + (r.length - 4) / 2 === s.seq) {
    r.push(port, msg);
    sc.grew();
  } else sc.send(['R', node, s.sid, s.seq, port, msg]);
  s.seq++;
}

/**
 * A run over maxMessageSize or maxBatchElements leaves as two runs, the
 * second numbered on from the first (the encoder halves them again while
 * they are over); a single message over a limit is refused as before.
 */
export function splitRun(p: Packet): Packet[] | undefined {
  if (p[0] !== 'R' || p.length < 8) return undefined;
  const k = ((p.length - 4) >> 2) << 1;
  return [p.slice(0, 4 + k), ['R', p[1], p[2], (p[3] as number) + k / 2, ...p.slice(4 + k)]];
}

// No packet reader: a node that is no seed decodes what it gets in full.
export const RELAY_RUNS: RelayRuns = { send, codec: { expand: RELAY_CODEC.expand, split: splitRun } };
