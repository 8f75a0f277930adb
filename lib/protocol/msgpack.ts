/**
 * The msgpack subset packets use (nil, bool, int, float64, str, bin, array,
 * map; no extensions), both ways. Written here rather than taken from
 * @msgpack/msgpack because it is the hot path of every link: on small
 * packets this writer is ~2.5x and this reader ~1.7x faster than the
 * library's general-purpose Encoder/Decoder, which the tests use as the
 * reference (same bytes out, same values in).
 *
 * The reader takes untrusted bytes: every length is checked against what is
 * left before anything is allocated, errors are ProtocolErrors with exact
 * codes, and nesting is bounded. So is what a batch may expand to: every
 * array/map header's count is charged to an element budget (and the batch's
 * own count to a packet budget) before the array is allocated, because an
 * empty array is one byte on the wire and ~40 bytes of heap. It differs from the library's Decoder in
 * three ways: bin values are copies (never views into the frame), extension
 * types are refused, and a "__proto__" map key becomes an own property.
 */
import { FRAME_CODES as C, ProtocolError } from './errors.ts';
import { RawTail } from './raw-bytes.ts';
import type { RelayPackets } from './raw-tail.ts';

const EMPTY = new Uint8Array(0);
const SHORT_STRING = 24;
/** Short strings the reader decoded lately, by a hash of their bytes (MsgpackReader.str): a few hundred KiB at most. */
const STRING_SLOTS_MASK = 4095;
const stringSlots: (string | undefined)[] = new Array<string | undefined>(STRING_SLOTS_MASK + 1).fill(undefined);
const ONE_CHAR: string[] = Array.from({ length: 0x80 }, (_, c) => String.fromCharCode(c));
let textDecoder: TextDecoder | undefined;
let textEncoder: TextEncoder | undefined;

function truncated(): never {
  throw new ProtocolError(C.TRUNCATED, 'batch ends early');
}
function garbage(message: string): never {
  throw new ProtocolError(C.GARBAGE, message);
}
function tooManyPackets(n: number, max: number): never {
  throw new ProtocolError(C.BATCH_PACKETS, `batch of ${n} packets exceeds maxBatchPackets ${max}`);
}
function unencodable(message: string): never {
  throw new ProtocolError(C.ENCODE, message);
}

/** Buffers above this are dropped after use, so one big message does not pin memory per link. */
const RETAIN_BYTES = 256 * 1024;
const INITIAL_BYTES = 16 * 1024;
/** Encodings of frozen arrays (MsgpackWriter.frozen): bytes, nesting levels and elements (as the reader counts them). */
const memo = new WeakMap<object, { bytes: Uint8Array; levels: number; elements: number }>();
/** The buffer writers borrow (undefined while one is writing into it). */
let scratch: Uint8Array | undefined;
let scratchView: DataView | undefined;
const EMPTY_VIEW = new DataView(new ArrayBuffer(0));

/**
 * One value that takes every branch of the writer: every int width, both
 * signs, floats, short and long, ASCII and non-ASCII strings, bin, map,
 * nil, bool, 16-bit array headers.
 */
function warmUpSample(): unknown[] {
  const ints = [0, 0x7f, 0xff, 0xffff, 0xffffffff, 2 ** 40, -1, -0x80, -0x8000, -0x80000000, -(2 ** 40)];
  return [
    ['m', 1, 2, 'n#p', ['tag', 1.5, true, false, null, undefined]],
    ints,
    ['é', 'x'.repeat(40), 'é'.repeat(100), 'y'.repeat(300)],
    [new Uint8Array(3), new Uint8Array(300), { a: 1, b: undefined, c: 'x' }],
    new Array(20).fill(0),
  ];
}
let warmedUp = false;

/**
 * Writes one value as msgpack, choosing the shortest form as @msgpack's
 * Encoder does (safe integers as ints, other numbers as float64; undefined
 * map values skipped, undefined elsewhere as nil; any ArrayBufferView as bin).
 *
 * Speed: type checks are `typeof v === '...'` tests (no type feedback),
 * never a `switch (typeof v)`, whose compares V8 optimised on incomplete
 * feedback: in about one process in three the recursive `value` then
 * deoptimised and stayed ~3x slower for the life of the process. The first
 * writer of a process also runs every branch once (warmUpSample) so the
 * optimiser never meets a branch it has no feedback for, e.g. a sequence
 * number passing 65535 in the middle of a hot loop.
 */
