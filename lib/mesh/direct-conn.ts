/**
 * A Conn over a direct link (WebRTC in direct.ts, WebSocket in
 * direct-ws.ts): the same limits and monitor as a seed link, no seed.
 */
import type { Framing } from '../protocol/codec.ts';
import type { NodeId } from '../ids.ts';
import type { Link } from '../link.ts';
import { Conn, type ConnOptions } from './conn.ts';
import type { DirectWsHost } from './hosts.ts';
import type { PeerKind } from './peer-kind.ts';

/** What differs between direct links: the link, who is at its other end, and where its packets go. */
export type DirectConnOptions = { link: Link; framing: Framing; peer: NodeId; kind: PeerKind; outbound: boolean } & Pick<
  ConnOptions,
  'onPacket' | 'onClose' | 'attach' | 'peerHearsPings'
>;

export function directConn(m: Pick<DirectWsHost, 'batchLimits' | 'clock' | 'o'>, d: DirectConnOptions): Conn {
  const o = m.o;
  return new Conn({
    ...d,
    peerIsSeed: false,
    clock: m.clock,
    monitorTimeoutMs: o.monitorTimeoutMs,
    maxBufferedBytes: o.maxBufferedBytes,
    maxQueuedPackets: o.maxQueuedPackets,
    maxMessageSize: o.maxMessageSize,
    limits: m.batchLimits,
  });
}
