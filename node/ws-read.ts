/**
 * A link's frames read straight off its TCP (or TLS) socket.
 *
 * Why: a node watching a group gets one small frame per change, and a page
 * audience is thousands of such nodes; a seed reads a pong from each of
 * its links every heartbeat, and every frame its pages relay. `ws` hands
 * each chunk the socket reads to its Receiver, a Writable stream (a write
 * request, its buffered-chunk list, two 'message' events) before the frame
 * reaches the link: about a third of what a watcher spends on a change
 * beside the kernel's read. Here the chunk is cut into frames where it
 * lies, and each is handed to the link at once.
 *
 * Only frames as RFC 6455 has the peer send them go this way: final binary
 * and text frames (the handshake's), pings and pongs, masked when the peer
 * is a client (a dialler: browsers mask with random keys, Node nodes with
 * zeros) and unmasked when it is a server. Anything else — a close or
 * fragmented frame, a frame masked when it must not be or the other way
 * round, an oversized one, text that is not UTF-8, reserved bits, a frame
 * after the link stopped being open — and everything after it in the
 * stream goes back to `ws`'s own listener for good, which then handles it
 * (close handshake, errors, limits) exactly as if it had had the socket
 * from the start: it never saw any of the bytes read here, and gets the
 * stream from the first byte this reader did not consume, unchanged (a
 * frame is unmasked only once it is taken).
 *
 * A frame split across reads waits here (its chunks kept, joined once the
 * whole frame is in, or every 1,024 chunks); what waits is bounded by the
 * link's maxFrameSize and a header.
 */
import { isUtf8 } from 'node:buffer';
import type { Duplex } from 'node:stream';
import { OPCODE_BINARY, OPCODE_PING, OPCODE_PONG, OPCODE_TEXT } from './ws-frame.ts';
import { unmask } from './ws-mask.ts';

/** Where a frame read here goes (node/ws.ts's WsLink). */
export interface FrameSink {
  /** Still open: a frame after this turned false goes to ws (its close handshake and checks). */
  readonly isOpen: boolean;
  onBinary(data: Buffer): void;
  /** A text frame (valid UTF-8: ws closes the link on one that is not). */
  onText(text: string): void;
  /** A ping: answered by the sink (ws's autoPong is off on its links). */
  onPing(data: Buffer): void;
  /** A pong: a sign of life. */
  alive(): void;
}

/** The first byte's top half of a final frame with no extension bits. */
const FIN_NO_RSV = 0x80;
/** The longest control-frame payload (RFC 6455 §5.5). */
const MAX_CONTROL = 125;
/**
 * Chunks a waiting frame may be in before they are joined: a peer trickling
 * a frame a byte per segment costs a Buffer per read, so without a bound
 * the chunks' own overhead would be many times the frame's bytes.
 */
const MAX_WAITING_CHUNKS = 1024;

type DataListener = (this: Duplex, chunk: Buffer) => void;

/**
 * Take over reading `socket` from `ws` (its 'data' listener, socketOnData),
 * for a WebSocket that has not read any frame yet (just open, or just
 * accepted). `masked`: the peer is a client, whose frames must be masked
 * (we are the server); otherwise they must not be. Returns false, changing
 * nothing, if the socket is not as ws 8 leaves it (one 'data' listener, ws's).
 */
export function readFramesFast(socket: Duplex, maxPayload: number, sink: FrameSink, masked = false): boolean {
  const listeners = socket.listeners('data');
  if (listeners.length !== 1 || (listeners[0] as { name?: string }).name !== 'socketOnData') return false;
  new FastReader(socket, listeners[0] as DataListener, maxPayload, sink, masked ? MASK_BIT : 0);
  return true;
}

/** The mask bit of a frame's second byte. */
const MASK_BIT = 0x80;

/** Where a socket keeps its reader, for the one 'data' listener all sockets share (a seed holds thousands). */
const kReader = Symbol('aemp.wsReader');
type ReadSocket = Duplex & { [kReader]: FastReader };

