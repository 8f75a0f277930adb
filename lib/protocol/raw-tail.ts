/**
 * Relaying without re-encoding. A seed decodes of a relay request
 * ['r', dst, sid, seq, port, msg] only the type and `dst` (of a seed-to-seed
 * ['F', src, dst, …] only src and dst); the rest stays the msgpack bytes it
 * came as, a RawTail, checked for shape and bounds but not materialised.
 * The packet it forwards (['f', src, RawTail] or ['F', src, dst, RawTail])
 * is written with those bytes copied as they are: a packet's array header
 * counts the tail's elements. Of a run ['R', dst, sid, seq0, port, msg, …]
 * (['Q', src, dst, sid, seq0, …] between seeds) the pairs are the tail.
 * docs/protocol.md ("Relaying bytes").
 *
 * Non-seed Node processes get a RelayCodec without a reader, for its
 * encoder's split of a run over the limits (lib/mesh/relay-runs.ts).
 *
 * Only msgpack links carry tails; a json link gets them expanded
 * (expandTails), and whatever needs the values themselves (a message to
 * the seed itself, a page's request screened by the seed) expands them too.
 *
 * Only seeds relay: the codec gets this file's parts from the seed role
 * (RELAY_CODEC in raw-tail-expand.ts, through Conn's `relay`), so a page's
 * bundle carries none of it; the writer knows only the RawTail value
 * (raw-bytes.ts), the reader a RelayPackets when it has one.
 */

import { FRAME_CODES as C, ProtocolError } from './errors.ts';
import type { MsgpackReader } from './msgpack.ts';
import { RawTail } from './raw-bytes.ts';

export { RawTail, hasTail } from './raw-bytes.ts';

/** Where a relaying decoder keeps the tail: packet type → index of the first raw element, and the least arity. */
export const RAW_TAIL_FROM: Readonly<Record<string, number>> = { r: 2, F: 3, R: 4, Q: 5 };

/** msgpack of one short string (type tags, kinds, caps: never long). */
function pushStr(out: number[], s: string): void {
  const n = s.length;
  if (n < 32) out.push(0xa0 | n);
  else if (n < 256) out.push(0xd9, n);
  else out.push(0xda, n >> 8, n & 0xff);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    // Kinds and caps are ASCII words (lib/caps.ts); anything else is not a stamp.
    if (c > 0x7f) throw new Error(`stamp value ${JSON.stringify(s)} is not ASCII`);
    out.push(c);
  }
}

/** The tail with a page's stamp [kind, caps] appended (two more elements). */
export function stampTail(t: RawTail, kind: string, caps: readonly string[]): RawTail {
  const extra: number[] = [];
  pushStr(extra, kind);
  if (caps.length < 16) extra.push(0x90 | caps.length);
  else extra.push(0xdc, caps.length >> 8, caps.length & 0xff);
  for (const c of caps) pushStr(extra, c);
  const bytes = new Uint8Array(t.length + extra.length);
  bytes.set(t.bytes, 0);
  bytes.set(extra, t.length);
  return new RawTail(bytes, 0, bytes.length, t.count + 2, t.elements + 2 + caps.length);
}

/**
 * msgpack bytes of an array of `t.count` elements holding the tail's values
 * (a reader turns it into the values themselves).
 */
export function tailAsArray(t: RawTail): Uint8Array {
  const n = t.count;
  const head = n < 16 ? [0x90 | n] : [0xdc, n >> 8, n & 0xff];
  const out = new Uint8Array(head.length + t.length);
  out.set(head, 0);
  out.set(t.bytes, head.length);
  return out;
}

const NO_BYTES = new Uint8Array(0);
const NO_VIEW = new DataView(NO_BYTES.buffer);
const truncated = (): never => {
  throw new ProtocolError(C.TRUNCATED, 'batch ends early');
};
const garbage = (message: string): never => {
  throw new ProtocolError(C.GARBAGE, message);
};

/**
 * Steps over msgpack values in `b` without materialising them, with every
 * check MsgpackReader makes (bounds, nesting, the element budget, map key
 * types, no extensions): a tail the seed forwards is one its receiver can
 * decode, and a malformed one closes the sender's link, not the receiver's.
 */
export class TailScanner {
  p = 0;
  /** Elements still allowed (the reader's budget). */
  left = 0;
  private b: Uint8Array = NO_BYTES;
  private v: DataView = NO_VIEW;
  private over: () => never = () => garbage('element budget');

  constructor(private readonly maxDepth: number) {}

  /** Skip `count` values at nesting level `depth` from b[p]; `left` and `p` are the reader's. Returns the end. */
  skip(b: Uint8Array, v: DataView, p: number, count: number, depth: number, left: number, over: () => never): number {
    // The reader's frame is held until the next skip (it is pinned by the RawTail anyway).
    this.over = over;
    this.b = b;
    this.v = v;
    this.p = p;
    this.left = left;
    for (let i = 0; i < count; i++) this.one(depth);
    return this.p;
  }

  private need(n: number): number {
    const at = this.p;
    if (at + n > this.b.length) truncated();
    this.p = at + n;
    return at;
  }

