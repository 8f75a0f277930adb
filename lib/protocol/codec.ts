/**
 * The frame codec: a batch of packets ⇄ one or more link frames. Pure, no
 * I/O. Layouts (docs/protocol.md, "Frame codec"):
 *
 *   msgpack (binary frames): byte 0 = kind, then
 *     0x01 WHOLE   msgpack array of packets
 *     0x02 FIRST   u32 big-endian total length of the batch encoding, first chunk
 *     0x03 MIDDLE  next chunk
 *     0x04 LAST    final chunk (the chunks add up to exactly the total)
 *   json (text frames): char 0 = kind, then
 *     '['          the whole batch is the frame: a JSON array of packets
 *     'F'          decimal total length, ':', first chunk
 *     'M' / 'L'    next / final chunk
 *
 * JSON carries Uint8Array as {"$b": base64}; any other object whose only key
 * starts with '$' is escaped as {"$o": object}, so user data never turns
 * into bytes by accident.
 */
import { BadArgumentError } from '../errors.ts';
import type { Frame } from '../link.ts';
import { FRAME_CODES as C, PeerRefusedError, ProtocolError } from './errors.ts';
import { plainBytes, utf8Length } from './bytes.ts';
import { asciiOnly, endsEarly, fromJsonValue, toJsonValue } from './json.ts';
import { parseRefusal } from './handshake.ts';
import { MsgpackReader, MsgpackWriter } from './msgpack.ts';

export type Packet = unknown[];
export type Framing = 'msgpack' | 'json';
export const FRAMINGS: readonly Framing[] = ['msgpack', 'json'];

export interface CodecOptions {
  framing: Framing;
  /** Largest frame the link carries (bytes; for json, UTF-8 bytes). At least MIN_FRAME_SIZE. */
  maxFrameSize: number;
  /** Largest batch encoding the decoder reassembles and the encoder produces. Default 128 MiB. */
  maxMessageSize?: number;
  /** Deepest nesting the encoder accepts (the batch array is level 1). Default 100. */
  maxDepth?: number;
}

export const DEFAULT_MAX_MESSAGE_SIZE = 128 * 1024 * 1024;
export const DEFAULT_MAX_DEPTH = 100;
export const MIN_FRAME_SIZE = 64;
export const KIND = { WHOLE: 0x01, FIRST: 0x02, MIDDLE: 0x03, LAST: 0x04 } as const;

/** Reassembly buffers grow as chunks arrive, so a FIRST frame's claim alone allocates at most this. */
const INITIAL_REASSEMBLY_BYTES = 1024 * 1024;

function fail(code: string, message: string, cause?: unknown): never {
  throw new ProtocolError(code, message, cause === undefined ? undefined : { cause });
}

interface Limits {
  framing: Framing;
  maxFrameSize: number;
  maxMessageSize: number;
  maxDepth: number;
}

function limits(o: CodecOptions): Limits {
  if (o.framing !== 'msgpack' && o.framing !== 'json') throw new BadArgumentError(`unknown framing ${String(o.framing)}`);
  const maxMessageSize = o.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  const maxDepth = o.maxDepth ?? DEFAULT_MAX_DEPTH;
  if (!Number.isInteger(o.maxFrameSize) || o.maxFrameSize < MIN_FRAME_SIZE) {
    throw new BadArgumentError(`maxFrameSize must be an integer >= ${MIN_FRAME_SIZE}, got ${o.maxFrameSize}`);
  }
  if (!Number.isInteger(maxMessageSize) || maxMessageSize < 1 || maxMessageSize > 0xffffffff) {
    throw new BadArgumentError(`maxMessageSize must be an integer in 1..2^32-1, got ${maxMessageSize}`);
  }
  if (!Number.isInteger(maxDepth) || maxDepth < 2) throw new BadArgumentError(`maxDepth must be an integer >= 2`);
  return { framing: o.framing, maxFrameSize: o.maxFrameSize, maxMessageSize, maxDepth };
}