function onData(this: ReadSocket, chunk: Buffer): void {
  this[kReader].read(chunk);
}

class FastReader {
  /** Chunks of a frame not whole yet (made when one first waits), and their total length. */
  private waiting: Buffer[] | undefined = undefined;
  private waitingBytes = 0;
  /** Bytes needed before the first waiting frame can be read (or its header cut short). */
  private need = 0;

  constructor(
    private readonly socket: Duplex,
    private readonly wsOnData: DataListener,
    private readonly max: number,
    private readonly sink: FrameSink,
    /** MASK_BIT if every frame must have it, 0 if none may. */
    private readonly maskBit: number,
  ) {
    socket.off('data', wsOnData);
    (socket as ReadSocket)[kReader] = this;
    socket.on('data', onData);
  }

  read(chunk: Buffer): void {
    let buf = chunk;
    const waiting = this.waiting;
    if (waiting !== undefined) {
      waiting.push(chunk);
      this.waitingBytes += chunk.length;
      if (this.waitingBytes < this.need) {
        if (waiting.length >= MAX_WAITING_CHUNKS) this.waiting = [Buffer.concat(waiting, this.waitingBytes)];
        return;
      }
      buf = Buffer.concat(waiting, this.waitingBytes);
      this.waiting = undefined;
      this.waitingBytes = 0;
    }
    const n = buf.length;
    let at = 0;
    while (at < n) {
      const left = n - at;
      if (left < 2) return this.wait(buf, at, 2);
      const b0 = buf[at]!;
      const b1 = buf[at + 1]!;
      const op = b0 & 0x0f;
      if ((b0 & 0xf0) !== FIN_NO_RSV || (b1 & MASK_BIT) !== this.maskBit || (op !== OPCODE_BINARY && op !== OPCODE_TEXT && op !== OPCODE_PING && op !== OPCODE_PONG) || !this.sink.isOpen)
        return this.handOver(buf, at);
      let len = b1 & 0x7f;
      let h = 2;
      if (len === 126) {
        if (left < 4) return this.wait(buf, at, 4);
        len = buf.readUInt16BE(at + 2);
        h = 4;
      } else if (len === 127) {
        if (left < 10) return this.wait(buf, at, 10);
        // Above 2^32 is above any maxPayload here: ws refuses it.
        if (buf.readUInt32BE(at + 2) !== 0) return this.handOver(buf, at);
        len = buf.readUInt32BE(at + 6);
        h = 10;
      }
      if (len > this.max || (op >= OPCODE_PING && len > MAX_CONTROL)) return this.handOver(buf, at);
      const key = at + h; // the mask key, if any
      if (this.maskBit !== 0) h += 4;
      if (left < h + len) return this.wait(buf, at, h + len);
      let data = buf.subarray(at + h, at + h + len);
      if (op === OPCODE_TEXT) {
        // Checked before the frame is taken, so ws gets a text it refuses as it came: unmasked in a copy.
        if (this.maskBit !== 0) unmask((data = Buffer.from(data)), buf, key);
        if (!isUtf8(data)) return this.handOver(buf, at);
      } else if (this.maskBit !== 0) unmask(data, buf, key);
      at += h + len;
      if (op === OPCODE_BINARY) this.sink.onBinary(data);
      else if (op === OPCODE_TEXT) this.sink.onText(data.toString('utf8'));
      else if (op === OPCODE_PING) this.sink.onPing(data);
      else this.sink.alive();
    }
  }

  /** Keep buf[at..] until `need` bytes of it are in (its chunks joined once, not per read). */
  private wait(buf: Buffer, at: number, need: number): void {
    const rest = at === 0 ? buf : buf.subarray(at);
    this.waiting = [rest];
    this.waitingBytes = rest.length;
    this.need = need;
  }

  /** ws reads the socket from buf[at] on. */
  private handOver(buf: Buffer, at: number): void {
    this.socket.off('data', onData);
    this.socket.on('data', this.wsOnData);
    this.wsOnData.call(this.socket, at === 0 ? buf : buf.subarray(at));
  }
}
