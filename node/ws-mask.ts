/**
 * Unmasking a client's WebSocket frame (RFC 6455 §5.3): its payload XORed
 * with a 4-byte key, in place.
 *
 * Browsers mask every frame with a random key, so a seed unmasks all that
 * its pages send; Node nodes mask with zeros (node/ws.ts), which is nothing
 * to undo. Like `ws`, this uses the optional `bufferutil` package when it is
 * installed (and `WS_NO_BUFFER_UTIL` is not set): ~0.05 ns per byte, against
 * ~0.3 for the word-at-a-time loop below and ~2 for a loop over bytes.
 */
import { createRequire } from 'node:module';

type NativeUnmask = (buffer: Buffer, mask: Buffer) => void;

const native: NativeUnmask | undefined = (() => {
  if (process.env.WS_NO_BUFFER_UTIL) return undefined;
  try {
    return (createRequire(import.meta.url)('bufferutil') as { unmask: NativeUnmask }).unmask;
  } catch {
    return undefined; // not installed: an optional peer dependency
  }
})();

/** Below this many bytes a plain loop is as fast as anything that needs a call or a view. */
const SMALL = 64;

/** The key as one 32-bit word in memory order, whatever the platform's byte order. */
const keyBytes = new Uint8Array(4);
const keyWord = new Int32Array(keyBytes.buffer);

/** XOR `b` with the key at key[k..k+4], in place. */
export function unmask(b: Buffer, key: Buffer, k: number): void {
  if ((key[k]! | key[k + 1]! | key[k + 2]! | key[k + 3]!) === 0) return;
  if (native !== undefined && b.length >= SMALL) native(b, key.subarray(k, k + 4));
  else unmaskJs(b, key, k);
}

/** The same without `bufferutil`: bytes up to a 4-byte boundary, then 32-bit words, then the tail. */
export function unmaskJs(b: Buffer, key: Buffer, k: number): void {
  const n = b.length;
  let i = 0;
  if (n >= SMALL) {
    const at = b.byteOffset;
    for (; ((at + i) & 3) !== 0; i++) b[i] ^= key[k + (i & 3)]!;
    for (let j = 0; j < 4; j++) keyBytes[j] = key[k + ((i + j) & 3)]!;
    const m = keyWord[0]!;
    const words = (n - i) >> 2;
    const w = new Int32Array(b.buffer, at + i, words);
    for (let j = 0; j < words; j++) w[j] ^= m;
    i += words * 4;
  }
  for (; i < n; i++) b[i] ^= key[k + (i & 3)]!;
}