/** Turns batches of packets into link frames. One per link direction (it reuses a buffer). */
export class FrameEncoder {
  private readonly o: Limits;
  private readonly enc: MsgpackWriter | undefined;

  constructor(o: CodecOptions) {
    this.o = limits(o);
    if (this.o.framing === 'msgpack') this.enc = new MsgpackWriter(this.o.maxDepth);
  }

  /** Frames for one batch ([] for an empty batch); throws ProtocolError AEMP_ERR_ENCODE / AEMP_ERR_FRAME_TOO_LARGE. */
  encode(batch: Packet[]): Frame[] {
    if (batch.length === 0) return [];
    for (let i = 0; i < batch.length; i++) {
      if (!Array.isArray(batch[i])) fail(C.ENCODE, `packet ${i} is not an array`);
    }
    return this.enc ? this.encodeMsgpack(this.enc, batch) : this.encodeJson(batch);
  }

  private encodeMsgpack(enc: MsgpackWriter, batch: Packet[]): Frame[] {
    // Written behind one spare byte, so a whole frame is a single copy of the writer's buffer.
    const bytes = enc.write(batch, 1);
    const n = bytes.length - 1;
    try {
      if (n > this.o.maxMessageSize) this.tooLarge(n);
      if (n + 1 <= this.o.maxFrameSize) {
        const f = bytes.slice();
        f[0] = KIND.WHOLE;
        return [f];
      }
      return fragmentBytes(bytes.subarray(1), this.o.maxFrameSize);
    } finally {
      enc.release();
    }
  }

  private encodeJson(batch: Packet[]): Frame[] {
    let text: string;
    try {
      text = JSON.stringify(toJsonValue(batch, 1, this.o.maxDepth));
    } catch (e) {
      if (e instanceof ProtocolError) throw e;
      return fail(C.ENCODE, `cannot encode packet: ${(e as Error)?.message}`, e);
    }
    const max = this.o.maxFrameSize;
    // Fast path: at most 3 UTF-8 bytes per UTF-16 unit, so short texts fit without counting.
    if (text.length * 3 > max) {
      const bytes = utf8Length(text);
      // Fragments are cut by character and must be measured in bytes, so escape everything
      // non-ASCII first (only string contents can be): then characters = bytes and no cut
      // can fall inside a character or a surrogate pair.
      if (bytes > max) return this.fragmentText(bytes === text.length ? text : asciiOnly(text));
    }
    if (text.length > this.o.maxMessageSize) this.tooLarge(text.length);
    return [text];
  }

  private fragmentText(text: string): string[] {
    const max = this.o.maxFrameSize;
    if (text.length > this.o.maxMessageSize) this.tooLarge(text.length);
    const head = `F${text.length}:`;
    const frames = [head + text.slice(0, max - head.length)];
    for (let off = max - head.length; off < text.length; off += max - 1) {
      const end = Math.min(off + max - 1, text.length);
      frames.push((end === text.length ? 'L' : 'M') + text.slice(off, end));
    }
    return frames;
  }

  private tooLarge(n: number): never {
    return fail(C.TOO_LARGE, `batch of ${n} bytes exceeds maxMessageSize ${this.o.maxMessageSize}`);
  }
}

function fragmentBytes(bytes: Uint8Array, max: number): Uint8Array[] {
  const n = bytes.length;
  const first = new Uint8Array(max);
  first[0] = KIND.FIRST;
  new DataView(first.buffer).setUint32(1, n);
  first.set(bytes.subarray(0, max - 5), 5);
  const frames = [first];
  for (let off = max - 5; off < n; off += max - 1) {
    const end = Math.min(off + max - 1, n);
    const f = new Uint8Array(end - off + 1);
    f[0] = end === n ? KIND.LAST : KIND.MIDDLE;
    f.set(bytes.subarray(off, end), 1);
    frames.push(f);
  }
  return frames;
}

interface Reassembly<T> {
  total: number;
  got: number;
  parts: T;
}

