/**
 * What the raw baselines put on the wire: aemp-shaped packets
 * ['m', 'node#port', ['tag', i, 'x']], msgpack-encoded as arrays of packets
 * (one batch per frame), and the receiving side's counting.
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import { type ChildIo, wallNow } from './child-io.ts';

export type Packet = [string, string, [string, number, string]];

/** The destination port written into every packet unless a script's args give `dst`. */
export const DEFAULT_DST = 'node#port';

export const encoder = new Encoder();
export const decoder = new Decoder();

/** Encode packets from..from+n-1 to port `dst` as one batch (a fresh buffer the socket may keep). */
export function encodeBatch(from: number, n: number, dst: string = DEFAULT_DST): Uint8Array {
  const a = new Array<Packet>(n);
  for (let j = 0; j < n; j++) a[j] = ['m', dst, ['tag', from + j, 'x']];
  return encoder.encode(a);
}

/**
 * The receiving side of a throughput run: decodes batches, checks that
 * packets arrive gap-free and in order, and emits `done` when `count`
 * packets of the current run have arrived.
 */
export class BatchCounter {
  private run = 0;
  private next = 0;

  constructor(
    private readonly io: ChildIo,
    private readonly count: number,
  ) {}

  /** Take one frame's bytes. */
  frame(bytes: Uint8Array): void {
    const batch = decoder.decode(bytes) as Packet[];
    for (let j = 0; j < batch.length; j++) {
      const i = batch[j]![2][1];
      if (i !== this.next) throw new Error(`run ${this.run}: packet ${i} arrived, expected ${this.next}`);
      this.next++;
    }
    if (this.next === this.count) {
      this.io.emit({ ev: 'done', run: this.run, t: wallNow() });
      this.run++;
      this.next = 0;
    }
  }
}