export class MsgpackWriter {
  // The buffer is borrowed from `scratch` for the length of one write(): a
  // thousand idle links hold no encoder memory, and all links of a process
  // write into the same warm buffer.
  private buf: Uint8Array = EMPTY;
  private view: DataView = EMPTY_VIEW;
  private p = 0;
  /** While writing a frozen array: something inside it is not frozen (its bytes cannot be kept). */
  private mutable = false;
  /** While writing a frozen array: the deepest level reached. */
  private deepest = 0;
  /** Elements (array elements, map keys and values) of the last value written, counted as the reader charges them. */
  elements = 0;

  /** `maxDepth`: deepest nesting written, the outermost value being level 1. */
  constructor(private readonly maxDepth: number) {
    if (!warmedUp && maxDepth >= 3) {
      warmedUp = true;
      this.write(warmUpSample(), 1);
      this.release();
    }
  }

  /**
   * Encode `v` after `head` zero bytes the caller fills in (a frame's kind).
   * Returns a view of a buffer shared by every writer of this process, valid
   * until the next write() of any writer: copy it out, then call release();
   * throws ProtocolError AEMP_ERR_ENCODE for values msgpack packets cannot hold.
   */
  write(v: unknown, head: number): Uint8Array {
    this.borrow();
    this.p = 0;
    this.ensure(head);
    this.buf.fill(0, 0, head);
    this.p = head;
    this.elements = 0;
    try {
      if (Array.isArray(v) && !Object.isFrozen(v) && !(v.length > 0 && v[v.length - 1] instanceof RawTail)) this.items(v);
      else this.value(v, 1);
    } catch (e) {
      this.p = 0;
      this.release();
      if (e instanceof ProtocolError) throw e;
      throw new ProtocolError(C.ENCODE, `cannot encode packet: ${(e as Error)?.message ?? e}`, { cause: e });
    }
    return this.buf.subarray(0, this.p);
  }

  /** Give the buffer back (call once the bytes of the last write are copied out); one grown for a big message is dropped. */
  release(): void {
    if (this.buf === EMPTY) return;
    if (this.buf.length <= RETAIN_BYTES && scratch === undefined) {
      scratch = this.buf;
      scratchView = this.view;
    }
    this.buf = EMPTY;
    this.view = EMPTY_VIEW;
  }

  private borrow(): void {
    if (this.buf !== EMPTY) return;
    // Taken by another writer mid-write (e.g. a getter that encodes): that one keeps it, this one gets its own.
    if (scratch !== undefined) {
      this.buf = scratch;
      this.view = scratchView!;
      scratch = scratchView = undefined;
    } else {
      this.buf = new Uint8Array(INITIAL_BYTES);
      this.view = new DataView(this.buf.buffer);
    }
  }

  /**
   * The outermost array (a batch of packets): its loop runs here, not in
   * value(). A long loop inside the recursive value() got it compiled
   * on-stack (OSR) before its type feedback was complete; when that code
   * deoptimised, V8 often never optimised value() again and the writer
   * stayed ~3-4x slower for the life of the process.
   */
  private items(v: unknown[]): void {
    this.mutable = true;
    this.head(v.length, 0x90, 0xdc, 0xdd);
    this.elements += v.length;
    for (let i = 0; i < v.length; i++) this.value(v[i], 2);
  }