/** Turns link frames back into batches. Stateful (fragments); one per link direction. */
export class FrameDecoder {
  private readonly o: Limits;
  private readonly dec: MsgpackReader | undefined;
  private bin: Reassembly<Uint8Array> | undefined;
  private text: Reassembly<string[]> | undefined;

  constructor(o: CodecOptions) {
    this.o = limits(o);
    if (this.o.framing === 'msgpack') this.dec = new MsgpackReader(this.o.maxDepth);
  }

  /**
   * The packets of a completed batch, or [] while a fragmented batch is
   * incomplete. Throws only ProtocolError; after one, any partial batch is
   * dropped (the link is expected to close).
   */
  decode(frame: Frame): Packet[] {
    try {
      return this.dec ? this.decodeMsgpack(this.dec, frame) : this.decodeJson(frame);
    } catch (e) {
      this.bin = undefined;
      this.text = undefined;
      if (e instanceof ProtocolError) throw e;
      // Not expected (the readers throw ProtocolErrors), but e.g. an allocation failure must not escape as such.
      return fail(C.GARBAGE, `undecodable batch: ${String((e as Error)?.message ?? e)}`, e);
    }
  }

  private decodeMsgpack(dec: MsgpackReader, frame: Frame): Packet[] {
    if (typeof frame === 'string') refusalOr(frame, C.UNKNOWN, 'text frame on a msgpack link');
    if (!(frame instanceof Uint8Array)) return fail(C.GARBAGE, 'frame is neither bytes nor text');
    const b = plainBytes(frame);
    const max = this.o.maxFrameSize;
    if (b.length > max) fail(C.TOO_LARGE, `frame of ${b.length} bytes exceeds maxFrameSize ${max}`);
    if (b.length === 0) fail(C.TRUNCATED, 'empty frame');
    const kind = b[0];
    if (kind === KIND.WHOLE) {
      if (this.bin) fail(C.FRAGMENT_ORDER, 'whole batch while a fragmented batch is open');
      if (b.length - 1 > this.o.maxMessageSize) fail(C.TOO_LARGE, `batch exceeds maxMessageSize ${this.o.maxMessageSize}`);
      return this.packets(dec.read(b.subarray(1)));
    }
    if (kind === KIND.FIRST) {
      if (this.bin) fail(C.FRAGMENT_ORDER, 'first fragment while another batch is open');
      if (b.length < 5) fail(C.TRUNCATED, 'first fragment shorter than its header');
      const total = new DataView(b.buffer, b.byteOffset, 5).getUint32(1);
      if (total > this.o.maxMessageSize) {
        fail(C.TOO_LARGE, `batch of ${total} bytes exceeds maxMessageSize ${this.o.maxMessageSize}`);
      }
      const chunk = b.subarray(5);
      if (chunk.length >= total) fail(C.FRAGMENT_ORDER, `first fragment holds ${chunk.length} of ${total} bytes`);
      const parts = new Uint8Array(Math.min(total, Math.max(INITIAL_REASSEMBLY_BYTES, chunk.length)));
      parts.set(chunk);
      this.bin = { total, got: chunk.length, parts };
      return [];
    }
    if (kind === KIND.MIDDLE || kind === KIND.LAST) {
      const r = this.bin ?? fail(C.FRAGMENT_ORDER, `${kind === KIND.LAST ? 'last' : 'middle'} fragment without a first`);
      const got = r.got + b.length - 1;
      if (kind === KIND.MIDDLE ? got >= r.total : got !== r.total) {
        fail(C.FRAGMENT_ORDER, `fragments hold ${got} bytes, first fragment announced ${r.total}`);
      }
      if (got > r.parts.length) {
        const bigger = new Uint8Array(Math.min(r.total, Math.max(got, r.parts.length * 2)));
        bigger.set(r.parts.subarray(0, r.got));
        r.parts = bigger;
      }
      r.parts.set(b.subarray(1), r.got);
      r.got = got;
      if (kind === KIND.MIDDLE) return [];
      this.bin = undefined;
      return this.packets(dec.read(r.parts));
    }
    return fail(C.UNKNOWN, `unknown frame kind 0x${kind.toString(16).padStart(2, '0')}`);
  }

