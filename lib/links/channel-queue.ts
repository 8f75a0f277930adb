/**
 * The send queue in front of an RTCDataChannel. `send` on a data channel has
 * no back-pressure and Chromium closes a channel whose buffer passes 16 MiB,
 * so frames go into the channel only while its buffer is under the
 * high-water mark; the rest wait here. The queue refills the channel on
 * `bufferedamountlow`, or by polling where the implementation lacks that
 * event (`@roamhq/wrtc`, see node-webrtc#305), and only while something
 * waits.
 */
import { systemClock, type Clock, type TimerId } from '../clock.ts';
import type { Frame } from '../link.ts';
import { approxSize } from './frame-size.ts';
import { errText } from './link-events.ts';

export interface ChannelQueueOptions {
  /** Most bytes the channel itself may buffer. */
  highWaterMark: number;
  /** Refill and `onDrain` when the total falls to this. */
  lowWaterMark: number;
  /** Poll interval where there is no bufferedamountlow event. */
  pollMs: number;
  /** Total buffered (queue + channel) fell back under the low-water mark. */
  onDrain(): void;
  /** `channel.send` threw; the queue is dead. */
  onError(reason: string): void;
  /** Timers for the poll (default: systemClock). */
  clock?: Clock;
}

export class ChannelQueue {
  private channel: RTCDataChannel | undefined;
  private readonly queue: Frame[] = [];
  private head = 0;
  private queuedBytes = 0;
  /**
   * An upper bound of the channel's bufferedAmount: what it held when last
   * asked plus what went in since. Reading bufferedAmount is a synchronous
   * call into WebRTC's thread (~5 µs in wrtc), so it is asked only when
   * this bound is past the low-water mark.
   */
  private est = 0;
  private overMark = false;
  private closing = false;
  private dead = false;
  private poll: TimerId | undefined;
  private readonly clock: Clock;
  /** At least the most the channel held right after a send (tests check the high-water mark holds). */
  peakChannelBuffered = 0;

  constructor(private readonly o: ChannelQueueOptions) {
    this.clock = o.clock ?? systemClock;
  }

  /** Bytes waiting here plus what the channel holds (at most; exact once past the low-water mark). */
  get bufferedAmount(): number {
    return this.queuedBytes + (this.est > this.o.lowWaterMark ? this.ask() : this.est);
  }

  /** The channel is open: start moving frames into it. */
  attach(ch: RTCDataChannel): void {
    this.channel = ch;
    if (typeof ch.bufferedAmountLowThreshold === 'number') {
      ch.bufferedAmountLowThreshold = this.o.lowWaterMark;
      ch.addEventListener('bufferedamountlow', () => this.flush());
    }
    this.flush();
  }

  send(frame: Frame): void {
    if (this.dead || this.closing) return;
    const size = approxSize(frame);
    if (this.channel && this.head === this.queue.length && this.room(size)) {
      this.channelSend(frame, size);
    } else {
      // A copy: the caller may reuse its buffer before the frame leaves.
      this.queue.push(typeof frame === 'string' ? frame : new Uint8Array(frame));
      this.queuedBytes += size;
    }
    if (this.queuedBytes + this.est > this.o.lowWaterMark) this.overMark = true;
    this.waitIfNeeded();
  }

  /** Hand every queued frame to the channel, then close the channel (which sends what it buffers first). */
  closeWhenFlushed(): void {
    this.closing = true;
    this.flush();
  }

  /**
   * Drop everything; no more callbacks, and the channel is never touched
   * again: `@roamhq/wrtc` may crash the process (SIGSEGV) on a property read
   * of a channel whose connection is closed (node-webrtc#325, #576).
   */
  clear(): void {
    this.dead = true;
    this.channel = undefined;
    this.est = 0;
    if (this.poll !== undefined) this.clock.clearTimeout(this.poll);
    this.poll = undefined;
    this.queue.length = this.head = this.queuedBytes = 0;
  }

  private ask(): number {
    return (this.est = this.channel?.bufferedAmount ?? 0);
  }

  /**
   * May a frame of `size` go into the channel now? Up to the high-water
   * mark, and always once the channel is at or under the low one, so a
   * frame larger than (high - low) cannot wait for a bufferedamountlow that
   * will not come again.
   */
  private room(size: number): boolean {
    const { lowWaterMark: low, highWaterMark: high } = this.o;
    if (this.est <= low || this.est + size <= high) return true;
    const b = this.ask();
    return b <= low || b + size <= high;
  }

  private channelSend(frame: Frame, size: number): void {
    const ch = this.channel!;
    try {
      if (typeof frame === 'string') ch.send(frame);
      else ch.send(frame as Uint8Array<ArrayBuffer>);
    } catch (err) {
      // A closing channel throws (wrtc updates readyState late, so it cannot be asked first).
      // The peer started closing the channel; its last frames (a goodbye) may still be on their
      // way to us, so the link must not fail here: the close event follows. (Frames sent from
      // now on are lost, as on any link going down.) The channel is let go of at once, not at
      // that close event: in `@roamhq/wrtc` the channel's native half is freed on WebRTC's
      // own thread when it reaches 'closed', and a send or bufferedAmount running on ours at
      // that moment dereferences it after its null check (SIGSEGV; RTCDataChannel::Send,
      // node-webrtc#576). Touching a closing channel again only gives that race a chance.
      if ((err as Error)?.name === 'InvalidStateError' || /readyState/.test(errText(err))) {
        this.clear();
        return;
      }
      this.clear();
      this.o.onError(`rtc: send failed: ${errText(err)}`);
      return;
    }
    this.est += size;
    if (this.est > this.peakChannelBuffered) this.peakChannelBuffered = this.est;
  }

  private flush(): void {
    const ch = this.channel;
    if (this.dead || !ch) return;
    this.ask();
    while (this.head < this.queue.length) {
      const f = this.queue[this.head]!;
      const size = approxSize(f);
      if (!this.room(size)) break;
      this.queue[this.head++] = '';
      this.queuedBytes -= size;
      this.channelSend(f, size);
      if (this.dead) return;
    }
    if (this.head === this.queue.length) this.queue.length = this.head = 0;
    else if (this.head > 1024) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (this.closing) {
      if (this.head === this.queue.length) ch.close();
      else this.waitIfNeeded();
      return;
    }
    if (this.overMark && this.queuedBytes + this.ask() <= this.o.lowWaterMark) {
      this.overMark = false;
      this.o.onDrain();
    }
    this.waitIfNeeded();
  }

  private waitIfNeeded(): void {
    if (this.poll !== undefined || this.dead || !this.channel) return;
    if (this.head === this.queue.length && !this.overMark) return;
    // With bufferedamountlow the channel calls back by itself.
    if (typeof this.channel.bufferedAmountLowThreshold === 'number') return;
    this.poll = this.clock.setTimeout(() => {
      this.poll = undefined;
      this.flush();
    }, this.o.pollMs);
  }
}
