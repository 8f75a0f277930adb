/**
 * Conn: one authenticated link to one peer node. It batches every packet
 * queued in one tick into one frame ("autocork"), bounds what it buffers,
 * sends heartbeats and measures RTT, and turns bad input into a logged
 * close of this link only.
 */
import type { Clock, TimerId } from '../clock.ts';
import { unrefTimer } from '../clock.ts';
import type { NodeId } from '../ids.ts';
import type { Link, Frame } from '../link.ts';
import { logger } from '../log.ts';
import { FrameDecoder, FrameEncoder, type Framing, type Packet } from '../protocol/codec.ts';

const log = logger('conn');

export interface ConnOptions {
  link: Link;
  framing: Framing;
  peer: NodeId;
  peerIsSeed: boolean;
  /** True when this side dialled. */
  outbound: boolean;
  clock: Clock;
  /** No data for this long → the link is dead (heartbeats arrive 5x as often). */
  monitorTimeoutMs: number;
  /** Bytes the transport may hold unsent before the link counts as overflowing. */
  maxBufferedBytes: number;
  /** Packets queued in one tick before the link counts as overflowing. */
  maxQueuedPackets: number;
  maxMessageSize: number;
  onPacket(p: Packet, c: Conn): void;
  onClose(reason: string, c: Conn): void;
  /** Frames that arrived behind the handshake are handed over through this. */
  attach?: (fn: (f: Frame) => void) => void;
}

/** Packets per batch before a new frame starts (the codec fragments big ones anyway). */
const BATCH = 4096;

export class Conn {
  readonly peer: NodeId;
  readonly peerIsSeed: boolean;
  readonly link: Link;
  rttMs: number | undefined;
  /** Packets this conn carried to the peer (tests and benchmarks count relay traffic with it). */
  sentPackets = 0;
  private enc: FrameEncoder;
  private dec: FrameDecoder;
  private q: Packet[] = [];
  private corked = false;
  private closed = false;
  private lastRx: number;
  private lastPing = 0;
  private hb: TimerId | undefined;

  constructor(private readonly o: ConnOptions) {
    this.peer = o.peer;
    this.peerIsSeed = o.peerIsSeed;
    this.link = o.link;
    const codec = { framing: o.framing, maxFrameSize: o.link.maxFrameSize, maxMessageSize: o.maxMessageSize };
    this.enc = new FrameEncoder(codec);
    this.dec = new FrameDecoder(codec);
    this.lastRx = o.clock.now();
    o.link.setHandlers({
      frame: (f) => this.onFrame(f),
      close: (reason) => this.finish(`link closed: ${reason}`),
    });
    o.attach?.((f) => this.onFrame(f));
    this.scheduleHeartbeat();
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Queue a packet; everything queued in this tick leaves in one batch. */
  send(p: Packet): void {
    if (this.closed) return;
    this.q.push(p);
    if (!this.corked) {
      this.corked = true;
      queueMicrotask(this.flush);
    } else if (this.q.length > this.o.maxQueuedPackets) {
      this.close(`send queue overflow: more than ${this.o.maxQueuedPackets} packets queued`);
    }
  }

  private flush = (): void => {
    this.corked = false;
    if (this.closed) return;
    const q = this.q;
    this.q = [];
    try {
      for (let i = 0; i < q.length; i += BATCH) {
        const frames = this.enc.encode(i === 0 && q.length <= BATCH ? q : q.slice(i, i + BATCH));
        for (const f of frames) this.o.link.send(f);
      }
    } catch (e) {
      this.close(`cannot encode a packet: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    this.sentPackets += q.length;
    if (this.o.link.bufferedAmount > this.o.maxBufferedBytes)
      this.close(`send queue overflow: ${this.o.link.bufferedAmount} bytes buffered (limit ${this.o.maxBufferedBytes})`);
  };

  private onFrame(f: Frame): void {
    if (this.closed) return;
    this.lastRx = this.o.clock.now();
    let packets: Packet[];
    try {
      packets = this.dec.decode(f);
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'AEMP_ERR_FRAME_GARBAGE';
      this.close(`protocol error from ${this.peer}: ${code}: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    for (const p of packets) {
      if (this.closed) return;
      const t = p[0];
      if (t === 'p') this.send(['P', p[1]]);
      else if (t === 'P') {
        if (typeof p[1] === 'number') this.rttMs = Math.max(0, this.o.clock.now() - p[1]);
      } else this.o.onPacket(p, this);
    }
  }

  private scheduleHeartbeat(): void {
    const mt = this.o.monitorTimeoutMs;
    this.hb = unrefTimer(this.o.clock.setTimeout(() => this.beat(), Math.max(10, mt / 10)));
  }

  private beat(): void {
    if (this.closed) return;
    const now = this.o.clock.now();
    const mt = this.o.monitorTimeoutMs;
    if (now - this.lastRx > mt) {
      this.close(`heartbeat timeout: nothing from ${this.peer} for ${now - this.lastRx} ms`);
      return;
    }
    if (now - this.lastPing >= mt / 5) {
      this.lastPing = now;
      this.send(['p', now]);
    }
    this.scheduleHeartbeat();
  }

  /** Say goodbye (peers' monitors fire at once) and close. */
  goodbye(reason: string): void {
    if (this.closed) return;
    this.send(['bye', reason]);
    this.flush();
    this.close(`goodbye: ${reason}`);
  }

  close(reason: string): void {
    if (this.closed) return;
    this.finish(reason);
    this.o.link.close(reason);
  }

  private finish(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.q = [];
    if (this.hb !== undefined) this.o.clock.clearTimeout(this.hb);
    log.info(`link to ${this.peer} closed: ${reason}`);
    this.o.onClose(reason, this);
  }
}