  private ensure(n: number): void {
    if (this.p + n <= this.buf.length) return;
    const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.p + n));
    bigger.set(this.buf.subarray(0, this.p));
    this.buf = bigger;
    this.view = new DataView(bigger.buffer);
  }

  private value(v: unknown, depth: number): void {
    if (depth > this.maxDepth) unencodable(`nested deeper than ${this.maxDepth} levels (a cycle?)`);
    if (typeof v === 'string') return this.str(v);
    if (typeof v === 'number') return this.num(v);
    if (typeof v === 'object') {
      if (v === null) {
        this.ensure(1);
        this.buf[this.p++] = 0xc0;
      } else if (Array.isArray(v)) {
        if (Object.isFrozen(v)) return this.frozen(v, depth);
        this.mutable = true;
        if (v.length > 0 && v[v.length - 1] instanceof RawTail) return this.withTail(v, depth);
        this.head(v.length, 0x90, 0xdc, 0xdd);
        this.elements += v.length;
        for (let i = 0; i < v.length; i++) this.value(v[i], depth + 1);
      } else if (ArrayBuffer.isView(v)) {
        this.mutable = true;
        this.bin(v);
      } else {
        this.mutable = true;
        this.map(v as Record<string, unknown>, depth);
      }
      return;
    }
    if (typeof v === 'boolean') {
      this.ensure(1);
      this.buf[this.p++] = v ? 0xc3 : 0xc2;
      return;
    }
    if (v === undefined) {
      this.ensure(1);
      this.buf[this.p++] = 0xc0;
      return;
    }
    unencodable(`cannot encode a ${typeof v}`);
  }

  /**
   * A frozen array: its bytes are kept (memo) the first time, if everything in
   * it is frozen too, and copied from then on. The same message fanned out to
   * many links (a group change to every watcher) is encoded once.
   */
  private frozen(v: unknown[], depth: number): void {
    const hit = memo.get(v);
    if (hit !== undefined && depth + hit.levels - 1 <= this.maxDepth) {
      this.ensure(hit.bytes.length);
      this.buf.set(hit.bytes, this.p);
      this.p += hit.bytes.length;
      this.elements += hit.elements;
      if (this.deepest < depth + hit.levels - 1) this.deepest = depth + hit.levels - 1;
      return;
    }
    const outerMutable = this.mutable;
    const outerDeepest = this.deepest;
    this.mutable = false;
    this.deepest = depth;
    const start = this.p;
    const elementsBefore = this.elements;
    this.head(v.length, 0x90, 0xdc, 0xdd);
    this.elements += v.length;
    for (let i = 0; i < v.length; i++) this.value(v[i], depth + 1);
    if (v.length > 0 && this.deepest < depth + 1) this.deepest = depth + 1;
    if (!this.mutable) memo.set(v, { bytes: this.buf.slice(start, this.p), levels: this.deepest - depth + 1, elements: this.elements - elementsBefore });
    this.mutable ||= outerMutable;
    if (this.deepest < outerDeepest) this.deepest = outerDeepest;
  }

  /** A relayed packet ending in a RawTail (raw-tail.ts): its header counts the tail's elements, whose bytes go as they are. */
  private withTail(v: unknown[], depth: number): void {
    const t = v[v.length - 1] as RawTail;
    this.head(v.length - 1 + t.count, 0x90, 0xdc, 0xdd);
    this.elements += v.length - 1 + t.elements;
    for (let i = 0; i < v.length - 1; i++) this.value(v[i], depth + 1);
    const n = t.end - t.start;
    this.ensure(n);
    const buf = this.buf;
    const src = t.src;
    let p = this.p;
    // Relayed messages are mostly short: a loop beats creating a view to set() from.
    if (n <= 64) for (let i = t.start; i < t.end; i++) buf[p++] = src[i]!;
    else {
      buf.set(src.subarray(t.start, t.end), p);
      p += n;
    }
    this.p = p;
  }

  /** Array/map header: fix form below 16, then 16- and 32-bit counts. */
  private head(n: number, fix: number, h16: number, h32: number): void {
    this.ensure(5);
    if (n < 16) this.buf[this.p++] = fix | n;
    else if (n < 0x10000) {
      this.buf[this.p] = h16;
      this.view.setUint16(this.p + 1, n);
      this.p += 3;
    } else {
      this.buf[this.p] = h32;
      this.view.setUint32(this.p + 1, n);
      this.p += 5;
    }
  }

  private map(o: Record<string, unknown>, depth: number): void {
    const keys = Object.keys(o);
    let n = 0;
    for (let i = 0; i < keys.length; i++) if (o[keys[i]] !== undefined) n++;
    this.head(n, 0x80, 0xde, 0xdf);
    this.elements += 2 * n;
    for (let i = 0; i < keys.length; i++) {
      const x = o[keys[i]];
      if (x === undefined) continue;
      this.str(keys[i]);
      this.value(x, depth + 1);
    }
  }

  private num(v: number): void {
    this.ensure(9);
    const b = this.buf;
    const p = this.p;
    if (Number.isSafeInteger(v)) {
      if (v >= 0) {
        if (v < 0x80) {
          b[p] = v;
          this.p = p + 1;
        } else if (v < 0x100) {
          b[p] = 0xcc;
          b[p + 1] = v;
          this.p = p + 2;
        } else if (v < 0x10000) {
          b[p] = 0xcd;
          this.view.setUint16(p + 1, v);
          this.p = p + 3;
        } else if (v < 0x100000000) {
          b[p] = 0xce;
          this.view.setUint32(p + 1, v);
          this.p = p + 5;
        } else {
          b[p] = 0xcf;
          this.view.setUint32(p + 1, v / 0x100000000);
          this.view.setUint32(p + 5, v >>> 0);
          this.p = p + 9;
        }
      } else if (v >= -0x20) {
        b[p] = v & 0xff;
        this.p = p + 1;
      } else if (v >= -0x80) {
        b[p] = 0xd0;
        b[p + 1] = v & 0xff;
        this.p = p + 2;
      } else if (v >= -0x8000) {
        b[p] = 0xd1;
        this.view.setInt16(p + 1, v);
        this.p = p + 3;
      } else if (v >= -0x80000000) {
        b[p] = 0xd2;
        this.view.setInt32(p + 1, v);
        this.p = p + 5;
      } else {
        b[p] = 0xd3;
        this.view.setInt32(p + 1, Math.floor(v / 0x100000000));
        this.view.setUint32(p + 5, v >>> 0);
        this.p = p + 9;
      }
    } else {
      b[p] = 0xcb;
      this.view.setFloat64(p + 1, v);
      this.p = p + 9;
    }
  }

  private bin(v: ArrayBufferView): void {
    const n = v.byteLength;
    if (n > 0xffffffff) unencodable(`binary of ${n} bytes`);
    this.ensure(5 + n);
    if (n < 0x100) {
      this.buf[this.p] = 0xc4;
      this.buf[this.p + 1] = n;
      this.p += 2;
    } else if (n < 0x10000) {
      this.buf[this.p] = 0xc5;
      this.view.setUint16(this.p + 1, n);
      this.p += 3;
    } else {
      this.buf[this.p] = 0xc6;
      this.view.setUint32(this.p + 1, n);
      this.p += 5;
    }
    this.buf.set(new Uint8Array(v.buffer, v.byteOffset, n), this.p);
    this.p += n;
  }

  private str(s: string): void {
    const n = s.length;
    // UTF-8 takes at most 3 bytes per UTF-16 unit (a surrogate pair: 4 bytes for 2 units).
    this.ensure(5 + 3 * n);
    const b = this.buf;
    if (n < 32) {
      // Short ASCII (tags, port IDs): write in place behind a fixstr header.
      const start = this.p;
      let q = start + 1;
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) {
          q = -1;
          break;
        }
        b[q++] = c;
      }
      if (q >= 0) {
        b[start] = 0xa0 | n;
        this.p = q;
        return;
      }
    }
    // Reserve the largest header the string could need, write, then close the gap if smaller.
    const max = 3 * n;
    const reserve = max < 32 ? 1 : max < 0x100 ? 2 : max < 0x10000 ? 3 : 5;
    const at = this.p + reserve;
    const len = (textEncoder ??= new TextEncoder()).encodeInto(s, b.subarray(at)).written;
    const hdr = len < 32 ? 1 : len < 0x100 ? 2 : len < 0x10000 ? 3 : 5;
    if (hdr < reserve) b.copyWithin(this.p + hdr, at, at + len);
    const p = this.p;
    if (hdr === 1) b[p] = 0xa0 | len;
    else if (hdr === 2) {
      b[p] = 0xd9;
      b[p + 1] = len;
    } else if (hdr === 3) {
      b[p] = 0xda;
      this.view.setUint16(p + 1, len);
    } else {
      b[p] = 0xdb;
      this.view.setUint32(p + 1, len);
    }
    this.p = p + hdr + len;
  }
}