  private decodeJson(frame: Frame): Packet[] {
    if (typeof frame !== 'string') {
      return fail(C.UNKNOWN, frame instanceof Uint8Array ? 'binary frame on a json link' : 'frame is neither bytes nor text');
    }
    const max = this.o.maxFrameSize;
    // UTF-16 units never outnumber UTF-8 bytes, so this never refuses a frame that fit.
    if (frame.length > max) fail(C.TOO_LARGE, `frame of ${frame.length} characters exceeds maxFrameSize ${max}`);
    if (frame.length === 0) fail(C.TRUNCATED, 'empty frame');
    const kind = frame[0];
    if (kind === '[') {
      if (this.text) fail(C.FRAGMENT_ORDER, 'whole batch while a fragmented batch is open');
      if (frame.length > this.o.maxMessageSize) fail(C.TOO_LARGE, `batch exceeds maxMessageSize ${this.o.maxMessageSize}`);
      return this.jsonBatch(frame);
    }
    if (kind === 'F') {
      if (this.text) fail(C.FRAGMENT_ORDER, 'first fragment while another batch is open');
      const m = /^F([0-9]{1,16})(:?)/.exec(frame);
      if (frame.length === 1) fail(C.TRUNCATED, 'first fragment shorter than its header');
      if (!m || (!m[2] && m[0].length < frame.length)) fail(C.GARBAGE, 'bad first-fragment header');
      if (!m[2]) fail(C.TRUNCATED, 'first fragment shorter than its header');
      const total = Number(m[1]);
      if (total > this.o.maxMessageSize) {
        fail(C.TOO_LARGE, `batch of ${total} bytes exceeds maxMessageSize ${this.o.maxMessageSize}`);
      }
      const chunk = frame.slice(m[0].length);
      if (chunk.length >= total) fail(C.FRAGMENT_ORDER, `first fragment holds ${chunk.length} of ${total} characters`);
      this.text = { total, got: chunk.length, parts: [chunk] };
      return [];
    }
    if (kind === 'M' || kind === 'L') {
      const r = this.text ?? fail(C.FRAGMENT_ORDER, `${kind === 'L' ? 'last' : 'middle'} fragment without a first`);
      const got = r.got + frame.length - 1;
      if (kind === 'M' ? got >= r.total : got !== r.total) {
        fail(C.FRAGMENT_ORDER, `fragments hold ${got} characters, first fragment announced ${r.total}`);
      }
      r.parts.push(frame.slice(1));
      r.got = got;
      if (kind === 'M') return [];
      this.text = undefined;
      const whole = r.parts.join('');
      if (whole[0] !== '[') fail(C.BAD_PACKET, 'reassembled batch is not a JSON array');
      return this.jsonBatch(whole);
    }
    return refusalOr(frame, C.UNKNOWN, `unknown frame kind ${JSON.stringify(kind)}`);
  }

  private jsonBatch(text: string): Packet[] {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      if (endsEarly(text)) fail(C.TRUNCATED, 'batch ends early', e);
      return fail(C.GARBAGE, `undecodable batch: ${(e as Error).message}`, e);
    }
    const batch = this.packets(v);
    for (let i = 0; i < batch.length; i++) fromJsonValue(batch[i], 2, this.o.maxDepth);
    return batch;
  }

  private packets(v: unknown): Packet[] {
    if (!Array.isArray(v)) fail(C.BAD_PACKET, 'batch is not an array');
    for (let i = 0; i < v.length; i++) {
      if (!Array.isArray(v[i])) fail(C.BAD_PACKET, `packet ${i} is not an array`);
    }
    return v as Packet[];
  }
}

/** A text frame where packets were expected: the peer's refusal (sent after its handshake finished), or an error. */
function refusalOr(frame: string, code: string, message: string): never {
  const r = frame[0] === '{' ? parseRefusal(frame) : undefined;
  if (r) throw new PeerRefusedError(r.code, r.reason);
  return fail(code, message);
}
