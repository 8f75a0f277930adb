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
 *
 * What a peer's bytes may cost is bounded before it is spent: a batch's size
 * (maxMessageSize, announced by FIRST, so reassembly never grows past it),
 * its packets (maxBatchPackets) and the values it decodes to
 * (maxBatchElements, charged at each array/map header or counted in the
 * JSON text before JSON.parse), and the time a fragmented batch may stay
 * open (fragmentTimeoutMs). The encoder keeps to the same limits, splitting
 * a batch that would exceed them, so peers with the same limits never
 * refuse each other's honest traffic.
 */
import { BadArgumentError } from '../errors.ts';
import type { Frame } from '../link.ts';
import { FRAME_CODES as C, PeerRefusedError, ProtocolError } from './errors.ts';
import { plainBytes } from './bytes.ts';
import { jsonFrames } from './json-framing.ts';
import { parseRefusal } from './handshake.ts';
import type { RelayPackets } from './raw-tail.ts';
import { MsgpackReader, MsgpackWriter, type ReadBudget } from './msgpack.ts';

export type Packet = unknown[];
export type Framing = 'msgpack' | 'json';
export const FRAMINGS: readonly Framing[] = ['msgpack', 'json'];

export { jsonFramingLoaded, loadJsonFraming } from './json-framing.ts';

export interface CodecOptions {
  framing: Framing;
  /** Largest frame the link carries (bytes; for json, UTF-8 bytes). At least MIN_FRAME_SIZE. */
  maxFrameSize: number;
  /** Largest batch encoding the decoder reassembles and the encoder produces. Default 128 MiB. */
  maxMessageSize?: number;
  /** Deepest nesting the encoder accepts (the batch array is level 1). Default 100. */
  maxDepth?: number;
  /** Most packets in one batch: the decoder refuses more, the encoder splits. Default 65536. */
  maxBatchPackets?: number;
  /**
   * Most values one batch decodes to: every array element, map key and map
   * value counts one (JSON: every ',' and ':' and non-empty array or object).
   * The decoder refuses more before allocating them; the encoder splits a
   * batch over it. Default 2 Mi.
   */
  maxBatchElements?: number;
  /** A fragmented batch must be complete this long after its FIRST fragment (needs `now`). Default: no deadline. */
  fragmentTimeoutMs?: number;
  /** The clock for fragmentTimeoutMs (the Conn's injected Clock). */
  now?: () => number;
  /**
   * A relaying seed's decoder: relay packets ('r', 'F', runs 'R', 'Q') keep
   * what follows their addresses as the msgpack bytes it came as
   * (raw-tail.ts). msgpack only; json decodes everything, and its encoder
   * expands the tails. A Node process's encoder splits relay runs with it.
   */
  relay?: RelayCodec;
}

/** What a relaying seed's codec uses: RELAY_CODEC (raw-tail-expand.ts), which the seed role passes in, so pages bundle none of it. */
export interface RelayCodec {
  /** A reader's packet reader (one per reader): relay packets keep their last elements as bytes. Seeds only. */
  reader?(maxDepth: number): RelayPackets;
  /** `batch` with every RawTail replaced by the values it holds (for a json link). */
  expand(batch: Packet[]): Packet[];
  /** A packet over a limit as two that carry the same (a relay run: lib/mesh/relay-runs.ts), or undefined. */
  split?(p: Packet): Packet[] | undefined;
}

/** The limits that differ between kinds of peer (mesh options maxMessageSize / pageMaxMessageSize etc.). */
export interface BatchLimits {
  maxMessageSize: number;
  maxBatchPackets: number;
  maxBatchElements: number;
}

export const DEFAULT_MAX_MESSAGE_SIZE = 128 * 1024 * 1024;
export const DEFAULT_MAX_BATCH_PACKETS = 65536;
export const DEFAULT_MAX_BATCH_ELEMENTS = 2 * 1024 * 1024;
export const DEFAULT_MAX_DEPTH = 100;
export const MIN_FRAME_SIZE = 64;
export const KIND = { WHOLE: 0x01, FIRST: 0x02, MIDDLE: 0x03, LAST: 0x04 } as const;

/**
 * Reassembly buffers grow as chunks arrive (doubling), starting at twice the
 * first chunk: a FIRST frame's claim alone allocates no more than its own
 * size warrants.
 */
