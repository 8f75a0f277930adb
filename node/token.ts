/** createToken for a Node backend: signs browser tokens with the mesh secret (as `aemp token` does). */
import type { Cap } from '../lib/caps.ts';
import { createToken as signToken } from '../lib/protocol/token.ts';

export interface TokenOptions {
  /** Node IDs the token allows: a pattern where `*` matches any run of characters, e.g. "web/*" or one exact ID. */
  node: string;
  /** Lifetime in seconds. */
  ttlSec: number;
  /** Issue time, ms since the epoch. Default Date.now(). */
  nowMs?: number;
  /** What the page may do beyond a page's defaults: 'kil', 'spawn', 'trace', 'sndon' (docs/security.md). Default none. */
  caps?: readonly Cap[];
}

/** A token a browser passes as configure({ token }), signed with the mesh's shared secret. */
export function createToken(secret: string, o: TokenOptions): Promise<string> {
  return signToken(globalThis.crypto.subtle, secret, { node: o.node, ttlSec: o.ttlSec, nowMs: o.nowMs ?? Date.now(), ...(o.caps ? { caps: [...o.caps] } : {}) });
}
