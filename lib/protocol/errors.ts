/**
 * Errors of the wire protocol layer. Every error a peer's bytes can cause is
 * a ProtocolError with a stable `code`, so the mesh can close the link with a
 * logged reason (and, during the handshake, tell the peer why) without ever
 * matching message text.
 */
import { AempError } from '../errors.ts';

/** Frame codec codes (FrameDecoder / FrameEncoder). */
export const FRAME_CODES = {
  TRUNCATED: 'AEMP_ERR_FRAME_TRUNCATED',
  GARBAGE: 'AEMP_ERR_FRAME_GARBAGE',
  TOO_LARGE: 'AEMP_ERR_FRAME_TOO_LARGE',
  UNKNOWN: 'AEMP_ERR_FRAME_UNKNOWN',
  BAD_PACKET: 'AEMP_ERR_FRAME_BAD_PACKET',
  FRAGMENT_ORDER: 'AEMP_ERR_FRAGMENT_ORDER',
  /** A batch holds more packets than maxBatchPackets. */
  BATCH_PACKETS: 'AEMP_ERR_BATCH_PACKETS',
  /** A batch decodes to more values than maxBatchElements. */
  BATCH_ELEMENTS: 'AEMP_ERR_BATCH_ELEMENTS',
  /** A fragmented batch was not complete fragmentTimeoutMs after its first fragment. */
  FRAGMENT_TIMEOUT: 'AEMP_ERR_FRAGMENT_TIMEOUT',
  /** Local: a packet holds a value the framing cannot carry (function, symbol, bigint, cycle). */
  ENCODE: 'AEMP_ERR_ENCODE',
} as const;

/** Handshake codes; each may travel to the peer in a refusal frame. */
export const HANDSHAKE_CODES = {
  VERSION: 'AEMP_ERR_VERSION',
  REPLAY: 'AEMP_ERR_REPLAY',
  SELF_CONNECT: 'AEMP_ERR_SELF_CONNECT',
  BAD_GREETING: 'AEMP_ERR_BAD_GREETING',
  FRAMING: 'AEMP_ERR_FRAMING',
  AUTH: 'AEMP_ERR_AUTH',
  TOKEN: 'AEMP_ERR_TOKEN',
  HANDSHAKE: 'AEMP_ERR_HANDSHAKE',
  REFUSED_BY_PEER: 'AEMP_ERR_REFUSED_BY_PEER',
  /** Used by the mesh, not the handshake: the node ID is already connected. */
  DUPLICATE_NODE: 'AEMP_ERR_DUPLICATE_NODE',
} as const;

/** Bad bytes or a bad frame from a peer (or an unencodable local packet). */
export class ProtocolError extends AempError {}

/** The handshake refused the peer (or failed); `code` is one of HANDSHAKE_CODES. */
export class HandshakeError extends ProtocolError {}

/** The peer sent a refusal frame; its code and reason are kept as given. */
export class PeerRefusedError extends HandshakeError {
  readonly peerCode: string;
  readonly peerReason: string;
  constructor(peerCode: string, peerReason: string) {
    super(HANDSHAKE_CODES.REFUSED_BY_PEER, `refused by peer: ${peerCode} ${peerReason}`);
    this.peerCode = peerCode;
    this.peerReason = peerReason;
  }
}

export type TokenFailure = 'malformed' | 'bad_signature' | 'expired' | 'node_mismatch';

/** A browser token failed verification; `reason` says why (code AEMP_ERR_TOKEN). */
export class TokenError extends AempError {
  readonly reason: TokenFailure;
  constructor(reason: TokenFailure, message: string) {
    super(HANDSHAKE_CODES.TOKEN, `token ${reason.replace('_', ' ')}: ${message}`);
    this.reason = reason;
  }
}