const MIN_REASSEMBLY_BYTES = 64 * 1024;

export function fail(code: string, message: string, cause?: unknown): never {
  throw new ProtocolError(code, message, cause === undefined ? undefined : { cause });
}

export interface Limits extends BatchLimits {
  framing: Framing;
  maxFrameSize: number;
  maxDepth: number;
  fragmentTimeoutMs: number;
  now: (() => number) | undefined;
}

function count(v: number | undefined, name: string, dflt: number): number {
  const n = v ?? dflt;
  if (!Number.isInteger(n) || n < 1) throw new BadArgumentError(`${name} must be a positive integer, got ${n}`);
  return n;
}

function limits(o: CodecOptions): Limits {
  if (o.framing !== 'msgpack' && o.framing !== 'json') throw new BadArgumentError(`unknown framing ${String(o.framing)}`);
  if (o.framing === 'json' && jsonFrames() === undefined) throw new BadArgumentError('the json framing is not loaded: await loadJsonFraming() first');
  const maxMessageSize = o.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  const maxDepth = o.maxDepth ?? DEFAULT_MAX_DEPTH;
  const maxBatchPackets = count(o.maxBatchPackets, 'maxBatchPackets', DEFAULT_MAX_BATCH_PACKETS);
  const maxBatchElements = count(o.maxBatchElements, 'maxBatchElements', DEFAULT_MAX_BATCH_ELEMENTS);
  const fragmentTimeoutMs = o.fragmentTimeoutMs ?? Infinity;
  if (!(fragmentTimeoutMs > 0)) throw new BadArgumentError(`fragmentTimeoutMs must be positive, got ${fragmentTimeoutMs}`);
  if (fragmentTimeoutMs !== Infinity && typeof o.now !== 'function') throw new BadArgumentError('fragmentTimeoutMs needs a clock (now)');
  if (!Number.isInteger(o.maxFrameSize) || o.maxFrameSize < MIN_FRAME_SIZE) {
    throw new BadArgumentError(`maxFrameSize must be an integer >= ${MIN_FRAME_SIZE}, got ${o.maxFrameSize}`);
  }
  if (!Number.isInteger(maxMessageSize) || maxMessageSize < 1 || maxMessageSize > 0xffffffff) {
    throw new BadArgumentError(`maxMessageSize must be an integer in 1..2^32-1, got ${maxMessageSize}`);
  }
  if (!Number.isInteger(maxDepth) || maxDepth < 2) throw new BadArgumentError(`maxDepth must be an integer >= 2`);
  return { framing: o.framing, maxFrameSize: o.maxFrameSize, maxMessageSize, maxDepth, maxBatchPackets, maxBatchElements, fragmentTimeoutMs, now: o.now };
}

/** Turns batches of packets into link frames. One per link direction (it reuses a buffer). */
export class FrameEncoder {
  private readonly o: Limits;
  private readonly enc: MsgpackWriter | undefined;
  private readonly relay: RelayCodec | undefined;

  constructor(o: CodecOptions) {
    this.o = limits(o);
    this.relay = o.relay;
    if (this.o.framing === 'msgpack') this.enc = new MsgpackWriter(this.o.maxDepth);
  }

  /**
   * Frames for one batch ([] for an empty batch). `transient`: for a caller
   * that hands the frames at once to a link that copies what it sends
   * (Link.copiesFrames); a batch in one frame may then be a view of the
   * writer's shared buffer, valid only until the next encode of any encoder.
   * A batch over
   * maxBatchPackets, maxMessageSize or maxBatchElements leaves as several
   * batches, cut between packets; a single packet over a limit throws
   * ProtocolError AEMP_ERR_FRAME_TOO_LARGE / AEMP_ERR_BATCH_ELEMENTS, a value
   * the framing cannot carry AEMP_ERR_ENCODE. Nothing is returned on a throw.
   */
  encode(batch: Packet[], transient = false): Frame[] {
    if (batch.length === 0) return [];
    for (let i = 0; i < batch.length; i++) {
      if (!Array.isArray(batch[i])) fail(C.ENCODE, `packet ${i} is not an array`);
    }
    const max = this.o.maxBatchPackets;
    if (batch.length <= max) return this.encodeSome(batch, transient);
    const out: Frame[] = [];
    for (let i = 0; i < batch.length; i += max) out.push(...this.encodeSome(batch.slice(i, i + max), false));
    return out;
  }