/** What one read() may expand to. */
export interface ReadBudget {
  /** Most elements of the outermost array (a batch's packets). */
  packets: number;
  /** Most elements in all: every array element, map key and map value counts one. */
  elements: number;
}

const UNBOUNDED: ReadBudget = { packets: Infinity, elements: Infinity };

export class MsgpackReader {
  // b, v, p, left, over and value() are read and moved by a relaying seed's RelayPackets (raw-tail.ts) too.
  b: Uint8Array = EMPTY;
  p = 0;
  /** A view of b for the multi-byte numbers; made when the first one is read (most frames have none). */
  private view: DataView | undefined = undefined;
  private maxTop = Infinity;
  private maxElements = Infinity;
  /** Elements still allowed in this read. */
  left = Infinity;

  /**
   * A relaying seed's reader of packets (raw-tail.ts, only seeds load it):
   * relay packets keep their last elements as a RawTail of their bytes.
   */
  relay: RelayPackets | undefined;
  readonly over = (): never => this.tooManyElements();

  /** `maxDepth`: deepest nesting accepted, the outermost value being level 1. */
  constructor(private readonly maxDepth: number) {}

  /**
   * The one msgpack value that fills `bytes` from `start` to the end exactly. Throws ProtocolError
   * (AEMP_ERR_BATCH_PACKETS / AEMP_ERR_BATCH_ELEMENTS past the budget, checked
   * at each header before its array or map exists).
   */
  read(bytes: Uint8Array, budget: ReadBudget = UNBOUNDED, start = 0): unknown {
    this.b = bytes;
    this.view = undefined;
    this.p = start;
    this.maxTop = budget.packets;
    this.maxElements = this.left = budget.elements;
    try {
      const x = this.value(1);
      if (this.p !== bytes.length) garbage(`${bytes.length - this.p} bytes after the batch`);
      this.relay?.own(bytes);
      return x;
    } finally {
      this.b = EMPTY; // do not pin the frame
      this.view = undefined;
      this.relay?.done();
    }
  }

