/**
 * The send queue in front of an RTCDataChannel. `send` on a data channel has
 * no back-pressure and Chromium closes a channel whose buffer passes 16 MiB,
 * so frames go into the channel only while its buffer is under the
 * high-water mark; the rest wait here. The queue refills the channel on
 * `bufferedamountlow`, or by polling where the implementation lacks that
 * event (`@roamhq/wrtc`, see node-webrtc#305), and only while something
 * waits.
 */
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
}

export class ChannelQueue {
  private channel: RTCDataChannel | undefined;
  private readonly queue: Frame[] = [];
  private head = 0;
  private queuedBytes = 0;
  private overMark = false;
  private closing = false;
  private dead = false;
  private poll: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly o: ChannelQueueOptions) {}

  /** Bytes waiting here plus what the channel holds. */
  get bufferedAmount(): number {
    return this.queuedBytes + (this.channel?.bufferedAmount ?? 0);
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
      this.channelSend(frame);
    } else {
      // A copy: the caller may reuse its buffer before the frame leaves.
      this.queue.push(typeof frame === 'string' ? frame : new Uint8Array(frame));
      this.queuedBytes += size;
    }
    if (this.bufferedAmount > this.o.lowWaterMark) this.overMark = true;
    this.waitIfNeeded();
  }

  /** Hand every queued frame to the channel, then close the channel (which sends what it buffers first). */
  closeWhenFlushed(): void {
    this.closing = true;
    this.flush();
  }

  /** Drop everything; no more callbacks. */
  clear(): void {
    this.dead = true;
    if (this.poll !== undefined) clearTimeout(this.poll);
    this.poll = undefined;
    this.queue.length = this.head = this.queuedBytes = 0;
  }

  /**
   * May a frame of `size` go into the channel now? Up to the high-water
   * mark, and always once the channel is at or under the low one, so a
   * frame larger than (high - low) cannot wait for a bufferedamountlow that
   * will not come again.
   */
  private room(size: number): boolean {
    const b = this.channel!.bufferedAmount;
    return b <= this.o.lowWaterMark || b + size <= this.o.highWaterMark;
  }

  private channelSend(frame: Frame): void {
    try {
      if (typeof frame === 'string') this.channel!.send(frame);
      else this.channel!.send(frame as Uint8Array<ArrayBuffer>);
    } catch (err) {
      this.clear();
      this.o.onError(`rtc: send failed: ${errText(err)}`);
    }
  }

  private flush(): void {
    const ch = this.channel;
    if (this.dead || !ch) return;
    while (this.head < this.queue.length) {
      const f = this.queue[this.head]!;
      const size = approxSize(f);
      if (!this.room(size)) break;
      this.queue[this.head++] = '';
      this.queuedBytes -= size;
      this.channelSend(f);
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
    if (this.overMark && this.bufferedAmount <= this.o.lowWaterMark) {
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
    this.poll = setTimeout(() => {
      this.poll = undefined;
      this.flush();
    }, this.o.pollMs);
  }
}
