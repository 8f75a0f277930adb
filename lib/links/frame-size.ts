/**
 * Frame sizes. A link's `maxFrameSize` counts bytes on the wire: a binary
 * frame's length, a text frame's UTF-8 length (what WebSocket and SCTP
 * limit). Computing UTF-8 lengths costs a loop, so it runs only for strings
 * long enough to be in doubt.
 */
import { AempError } from '../errors.ts';
import type { Frame } from '../link.ts';

/** UTF-8 byte length of a string (lone surrogates count as U+FFFD, 3 bytes). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** True if the frame is at most `max` bytes on the wire. */
export function frameFits(f: Frame, max: number): boolean {
  if (typeof f !== 'string') return f.byteLength <= max;
  if (f.length > max) return false;
  if (f.length * 3 <= max) return true;
  return utf8Length(f) <= max;
}

/** Cheap size for buffer accounting: bytes for binary, UTF-16 units for text. */
export function approxSize(f: Frame): number {
  return typeof f === 'string' ? f.length : f.byteLength;
}

/** Throws AEMP_ERR_FRAME_TOO_LARGE: a caller sent more than the link carries in one piece. */
export function checkFrameSize(f: Frame, max: number, kind: string): void {
  if (frameFits(f, max)) return;
  const size = typeof f === 'string' ? utf8Length(f) : f.byteLength;
  throw new AempError('AEMP_ERR_FRAME_TOO_LARGE', `${kind} link: frame of ${size} bytes exceeds maxFrameSize ${max}`);
}

/** The longest prefix of `s` that is at most `maxBytes` in UTF-8, never splitting a character. */
export function truncateUtf8(s: string, maxBytes: number): string {
  if (s.length * 3 <= maxBytes || utf8Length(s) <= maxBytes) return s;
  let n = 0;
  let i = 0;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    const pair = c >= 0xd800 && c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
    const len = c < 0x80 ? 1 : c < 0x800 ? 2 : pair ? 4 : 3;
    if (n + len > maxBytes) break;
    n += len;
    i += pair ? 2 : 1;
  }
  return s.slice(0, i);
}

/** A plain Uint8Array view of the same bytes (Buffer and friends are subclasses; tests and codecs compare prototypes). */
export function plainBytes(b: Uint8Array): Uint8Array {
  return b.constructor === Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
