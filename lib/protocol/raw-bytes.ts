/**
 * The value a relaying seed's packets end in (raw-tail.ts): the msgpack
 * writer copies its bytes as they are. Apart from raw-tail.ts, which only
 * seeds load, because every writer must know it.
 */

/**
 * The last `count` elements of a packet, as the msgpack bytes they arrived
 * as: src[start..end) (the reader gives the tails of one batch one copy
 * of their own; a page's stamped tail is a new buffer).
 */
export class RawTail {
  constructor(
    public src: Uint8Array,
    public start: number,
    public end: number,
    /** Elements of the packet the bytes hold. */
    readonly count: number,
    /** Values they decode to, counted as a reader's budget counts them (the count elements themselves included). */
    readonly elements: number,
  ) {}

  /** Point into `copy`, which holds the bytes from offset `from` of the current src on (MsgpackReader.ownTails). */
  rebase(copy: Uint8Array, from: number): void {
    this.src = copy;
    this.start -= from;
    this.end -= from;
  }

  get bytes(): Uint8Array {
    return this.src.subarray(this.start, this.end);
  }

  get length(): number {
    return this.end - this.start;
  }
}

/** Whether `p` ends in a RawTail (the packets a relaying seed forwards). */
export function hasTail(p: readonly unknown[]): boolean {
  return p.length > 0 && p[p.length - 1] instanceof RawTail;
}
