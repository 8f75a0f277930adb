/**
 * Who a peer is, as far as what it may do goes: a holder of the mesh secret,
 * a node that joined with a token, or an anonymous node. It comes from the
 * authenticated handshake (or, for a peer reached through a seed, from the
 * seed's word), never from the peer's own claim.
 */
import type { AuthMethod } from '../protocol/handshake.ts';

export type PeerKind = 'secret' | 'token' | 'anon';

/**
 * The kind a handshake's auth method gives. 'hmac_sha256' unverified happens
 * only on a node without the secret (a browser), whose peer is its seed: it
 * trusts the seed as a secret holder, relying on wss for its authenticity.
 */
export function peerKindOf(auth: AuthMethod): PeerKind {
  return auth === 'token' ? 'token' : auth === 'none' ? 'anon' : 'secret';
}
