/**
 * The value a relaying seed's packets end in (raw-tail.ts): the msgpack
 * writer copies its bytes as they are. Apart from raw-tail.ts, which only
 * seeds load, because every writer must know it.
 */

/**
 * The last `count` elements of a packet, as the msgpack bytes they arrived
 * as: src[start..end) (the reader gives it a copy of its own; a page's
 * stamped tail is a new buffer).
 */
export class RawTail {
  constructor(
    readonly src: Uint8Array,
    readonly start: number,
    readonly end: number,
    /** Elements of the packet the bytes hold. */
    readonly count: number,
    /** Values they decode to, counted as a reader's budget counts them (the count elements themselves included). */
    readonly elements: number,
  ) {}

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