  private need(n: number): number {
    const at = this.p;
    if (at + n > this.b.length) truncated();
    this.p = at + n;
    return at;
  }

  get v(): DataView {
    return (this.view ??= new DataView(this.b.buffer, this.b.byteOffset, this.b.byteLength));
  }

  value(depth: number): unknown {
    const b = this.b;
    if (this.p >= b.length) truncated();
    const h = b[this.p++];
    if (h < 0x80) return h;
    if (h >= 0xe0) return h - 0x100;
    if (h < 0x90) return this.map(h & 0x0f, depth);
    if (h < 0xa0) return this.array(h & 0x0f, depth);
    if (h < 0xc0) return this.str(h & 0x1f);
    switch (h) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
      case 0xc5:
      case 0xc6:
        return this.bin(this.length(h - 0xc4));
      case 0xca:
        return this.v.getFloat32(this.need(4));
      case 0xcb:
        return this.v.getFloat64(this.need(8));
      case 0xcc:
      case 0xcd:
      case 0xce:
        return this.length(h - 0xcc); // uint 8/16/32: read as a length is
      case 0xcf: {
        const at = this.need(8);
        return this.v.getUint32(at) * 0x100000000 + this.v.getUint32(at + 4); // beyond 2^53 loses precision, as in @msgpack
      }
      case 0xd0:
        return this.v.getInt8(this.need(1));
      case 0xd1:
        return this.v.getInt16(this.need(2));
      case 0xd2:
        return this.v.getInt32(this.need(4));
      case 0xd3: {
        const at = this.need(8);
        return this.v.getInt32(at) * 0x100000000 + this.v.getUint32(at + 4);
      }
      case 0xd9:
      case 0xda:
      case 0xdb:
        return this.str(this.length(h - 0xd9));
      case 0xdc:
      case 0xdd:
        return this.array(this.length(h - 0xdb), depth);
      case 0xde:
      case 0xdf:
        return this.map(this.length(h - 0xdd), depth);
      case 0xc1:
        return garbage('msgpack byte 0xc1 (never used)');
      default: // 0xc7-0xc9, 0xd4-0xd8
        return garbage(`msgpack extension (0x${h.toString(16)}) is not a packet value`);
    }
  }

  /** A length field after a header byte: 1, 2 or 4 bytes for size 0, 1, 2 (the str/bin/array/map 8/16/32 forms). */
  private length(size: number): number {
    const b = this.b;
    if (size === 0) return b[this.need(1)]!;
    // By hand, not by a DataView: session numbers are uint32s, in nearly every frame.
    if (size === 1) {
      const at = this.need(2);
      return (b[at]! << 8) | b[at + 1]!;
    }
    const at = this.need(4);
    return b[at]! * 0x1000000 + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);
  }

  // Depth rule of @msgpack's Encoder: a value deeper than maxDepth was never encoded.
  private array(n: number, depth: number): unknown[] {
    if (n > 0 && depth >= this.maxDepth) garbage(`nested deeper than ${this.maxDepth} levels`);
    if (depth === 1 && n > this.maxTop) tooManyPackets(n, this.maxTop);
    // Each element takes at least one byte: a huge count in a small frame is cut, not allocated.
    if (n > this.b.length - this.p) truncated();
    if ((this.left -= n) < 0) this.tooManyElements();
    if (depth === 2 && n > 1 && this.relay !== undefined) return this.relay.packet(this, n, depth);
    const a = new Array(n);
    for (let i = 0; i < n; i++) a[i] = this.value(depth + 1);
    return a;
  }

  private map(n: number, depth: number): Record<string, unknown> {
    if (n > 0 && depth >= this.maxDepth) garbage(`nested deeper than ${this.maxDepth} levels`);
    if (2 * n > this.b.length - this.p) truncated();
    if ((this.left -= 2 * n) < 0) this.tooManyElements();
    const o: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const k = this.value(depth + 1);
      if (typeof k !== 'string' && typeof k !== 'number') garbage(`map key of type ${k === null ? 'null' : typeof k}`);
      const x = this.value(depth + 1);
      if (k === '__proto__') Object.defineProperty(o, k, { value: x, enumerable: true, writable: true, configurable: true });
      else o[k] = x;
    }
    return o;
  }

  private tooManyElements(): never {
    throw new ProtocolError(C.BATCH_ELEMENTS, `batch expands to more than maxBatchElements ${this.maxElements} values`);
  }

  private bin(n: number): Uint8Array {
    const at = this.need(n);
    return this.b.slice(at, at + n);
  }

  private str(n: number): string {
    const b = this.b;
    const at = this.need(n);
    const end = at + n;
    if (n === 1 && b[at]! < 0x80) return ONE_CHAR[b[at]!]!;
    if (n <= SHORT_STRING) {
      // Short ASCII (tags, node and port IDs) is the common case and repeats from packet to
      // packet: look it up by its bytes, so a repeat costs no allocation and hands back the same
      // string (whose hash V8 keeps for every Map lookup of it).
      let h = n;
      for (let i = at; i < end; i++) {
        const c = b[i]!;
        if (c >= 0x80) return (textDecoder ??= new TextDecoder()).decode(b.subarray(at, end));
        h = (Math.imul(h, 31) + c) | 0;
      }
      const slot = (h ^ (h >>> 13)) & STRING_SLOTS_MASK;
      const hit = stringSlots[slot];
      if (hit !== undefined && hit.length === n) {
        let i = 0;
        while (i < n && hit.charCodeAt(i) === b[at + i]) i++;
        if (i === n) return hit;
      }
      // A JS loop beats a TextDecoder call on a few ASCII bytes.
      let s = '';
      for (let i = at; i < end; i++) s += String.fromCharCode(b[i]!);
      stringSlots[slot] = s;
      return s;
    }
    return (textDecoder ??= new TextDecoder()).decode(b.subarray(at, end));
  }
}