  private one(depth: number): void {
    const b = this.b;
    if (this.p >= b.length) truncated();
    const h = b[this.p++]!;
    if (h < 0x80 || h >= 0xe0) return;
    if (h < 0x90) return this.map(h & 0x0f, depth);
    if (h < 0xa0) return this.array(h & 0x0f, depth);
    if (h < 0xc0) return void this.need(h & 0x1f);
    const v = this.v;
    switch (h) {
      case 0xc0:
      case 0xc2:
      case 0xc3:
        return;
      case 0xc4:
      case 0xd9:
        return void this.need(b[this.need(1)]!);
      case 0xc5:
      case 0xda:
        return void this.need(v.getUint16(this.need(2)));
      case 0xc6:
      case 0xdb:
        return void this.need(v.getUint32(this.need(4)));
      case 0xcc:
      case 0xd0:
        return void this.need(1);
      case 0xcd:
      case 0xd1:
        return void this.need(2);
      case 0xca:
      case 0xce:
      case 0xd2:
        return void this.need(4);
      case 0xcb:
      case 0xcf:
      case 0xd3:
        return void this.need(8);
      case 0xdc:
        return this.array(v.getUint16(this.need(2)), depth);
      case 0xdd:
        return this.array(v.getUint32(this.need(4)), depth);
      case 0xde:
        return this.map(v.getUint16(this.need(2)), depth);
      case 0xdf:
        return this.map(v.getUint32(this.need(4)), depth);
      case 0xc1:
        return garbage('msgpack byte 0xc1 (never used)');
      default:
        return garbage(`msgpack extension (0x${h.toString(16)}) is not a packet value`);
    }
  }

  private array(n: number, depth: number): void {
    if (n > 0 && depth >= this.maxDepth) garbage(`nested deeper than ${this.maxDepth} levels`);
    if (n > this.b.length - this.p) truncated();
    if ((this.left -= n) < 0) this.over();
    for (let i = 0; i < n; i++) this.one(depth + 1);
  }

  private map(n: number, depth: number): void {
    if (n > 0 && depth >= this.maxDepth) garbage(`nested deeper than ${this.maxDepth} levels`);
    if (2 * n > this.b.length - this.p) truncated();
    if ((this.left -= 2 * n) < 0) this.over();
    const b = this.b;
    for (let i = 0; i < n; i++) {
      // Keys are strings or numbers, as the reader requires: the header byte says which.
      if (this.p >= b.length) truncated();
      const k = b[this.p]!;
      if (!(k < 0x80 || k >= 0xe0 || (k >= 0xa0 && k < 0xc0) || (k >= 0xca && k <= 0xd3) || (k >= 0xd9 && k <= 0xdb)))
        garbage(`map key of type ${k === 0xc0 ? 'null' : k === 0xc2 || k === 0xc3 ? 'boolean' : 'object'}`);
      this.one(depth + 1);
      this.one(depth + 1);
    }
  }
}

/**
 * A relaying seed's reader of packets (MsgpackReader.relay; codec.ts makes
 * one per decoder from RelayCodec.reader): a packet whose type is a key of
 * `from` keeps its elements from that index on as a RawTail of their bytes,
 * which the scanner checks; any other packet is decoded as usual.
 */
export class RelayPackets {
  private readonly scanner: TailScanner;
  /** The tails of the batch being read (own). */
  private readonly tails: RawTail[] = [];

  constructor(
    maxDepth: number,
    private readonly from: Readonly<Record<string, number>> = RAW_TAIL_FROM,
  ) {
    this.scanner = new TailScanner(maxDepth);
  }

  /** Packet of `n` elements at r.p (its array header read and charged): its type, then its values or its first ones and a RawTail. */
  packet(r: MsgpackReader, n: number, depth: number): unknown[] {
    const t = r.value(depth + 1);
    const from = typeof t === 'string' ? this.from[t] : undefined;
    if (from === undefined || n <= from) {
      const a = new Array(n);
      a[0] = t;
      for (let i = 1; i < n; i++) a[i] = r.value(depth + 1);
      return a;
    }
    const a = new Array(from + 1);
    a[0] = t;
    for (let i = 1; i < from; i++) a[i] = r.value(depth + 1);
    const start = r.p;
    const left = r.left;
    const s = this.scanner;
    r.p = s.skip(r.b, r.v, start, n - from, depth + 1, left, r.over);
    r.left = s.left;
    // Offsets into the frame until the read ends, then into the batch's copy of its tails (own).
    const tail = new RawTail(r.b, start, r.p, n - from, left - r.left + (n - from));
    this.tails.push(tail);
    a[from] = tail;
    return a;
  }

  /**
   * The batch read from `b` is complete: its tails point into the frame, and
   * now get one copy of their own, from the first tail to the last (one
   * allocation per batch, not one per packet), so no frame or socket chunk
   * stays pinned by a tail that outlives the tick (a seed's RSS grew by tens
   * of MiB under a flood when it did: test/security/admit-relay-quota).
   */
  own(b: Uint8Array): void {
    const tails = this.tails;
    if (tails.length === 0) return;
    const lo = tails[0]!.start;
    const copy = b.slice(lo, tails[tails.length - 1]!.end);
    for (let i = 0; i < tails.length; i++) tails[i]!.rebase(copy, lo);
  }

  /** The read ended (read or failed): forget its tails. */
  done(): void {
    this.tails.length = 0;
  }
}
