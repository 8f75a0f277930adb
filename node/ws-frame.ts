/**
 * One WebSocket data frame (RFC 6455 §5.2) in one buffer, header and
 * payload together.
 *
 * Why: `ws` sends a frame as two buffers (its header, then the caller's
 * bytes) through a cork, two writes and an uncork, which Node turns into a
 * `writev` with its bookkeeping (a write request, an array of chunks, the
 * stream's buffered-request list). A seed's idle cost is one small frame per
 * node and heartbeat period, and a group change is one small frame per
 * watcher: there one buffer and one plain write is cheaper, and the copy a
 * server socket makes anyway (so a caller reusing its buffer cannot change
 * what is sent) is the same copy.
 *
 * Client frames are masked with a zero key (node/ws.ts dials with one: the
 * peer is never a proxy cache, and masking the bytes costs a pass over them).
 */

const FIN = 0x80;
export const OPCODE_TEXT = 0x1;
export const OPCODE_BINARY = 0x2;
export const OPCODE_PING = 0x9;
export const OPCODE_PONG = 0xa;
const MASK = 0x80;

/** Header size for a payload of `n` bytes. */
function headerSize(n: number, masked: boolean): number {
  return (n < 126 ? 2 : n < 65536 ? 4 : 10) + (masked ? 4 : 0);
}

/** A final, unfragmented frame carrying `payload`; `masked` for a client's frame (zero masking key). */
export function wsFrame(payload: Uint8Array, opcode: number, masked: boolean): Buffer {
  const n = payload.byteLength;
  const h = headerSize(n, masked);
  // allocUnsafe: every byte is written below (the zero mask explicitly).
  const out = Buffer.allocUnsafe(h + n);
  out[0] = FIN | opcode;
  const m = masked ? MASK : 0;
  if (n < 126) out[1] = m | n;
  else if (n < 65536) {
    out[1] = m | 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = m | 127;
    // 64-bit length; frames here are far below 2^53 (maxFrameSize).
    out.writeUInt32BE(Math.floor(n / 0x1_0000_0000), 2);
    out.writeUInt32BE(n >>> 0, 6);
  }
  if (masked) out.writeUInt32BE(0, h - 4);
  out.set(payload, h);
  return out;
}

/**
 * A ping with no payload, as a server and as a client (zero mask) sends it:
 * one shared buffer for every link (a socket only reads what it writes).
 */
export const PING = wsFrame(new Uint8Array(0), OPCODE_PING, false);
export const MASKED_PING = wsFrame(new Uint8Array(0), OPCODE_PING, true);