  /** Encode, or when the batch is over a limit, encode its halves (rare: it costs one wasted encoding per level). */
  private encodeSome(batch: Packet[], transient: boolean): Frame[] {
    const frames = this.enc ? this.encodeMsgpack(this.enc, batch, transient) : this.encodeJson(batch);
    if (frames !== undefined) return frames;
    // Halves are encoded one after the other: each into frames of their own (a transient view would not survive the next).
    if (batch.length === 1) return this.encodeSome(this.relay!.split!(batch[0]!)!, false); // over() checked it splits
    const h = batch.length >> 1;
    return [...this.encodeSome(batch.slice(0, h), false), ...this.encodeSome(batch.slice(h), false)];
  }

  /** Over maxMessageSize or maxBatchElements: undefined (split it) when there is more than one packet, else throw. */
  private over(batch: Packet[], n: number, elements: number): undefined {
    if (batch.length > 1 || this.relay?.split?.(batch[0]!) !== undefined) return undefined;
    if (n > this.o.maxMessageSize) this.tooLarge(n);
    return fail(C.BATCH_ELEMENTS, `a packet of ${elements} values exceeds maxBatchElements ${this.o.maxBatchElements}`);
  }

  private encodeMsgpack(enc: MsgpackWriter, batch: Packet[], transient: boolean): Frame[] | undefined {
    // Written behind one spare byte, so a whole frame is a single copy of the writer's buffer (or none: transient).
    const bytes = enc.write(batch, 1);
    const n = bytes.length - 1;
    try {
      if (n > this.o.maxMessageSize || enc.elements > this.o.maxBatchElements) return this.over(batch, n, enc.elements);
      if (n + 1 <= this.o.maxFrameSize) {
        const f = transient ? bytes : bytes.slice();
        f[0] = KIND.WHOLE;
        return [f];
      }
      return fragmentBytes(bytes.subarray(1), this.o.maxFrameSize);
    } finally {
      enc.release();
    }
  }

