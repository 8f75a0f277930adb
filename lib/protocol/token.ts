/**
 * Browser tokens. A browser cannot keep the mesh's shared secret, so it
 * presents a token signed with it: which node IDs it may use and until when.
 * Format: base64url(JSON {node, exp}) "." base64url(HMAC-SHA256). The MAC
 * covers the ASCII text "aemp-token1 " followed by the first part, so a token
 * MAC can never be mistaken for a handshake MAC (which starts "aemp1 ").
 */
import { BadArgumentError } from '../errors.ts';
import { TokenError } from './errors.ts';
import { fromBase64Url, fromUtf8, toBase64Url, utf8 } from './bytes.ts';

const MAC_PREFIX = 'aemp-token1 ';
/** Longest token accepted; a real one is ~150 characters. */
export const MAX_TOKEN_LENGTH = 4096;
const PATTERN_RE = /^[A-Za-z0-9_\-.:/*]{1,256}$/;

/** Import `secret` (UTF-8) as an HMAC-SHA256 key. */
export async function hmacKey(subtle: SubtleCrypto, secret: string): Promise<CryptoKey> {
  if (typeof secret !== 'string' || secret === '') throw new BadArgumentError('secret must be a non-empty string');
  return subtle.importKey('raw', utf8(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
}

/** Sign a token allowing node IDs matching `node` (a '*' glob) until nowMs + ttlSec. */
export async function createToken(
  subtle: SubtleCrypto,
  secret: string,
  o: { node: string; ttlSec: number; nowMs: number },
): Promise<string> {
  if (typeof o.node !== 'string' || !PATTERN_RE.test(o.node)) {
    throw new BadArgumentError(`bad node pattern ${JSON.stringify(o.node)}: [A-Za-z0-9_-.:/*], 1..256 characters`);
  }
  if (!(o.ttlSec > 0) || !Number.isFinite(o.ttlSec)) throw new BadArgumentError(`ttlSec must be > 0, got ${o.ttlSec}`);
  if (!Number.isFinite(o.nowMs)) throw new BadArgumentError(`nowMs must be a finite number, got ${o.nowMs}`);
  const key = await hmacKey(subtle, secret);
  const exp = Math.floor(o.nowMs / 1000 + o.ttlSec);
  const body = toBase64Url(utf8(JSON.stringify({ node: o.node, exp })));
  const mac = new Uint8Array(await subtle.sign('HMAC', key, utf8(MAC_PREFIX + body)));
  return `${body}.${toBase64Url(mac)}`;
}

/** Check a token's signature, expiry and node pattern against `nodeId`; throws TokenError (AEMP_ERR_TOKEN). */
export async function verifyToken(
  subtle: SubtleCrypto,
  secret: string,
  token: string,
  nodeId: string,
  nowMs: number,
): Promise<void> {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) {
    throw new TokenError('malformed', `not a string of at most ${MAX_TOKEN_LENGTH} characters`);
  }
  const dot = token.indexOf('.');
  if (dot < 0 || token.indexOf('.', dot + 1) >= 0) throw new TokenError('malformed', 'expected two parts separated by "."');
  const body = token.slice(0, dot);
  const json = fromBase64Url(body);
  const mac = fromBase64Url(token.slice(dot + 1));
  if (!json || !mac) throw new TokenError('malformed', 'parts are not base64url');
  if (mac.length !== 32) throw new TokenError('malformed', `signature is ${mac.length} bytes, expected 32`);
  const key = await hmacKey(subtle, secret);
  // subtle.verify compares in constant time.
  if (!(await subtle.verify('HMAC', key, mac, utf8(MAC_PREFIX + body)))) {
    throw new TokenError('bad_signature', 'not signed with this mesh secret');
  }
  let payload: unknown;
  try {
    payload = JSON.parse(fromUtf8(json, true));
  } catch {
    throw new TokenError('malformed', 'payload is not UTF-8 JSON');
  }
  const p = payload as { node?: unknown; exp?: unknown } | null;
  if (typeof p !== 'object' || p === null || typeof p.node !== 'string' || !PATTERN_RE.test(p.node)) {
    throw new TokenError('malformed', 'payload lacks a valid "node" pattern');
  }
  if (typeof p.exp !== 'number' || !Number.isFinite(p.exp)) throw new TokenError('malformed', 'payload lacks a numeric "exp"');
  if (nowMs >= p.exp * 1000) {
    throw new TokenError('expired', `expired at ${new Date(p.exp * 1000).toISOString()}`);
  }
  if (!tokenMatches(p.node, nodeId)) {
    throw new TokenError('node_mismatch', `node id ${JSON.stringify(nodeId)} does not match pattern ${JSON.stringify(p.node)}`);
  }
}

/** Does the glob `pattern` ('*' = any run of characters, possibly empty) match the whole `nodeId`? */
export function tokenMatches(pattern: string, nodeId: string): boolean {
  // Greedy match with backtracking to the last '*': O(len²) worst case, no regex (no ReDoS).
  let p = 0;
  let n = 0;
  let starP = -1;
  let starN = 0;
  while (n < nodeId.length) {
    if (p < pattern.length && pattern[p] === '*') {
      starP = p++;
      starN = n;
    } else if (p < pattern.length && pattern[p] === nodeId[n]) {
      p++;
      n++;
    } else if (starP >= 0) {
      p = starP + 1;
      n = ++starN;
    } else return false;
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}
