/**
 * The mesh's error codes, each a constant (docs/protocol.md, "Error codes",
 * lists every one a user can see), its error classes, and how a link
 * ended as a typed value (never recognised by matching its reason text).
 */
import { AempError } from '../errors.ts';

export const MESH_CODES = {
  /** A seed's handshake table is full (docs/security.md, admission). */
  BUSY: 'AEMP_ERR_BUSY',
  /** A request the sender's kind of node may not make. */
  DENIED: 'AEMP_ERR_DENIED',
  /** Refused: the node ID is connected already (the newer link loses). */
  DUPLICATE_NODE: 'AEMP_ERR_DUPLICATE_NODE',
  /** A per-node limit (remote monitors, pending calls, relay rate). */
  QUOTA: 'AEMP_ERR_QUOTA',
  /** Refused: a link to this very node. */
  SELF: 'AEMP_ERR_SELF',
  /** Refused: this node is shutting down. */
  SHUTDOWN: 'AEMP_ERR_SHUTDOWN',
  /** The handshake did not finish within handshakeTimeoutMs. */
  HANDSHAKE_TIMEOUT: 'AEMP_ERR_HANDSHAKE_TIMEOUT',
  /** The link closed during the handshake. */
  LINK_CLOSED: 'AEMP_ERR_LINK_CLOSED',
  /** The token function threw, timed out or returned no token. */
  TOKEN_SOURCE: 'AEMP_ERR_TOKEN_SOURCE',
} as const;

export type MeshCode = (typeof MESH_CODES)[keyof typeof MESH_CODES];

/**
 * How a link ended: 'goodbye' when either side said `bye` (the peer left on
 * purpose: its monitors fire with "shut down"), 'lost' otherwise.
 */
export type LinkEnd = 'goodbye' | 'lost';

/** A request the sender's kind of node may not make (capabilities, lib/caps.ts). */
export class DeniedError extends AempError {
  constructor(message: string) {
    super(MESH_CODES.DENIED, message);
  }
}

/** A per-node limit was reached (maxPendingCalls; remote monitors answer with a monitor reason instead). */
export class QuotaError extends AempError {
  constructor(message: string) {
    super(MESH_CODES.QUOTA, message);
  }
}

/** This node refused a freshly authenticated link (the peer got a refusal frame with the code). */
export class LinkRefusedError extends AempError {
  constructor(
    code: MeshCode,
    message: string,
    readonly peer: string,
  ) {
    super(code, message);
  }
}