  private encodeJson(batch: Packet[]): Frame[] | undefined {
    return jsonFrames()!.encodeJson(batch, this.o, this.relay, (n, elements) => this.over(batch, n, elements));
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

/** What json-frames.ts needs of a FrameDecoder to decode a json frame (the decoder passes itself). */
export interface JsonDecoding {
  readonly o: Limits;
  text: Reassembly<string[]> | undefined;
  start(): number;
  inTime(r: { due: number }): void;
  packets(v: unknown): Packet[];
}

export interface Reassembly<T> {
  total: number;
  got: number;
  parts: T;
  /** When the batch must be complete (now() + fragmentTimeoutMs at its FIRST). */
  due: number;
}

/**
 * What a decoder may share with the decoders of the same options: its
 * limits and its msgpack reader. A read runs synchronously and leaves
 * nothing behind (no reference into the frame: a batch's raw tails get a
 * copy of their own, MsgpackReader.ownTails); only the reassembly of a
 * fragmented batch is each decoder's own.
 */
export interface DecoderCore {
  o: Limits;
  budget: ReadBudget;
  dec: MsgpackReader | undefined;
}

/**
 * Called with every new decoder (setCodecPool): may replace its core with
 * the one of an earlier decoder of the same options. Node sets one
 * (codec-pool.ts: a seed has thousands of links); a page, with one link,
 * has none and bundles none of it.
 */
let pool: ((d: DecoderCore, o: CodecOptions) => void) | undefined;

export function setCodecPool(p: ((d: DecoderCore, o: CodecOptions) => void) | undefined): void {
  pool = p;
}

/** Turns link frames back into batches. Stateful (fragments); one per link direction. */
export class FrameDecoder implements DecoderCore {
  /** The core (DecoderCore): a pool may replace it with a shared one. */
  o: Limits;
  budget: ReadBudget;
  dec: MsgpackReader | undefined;
  private bin: Reassembly<Uint8Array> | undefined;
  /** The open fragmented json batch (json-frames.ts reads and sets it, as the JsonDecoding it is given). */
  text: Reassembly<string[]> | undefined;

  constructor(o: CodecOptions) {
    this.o = limits(o);
    this.budget = { packets: this.o.maxBatchPackets, elements: this.o.maxBatchElements };
    if (this.o.framing === 'msgpack') {
      this.dec = new MsgpackReader(this.o.maxDepth);
      this.dec.relay = o.relay?.reader?.(this.o.maxDepth);
    }
    pool?.(this, o);
  }

  /** When the open fragmented batch must be complete (undefined: none open, or no fragmentTimeoutMs). */
  get deadline(): number | undefined {
    const due = (this.bin ?? this.text)?.due;
    return due === undefined || due === Infinity ? undefined : due;
  }

  /** Bytes (json: characters) held for the open fragmented batch. */
  get pendingBytes(): number {
    return this.bin ? this.bin.parts.length : this.text ? this.text.got : 0;
  }

  /** Drop any half-received batch (the link closed): nothing of it stays reachable from here. */
  reset(): void {
    this.bin = undefined;
    this.text = undefined;
  }

  /** When a fragmented batch opened now must be complete. */
  start(): number {
    const t = this.o.fragmentTimeoutMs;
    return t === Infinity ? Infinity : this.o.now!() + t;
  }

  /** Throws AEMP_ERR_FRAGMENT_TIMEOUT when the open batch is past its deadline. */
  inTime(r: { due: number }): void {
    if (r.due !== Infinity && this.o.now!() > r.due) {
      fail(C.FRAGMENT_TIMEOUT, `fragmented batch not complete within fragmentTimeoutMs ${this.o.fragmentTimeoutMs} ms of its first fragment`);
    }
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
      return this.packets(dec.read(b, this.budget, 1));
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
      this.batchHeader(chunk, total);
      const parts = new Uint8Array(Math.min(total, Math.max(MIN_REASSEMBLY_BYTES, 2 * chunk.length)));
      parts.set(chunk);
      this.bin = { total, got: chunk.length, parts, due: this.start() };
      return [];
    }
    if (kind === KIND.MIDDLE || kind === KIND.LAST) {
      const r = this.bin ?? fail(C.FRAGMENT_ORDER, `${kind === KIND.LAST ? 'last' : 'middle'} fragment without a first`);
      this.inTime(r);
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
      return this.packets(dec.read(r.parts, this.budget));
    }
    return fail(C.UNKNOWN, `unknown frame kind 0x${kind.toString(16).padStart(2, '0')}`);
  }

  private decodeJson(frame: Frame): Packet[] {
    return jsonFrames()!.decodeJson(frame, this);
  }

  /**
   * A FIRST fragment's chunk starts with the batch's array header: refuse a
   * packet count over the limit, or more than the announced bytes could
   * hold, before waiting for (and buffering) the rest.
   */
  private batchHeader(chunk: Uint8Array, total: number): void {
    const h = chunk[0];
    let n: number;
    if (h >= 0x90 && h <= 0x9f) n = h & 0x0f;
    else if (h === 0xdc && chunk.length >= 3) n = (chunk[1] << 8) | chunk[2];
    else if (h === 0xdd && chunk.length >= 5) n = new DataView(chunk.buffer, chunk.byteOffset + 1, 4).getUint32(0);
    else if (h === 0xdc || h === 0xdd || chunk.length === 0) return; // header cut by a tiny frame: the reader checks it at the end
    else return fail(C.BAD_PACKET, 'batch is not an array');
    if (n > this.o.maxBatchPackets) fail(C.BATCH_PACKETS, `batch of ${n} packets exceeds maxBatchPackets ${this.o.maxBatchPackets}`);
    if (n > total) fail(C.TRUNCATED, `batch of ${n} packets cannot fit in ${total} bytes`);
  }

  /** The decoded batch `v` as packets (arrays), or a throw. */
  packets(v: unknown): Packet[] {
    if (!Array.isArray(v)) fail(C.BAD_PACKET, 'batch is not an array');
    for (let i = 0; i < v.length; i++) {
      if (!Array.isArray(v[i])) fail(C.BAD_PACKET, `packet ${i} is not an array`);
    }
    return v as Packet[];
  }
}

/** A text frame where packets were expected: the peer's refusal (sent after its handshake finished), or an error. */
export function refusalOr(frame: string, code: string, message: string): never {
  const r = frame[0] === '{' ? parseRefusal(frame) : undefined;
  if (r) throw new PeerRefusedError(r.code, r.reason);
  return fail(code, message);
}
