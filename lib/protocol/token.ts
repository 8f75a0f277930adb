/**
 * Browser tokens. A browser cannot keep the mesh's shared secret, so it
 * presents a token signed with it: which node IDs it may use, until when,
 * and what it may do beyond a page's defaults (`caps`, lib/caps.ts).
 * Format: base64url(JSON {node, exp, caps?}) "." base64url(HMAC-SHA256). The MAC
 * covers the ASCII text "aemp-token1 " followed by the first part, so a token
 * MAC can never be mistaken for a handshake MAC (which starts "aemp1 ").
 */
import { isCap, parseCaps, type Cap } from '../caps.ts';
import { BadArgumentError } from '../errors.ts';
import { TokenError } from './errors.ts';
import { fromBase64Url, fromUtf8, toBase64Url, utf8 } from './bytes.ts';
import { hmacKey, MAX_TOKEN_LENGTH } from './hmac-key.ts';

export { hmacKey, MAX_TOKEN_LENGTH } from './hmac-key.ts';

const MAC_PREFIX = 'aemp-token1 ';
const PATTERN_RE = /^[A-Za-z0-9_\-.:/*]{1,256}$/;

/** What a valid token says. */
export interface TokenPayload {
  node: string;
  exp: number;
  /** Capabilities granted beyond a page's defaults (unknown names in a token are ignored). */
  caps: Cap[];
}

/** Sign a token allowing node IDs matching `node` (a '*' glob) until nowMs + ttlSec, granting `caps` (lib/caps.ts). */
export async function createToken(
  subtle: SubtleCrypto,
  secret: string,
  o: { node: string; ttlSec: number; nowMs: number; caps?: string[] },
): Promise<string> {
  if (typeof o.node !== 'string' || !PATTERN_RE.test(o.node)) {
    throw new BadArgumentError(`bad node pattern ${JSON.stringify(o.node)}: [A-Za-z0-9_-.:/*], 1..256 characters`);
  }
  if (!(o.ttlSec > 0) || !Number.isFinite(o.ttlSec)) throw new BadArgumentError(`ttlSec must be > 0, got ${o.ttlSec}`);
  if (!Number.isFinite(o.nowMs)) throw new BadArgumentError(`nowMs must be a finite number, got ${o.nowMs}`);
  const caps = o.caps === undefined ? [] : parseCaps(o.caps);
  const key = await hmacKey(subtle, secret);
  const exp = Math.floor(o.nowMs / 1000 + o.ttlSec);
  // No caps: the same token as before caps existed.
  const body = toBase64Url(utf8(JSON.stringify(caps.length ? { node: o.node, exp, caps } : { node: o.node, exp })));
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
): Promise<TokenPayload> {
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
  const p = payload as { node?: unknown; exp?: unknown; caps?: unknown } | null;
  if (typeof p !== 'object' || p === null || typeof p.node !== 'string' || !PATTERN_RE.test(p.node)) {
    throw new TokenError('malformed', 'payload lacks a valid "node" pattern');
  }
  if (typeof p.exp !== 'number' || !Number.isFinite(p.exp)) throw new TokenError('malformed', 'payload lacks a numeric "exp"');
  if (p.caps !== undefined && (!Array.isArray(p.caps) || p.caps.length > 64 || !p.caps.every((c) => typeof c === 'string'))) {
    throw new TokenError('malformed', '"caps" is not a short list of strings');
  }
  if (nowMs >= p.exp * 1000) {
    throw new TokenError('expired', `expired at ${new Date(p.exp * 1000).toISOString()}`);
  }
  if (!tokenMatches(p.node, nodeId)) {
    throw new TokenError('node_mismatch', `node id ${JSON.stringify(nodeId)} does not match pattern ${JSON.stringify(p.node)}`);
  }
  // A capability this version does not know grants nothing here.
  const caps = ((p.caps ?? []) as string[]).filter(isCap);
  return { node: p.node, exp: p.exp, caps: [...new Set(caps)] };
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
