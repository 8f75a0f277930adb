/**
 * An in-memory link pair for kernel and mesh tests: two ends that deliver to
 * each other asynchronously and in order, like a real transport, with an
 * optional latency and an injectable clock.
 */
import { systemClock, type Clock } from '../clock.ts';
import type { Frame, Link, LinkHandlers } from '../link.ts';
import { LinkEvents } from './link-events.ts';
import { approxSize, checkFrameSize } from './frame-size.ts';

export interface MemoryLinkOptions {
  /** Largest frame, bytes. Default 1 MiB. */
  maxFrameSize?: number;
  /** One-way delay per frame. Default 0: delivery in a microtask. */
  latencyMs?: number;
  /** `drain` fires when the bytes in flight fall to this. Default 256 KiB. */
  lowWaterMark?: number;
  /** Timers for latency (e.g. a ManualClock). Default: systemClock. */
  clock?: Clock;
}

interface Item {
  at: number;
  frame?: Frame;
  size: number;
  close?: string;
}

let pairs = 0;

class MemoryLink implements Link {
  readonly kind = 'memory';
  peer!: MemoryLink;
  readonly events: LinkEvents;
  private closed = false;
  private inFlight = 0;
  private overMark = false;
  private readonly queue: Item[] = [];
  private qHead = 0;
  private scheduled = false;

  constructor(
    name: string,
    readonly maxFrameSize: number,
    private readonly latencyMs: number,
    private readonly lowWaterMark: number,
    private readonly clock: Clock,
  ) {
    this.events = new LinkEvents(name, (reason) => this.close(reason));
  }

  get bufferedAmount(): number {
    return this.inFlight;
  }
  get isOpen(): boolean {
    return !this.closed;
  }

  send(frame: Frame): void {
    if (this.closed) return;
    checkFrameSize(frame, this.maxFrameSize, 'memory');
    // A copy, so neither side's later writes show on the other.
    const f = typeof frame === 'string' ? frame : new Uint8Array(frame);
    const size = approxSize(f);
    this.inFlight += size;
    if (this.inFlight > this.lowWaterMark) this.overMark = true;
    this.enqueue({ at: this.clock.now() + this.latencyMs, frame: f, size });
  }

  close(reason = 'closed'): void {
    if (this.closed) return;
    this.closed = true;
    this.events.close(reason, true);
    // The peer sees the close after the frames sent before it.
    this.enqueue({ at: this.clock.now() + this.latencyMs, size: 0, close: reason });
  }

  setHandlers(h: Partial<LinkHandlers>): void {
    this.events.set(h);
  }

  /** The peer closed: no more sends from this end either. */
  remoteClosed(reason: string): void {
    this.closed = true;
    this.events.close(reason);
  }

  private enqueue(item: Item): void {
    this.queue.push(item);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.qHead >= this.queue.length) return;
    this.scheduled = true;
    if (this.latencyMs <= 0) {
      queueMicrotask(() => this.deliver(false));
    } else {
      const wait = Math.max(0, this.queue[this.qHead]!.at - this.clock.now());
      this.clock.setTimeout(() => this.deliver(true), wait);
    }
  }

  private deliver(timed: boolean): void {
    this.scheduled = false;
    const now = this.clock.now();
    // The item the timer was set for is due even if the clocks disagree by a tick.
    let first = timed;
    while (this.qHead < this.queue.length) {
      const item = this.queue[this.qHead]!;
      if (timed && !first && item.at > now) break;
      first = false;
      this.queue[this.qHead++] = undefined as unknown as Item;
      if (item.close !== undefined) this.peer.remoteClosed(item.close);
      else {
        this.inFlight -= item.size;
        this.peer.events.frame(item.frame!);
        if (this.overMark && this.inFlight <= this.lowWaterMark) {
          this.overMark = false;
          this.events.drain();
        }
      }
    }
    if (this.qHead >= this.queue.length) {
      this.queue.length = 0;
      this.qHead = 0;
    } else if (this.qHead > 1024) {
      this.queue.splice(0, this.qHead);
      this.qHead = 0;
    }
    this.schedule();
  }
}

/** Two connected in-memory links: what one sends, the other receives. */
export function memoryLinkPair(opts: MemoryLinkOptions = {}): [Link, Link] {
  const max = opts.maxFrameSize ?? 1024 * 1024;
  const latency = opts.latencyMs ?? 0;
  const low = opts.lowWaterMark ?? 256 * 1024;
  const clock = opts.clock ?? systemClock;
  const n = ++pairs;
  const a = new MemoryLink(`memory ${n}a`, max, latency, low, clock);
  const b = new MemoryLink(`memory ${n}b`, max, latency, low, clock);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
