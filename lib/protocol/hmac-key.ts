/**
 * What the handshake (handshake.ts) and tokens (token.ts) share: the mesh
 * secret as an HMAC key, and how long a token may be. Apart from token.ts
 * because the handshake loads that only to verify a token, which a page
 * never does (it dials seeds, and seeds present no tokens).
 */
import { BadArgumentError } from '../errors.ts';
import { utf8 } from './bytes.ts';

/** Longest token accepted; a real one is ~150 characters. */
export const MAX_TOKEN_LENGTH = 4096;

/** Import `secret` (UTF-8) as an HMAC-SHA256 key. */
export async function hmacKey(subtle: SubtleCrypto, secret: string): Promise<CryptoKey> {
  if (typeof secret !== 'string' || secret === '') throw new BadArgumentError('secret must be a non-empty string');
  return subtle.importKey('raw', utf8(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
}
