/**
 * Byte helpers for the protocol layer: UTF-8, hex, base64 (standard and
 * url-safe), concatenation. Isomorphic: only TextEncoder/TextDecoder, which
 * Node and browsers both have, created on first use (never at import time).
 */

let te: TextEncoder | undefined;
let td: TextDecoder | undefined;

/** UTF-8 bytes of a string. */
export function utf8(s: string): Uint8Array<ArrayBuffer> {
  return (te ??= new TextEncoder()).encode(s);
}

/** String from UTF-8 bytes; `fatal` makes invalid UTF-8 throw (TypeError) instead of becoming U+FFFD. */
export function fromUtf8(b: Uint8Array, fatal = false): string {
  if (fatal) return new TextDecoder('utf-8', { fatal: true }).decode(b);
  return (td ??= new TextDecoder()).decode(b);
}

/** Byte length of `s` as UTF-8 (lone surrogates count as U+FFFD, 3 bytes, as a WebSocket would send them). */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 2; // 2 code units, 4 bytes
        i++;
      } else n += 2;
    } else n += 2;
  }
  return n;
}

/** A plain Uint8Array view of any byte view (a Node Buffer stays the same memory, loses its subclass). */
export function plainBytes(v: ArrayBufferView): Uint8Array {
  if (v.constructor === Uint8Array) return v as Uint8Array;
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** One Uint8Array holding all parts in order. */
export function concat(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const HEX = '0123456789abcdef';

/** Lower-case hex of bytes. */
export function toHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX[b[i] >> 4] + HEX[b[i] & 15];
  return s;
}

/** Bytes from hex (either case); undefined if `s` is not hex of even length. */
export function fromHex(s: string): Uint8Array<ArrayBuffer> | undefined {
  if (s.length % 2 !== 0) return undefined;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = hexVal(s.charCodeAt(2 * i));
    const lo = hexVal(s.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) return undefined;
    out[i] = (hi << 4) | lo;
  }
  return out;
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

const STD = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function encTable(alpha: string): Uint8Array {
  const t = new Uint8Array(64);
  for (let i = 0; i < 64; i++) t[i] = alpha.charCodeAt(i);
  return t;
}
function decTable(alpha: string): Int16Array {
  const t = new Int16Array(128).fill(-1);
  for (let i = 0; i < 64; i++) t[alpha.charCodeAt(i)] = i;
  return t;
}
const ENC_STD = encTable(STD);
const ENC_URL = encTable(URL);
const DEC_STD = decTable(STD);
const DEC_URL = decTable(URL);

function encode64(b: Uint8Array, t: Uint8Array, pad: boolean): string {
  const full = b.length - (b.length % 3);
  const rest = b.length - full;
  const outLen = (full / 3) * 4 + (rest === 0 ? 0 : pad ? 4 : rest + 1);
  const out = new Uint8Array(outLen);
  let o = 0;
  for (let i = 0; i < full; i += 3) {
    const v = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
    out[o++] = t[v >> 18];
    out[o++] = t[(v >> 12) & 63];
    out[o++] = t[(v >> 6) & 63];
    out[o++] = t[v & 63];
  }
  if (rest === 1) {
    const v = b[full] << 16;
    out[o++] = t[v >> 18];
    out[o++] = t[(v >> 12) & 63];
    if (pad) {
      out[o++] = 61;
      out[o++] = 61;
    }
  } else if (rest === 2) {
    const v = (b[full] << 16) | (b[full + 1] << 8);
    out[o++] = t[v >> 18];
    out[o++] = t[(v >> 12) & 63];
    out[o++] = t[(v >> 6) & 63];
    if (pad) out[o++] = 61;
  }
  return fromUtf8(out);
}

/**
 * Strict decoder: only the alphabet, padding exactly as `pad` says, and zero
 * unused bits (so every byte string has exactly one accepted spelling).
 */
function decode64(s: string, t: Int16Array, pad: boolean): Uint8Array<ArrayBuffer> | undefined {
  let len = s.length;
  if (pad) {
    if (len % 4 !== 0) return undefined;
    if (len > 0 && s.charCodeAt(len - 1) === 61) len--;
    if (len > 0 && s.charCodeAt(len - 1) === 61) len--;
  } else if (len % 4 === 1) return undefined;
  const rest = len % 4;
  const full = len - rest;
  const out = new Uint8Array((full / 4) * 3 + (rest === 0 ? 0 : rest - 1));
  let o = 0;
  let bad = 0;
  const at = (i: number): number => {
    const c = s.charCodeAt(i);
    const v = c < 128 ? t[c] : -1;
    bad |= v; // any -1 sets the sign bit
    return v;
  };
  for (let i = 0; i < full; i += 4) {
    const v = (at(i) << 18) | (at(i + 1) << 12) | (at(i + 2) << 6) | at(i + 3);
    out[o++] = v >> 16;
    out[o++] = (v >> 8) & 255;
    out[o++] = v & 255;
  }
  if (rest === 2) {
    const a = at(full);
    const b = at(full + 1);
    if ((b & 15) !== 0) return undefined;
    out[o++] = (a << 2) | (b >> 4);
  } else if (rest === 3) {
    const a = at(full);
    const b = at(full + 1);
    const c = at(full + 2);
    if ((c & 3) !== 0) return undefined;
    out[o++] = (a << 2) | (b >> 4);
    out[o++] = ((b & 15) << 4) | (c >> 2);
  }
  return bad < 0 ? undefined : out;
}

/** Standard base64 with padding. */
export function toBase64(b: Uint8Array): string {
  return encode64(b, ENC_STD, true);
}
/** Bytes from standard padded base64; undefined if malformed. */
export function fromBase64(s: string): Uint8Array<ArrayBuffer> | undefined {
  return decode64(s, DEC_STD, true);
}
/** base64url without padding (RFC 4648 §5). */
export function toBase64Url(b: Uint8Array): string {
  return encode64(b, ENC_URL, false);
}
/** Bytes from unpadded base64url; undefined if malformed. */
export function fromBase64Url(s: string): Uint8Array<ArrayBuffer> | undefined {
  return decode64(s, DEC_URL, false);
}
