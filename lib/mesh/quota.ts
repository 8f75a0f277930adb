/**
 * Relay quotas at a seed: messages/s and bytes/s per sending node, as two
 * token buckets. Each bucket holds one second's worth and refills
 * continuously, so a node may burst up to its rate at once and sustain its
 * rate for ever, never more.
 *
 * Bytes are counted as they arrive (every frame the node sends the seed,
 * before its packets are handled: a message fragmented over many frames
 * uses up the bucket while it arrives); messages are counted per relay
 * request. A relay request finding either bucket empty is dropped, and the
 * sender hears it: ['nack', dst, 'AEMP_ERR_QUOTA: …'] fires its monitors on
 * dst, like any lost message (no silent hole: what the sender sends after
 * that starts a new session). The check costs a compare and a decrement;
 * the clock is read only when a bucket runs dry.
 */
import type { Clock } from '../clock.ts';

export interface RelayLimits {
  /** Relayed messages per second; 0: unlimited. */
  messagesPerSec: number;
  /** Bytes per second the node sends the seed while it relays; 0: unlimited. */
  bytesPerSec: number;
}

/** At most this many destinations remembered per sender for "told already" (see nackDue). */
const MAX_NACKED = 1024;

export class RelayQuota {
  private msgs = Infinity;
  private bytes = Infinity;
  private msgRate = Infinity;
  private byteRate = Infinity;
  private filled: number;
  /** Set once the sender's kind (hence its limits) is known. */
  configured = false;
  /** Dropping since this time (continuous: no gap longer than 2 s between drops); undefined while within quota. */
  overSince: number | undefined;
  private lastDrop = 0;
  /** Messages dropped since the last report. */
  dropped = 0;
  /** dst → the session last told of a drop (made on the first drop: most senders never have one). */
  private nacked: Map<unknown, unknown> | undefined;

  constructor(private readonly clock: Clock) {
    this.filled = clock.now();
  }

  /** Limits for this sender (0: unlimited); returns false when it has none at all. */
  configure(l: RelayLimits): boolean {
    this.configured = true;
    this.msgRate = l.messagesPerSec > 0 ? l.messagesPerSec : Infinity;
    this.byteRate = l.bytesPerSec > 0 ? l.bytesPerSec : Infinity;
    // Bytes charged before the kind was known stay charged.
    this.msgs = this.msgRate;
    this.bytes = this.byteRate - this.charged;
    this.charged = 0;
    this.filled = this.clock.now();
    return this.msgRate !== Infinity || this.byteRate !== Infinity;
  }

  /** Bytes charged before configure(). */
  private charged = 0;

  /** Bytes the node sent (one frame). */
  charge(n: number): void {
    if (!this.configured) this.charged += n;
    else this.bytes -= n;
  }

  /** How long this sender has been over quota without a break (0: within quota). */
  get overMs(): number {
    return this.overSince === undefined ? 0 : this.lastDrop - this.overSince;
  }

  /**
   * One relay request of `n` messages (a run: mesh.ts): true if it is within quota (and counts against it).
   * A run larger than the bucket passes when the bucket is full and leaves it in debt, so the rate holds.
   */
  take(n = 1): boolean {
    const need = n < this.msgRate ? n : this.msgRate;
    if (this.msgs >= need && this.bytes >= 0) {
      this.msgs -= n;
      return true;
    }
    this.refill();
    if (this.msgs >= need && this.bytes >= 0) {
      this.msgs -= n;
      this.overSince = undefined;
      return true;
    }
    const now = this.clock.now();
    if (this.overSince === undefined || now - this.lastDrop > 2000) this.overSince = now;
    this.lastDrop = now;
    this.dropped++;
    return false;
  }

  /** The sender must hear of a drop to `dst` in session `sid` once: its monitors fire and its next message starts a new session. */
  nackDue(dst: unknown, sid: unknown): boolean {
    const told = (this.nacked ??= new Map());
    if (told.get(dst) === sid) return false;
    if (told.size >= MAX_NACKED) told.clear();
    told.set(dst, sid);
    return true;
  }

  /** The limits, for messages. */
  describe(): string {
    const r = (x: number, unit: string) => (x === Infinity ? `unlimited ${unit}` : `${x} ${unit}`);
    return `${r(this.msgRate, 'messages/s')}, ${r(this.byteRate, 'bytes/s')}`;
  }

  private refill(): void {
    const now = this.clock.now();
    const dt = now - this.filled;
    if (dt <= 0) return;
    this.filled = now;
    this.msgs = Math.min(this.msgRate, this.msgs + (dt * this.msgRate) / 1000);
    this.bytes = Math.min(this.byteRate, this.bytes + (dt * this.byteRate) / 1000);
  }
}
