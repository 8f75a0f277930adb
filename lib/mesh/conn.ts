/**
 * Conn: one authenticated link to one peer node. It batches every packet
 * queued in one tick into one frame ("autocork"), bounds what it buffers,
 * keeps liveness (liveness.ts: one sweep for all links, pings only on idle
 * links) and measures RTT, and turns bad input into a logged close of this
 * link only.
 *
 * Overflow (too many packets or bytes queued) is a transport error: the
 * link is cut hard, dropping what it buffers, so messages declared lost
 * (monitors fired) are really never delivered, and the peer sees the link
 * go at once instead of after a drain (when a reconnect would still be
 * refused as a duplicate).
 */
import type { Clock, TimerId } from '../clock.ts';
import { microtask, unrefTimer } from '../clock.ts';
import type { NodeId } from '../ids.ts';
import type { Link, Frame } from '../link.ts';
import { logger } from '../log.ts';
import type { LinkEnd } from './errors.ts';
import { FRAME_CODES } from '../protocol/errors.ts';
import { FrameDecoder, FrameEncoder, type Framing, type Packet, type RelayCodec } from '../protocol/codec.ts';
import { livenessFor, type Live, type Liveness } from './liveness.ts';
import type { PeerKind } from './peer-kind.ts';
import type { KindLimits } from './batch-limits.ts';

const log = logger('conn');

export interface ConnOptions {
  link: Link;
  framing: Framing;
  peer: NodeId;
  peerIsSeed: boolean;
  /** What the peer may do: from its authenticated introduction (peer-kind.ts). */
  kind: PeerKind;
  /** True when this side dialled (it is the side that pings). */
  outbound: boolean;
  clock: Clock;
  /** No data for this long → the link is dead (an idle link is pinged at 0.8 of it: liveness.ts). */
  monitorTimeoutMs: number;
  /** Bytes the transport may hold unsent before the link counts as overflowing. */
  maxBufferedBytes: number;
  /** Packets queued in one tick before the link counts as overflowing. */
  maxQueuedPackets: number;
  maxMessageSize: number;
  /** Batch limits by kind (batch-limits.ts): the peer's kind picks what is decoded, `self` what is encoded. Unset: maxMessageSize both ways. */
  limits?: KindLimits;
  /** A seed's link: relay packets from a secret holder are decoded up to their addresses only (raw-tail.ts; the seed role's codec). */
  relay?: RelayCodec;
  onPacket(p: Packet, c: Conn): void;
  onClose(reason: string, c: Conn): void;
  /** Frames that arrived behind the handshake are handed over through this. */
  attach?: (fn: (f: Frame) => void) => void;
  /** The peer hears the link's own heartbeats (HandshakeResult.peerHearsPings): ping with Link.ping where the link has it. */
  peerHearsPings?: boolean;
}

/** Packets per batch before a new frame starts (the codec fragments big ones anyway). */
const BATCH = 4096;

/**
 * Conns with packets queued in this tick, flushed by one microtask for all of
 * them (a group change fanned out to 10,000 links is one microtask, not
 * 10,000), in the order they were first sent to.
 */
let corked: Conn[] = [];

function flushCorked(): void {
  const list = corked;
  corked = [];
  for (let i = 0; i < list.length; i++) {
    try {
      list[i]!.flush();
    } catch (e) {
      // One conn's failure must not leave the others corked for good.
      list[i]!.close(`cannot send: ${e instanceof Error ? e.message : String(e)}`, true);
    }
  }
}

/** Links that can be cut without flushing (ws: terminate, rtc: destroy). */
interface HardLink extends Link {
  terminate?(reason: string): void;
}

export class Conn implements Live {
  readonly peer: NodeId;
  readonly peerIsSeed: boolean;
  readonly kind: PeerKind;
  readonly link: Link;
  /** The last round trip measured by a ping, ms. */
  rttMs: number | undefined;
  /** Packets this conn carried to the peer (tests and benchmarks count relay traffic with it). */
  sentPackets = 0;
  /**
   * The numbers of the last message ('m' or 'n') sent and received on this
   * link: a message numbered on from the last travels as ['n', port, msg]
   * (mesh.ts), ten bytes less than ['m', sid, seq, port, msg]. -1: none yet.
   */
  txSid = -1;
  txSeq = -1;
  rxSid = -1;
  rxSeq = -1;
  /** Direct links send messages through this (compact, kept until confirmed: direct-resend.ts); it hears of every frame encoded. */
  messages: { send(sid: number, seq: number, port: string, msg: unknown[]): void; encoded(frames: Frame[]): void } | undefined;
  // Set in the constructor, in this order (`declare`: no field definitions in the page bundle).
  declare readonly framing: Framing;
  private declare readonly clock: Clock;
  private declare readonly monitorTimeoutMs: number;
  private declare readonly maxBufferedBytes: number;
  private declare readonly maxQueuedPackets: number;
  private declare readonly onPacket: ConnOptions['onPacket'];
  private declare readonly onClose: ConnOptions['onClose'];
  private readonly enc: FrameEncoder;
  private readonly dec: FrameDecoder;
  /**
   * Packets queued in this tick; made by the first send() of a tick and let go
   * by flush(), so an idle link holds no queue and a link the heartbeat
   * sweep pings does not tie a fresh young array to an old Conn each time
   * (the minor GC would copy it out, and the next flush make it garbage).
   */
  private q: Packet[] | undefined = undefined;
  /** Messages appended this tick to a queued packet (a relay run): they count toward maxQueuedPackets too. */
  private appended = 0;
  private corked = false;
  private closed = false;
  // Numbers, initialised as numbers: V8 then stores each in place (a field that starts
  // undefined takes a fresh heap number per write, which outlives minor GCs on an old
  // Conn and is promoted: an idle seed's heap grew by it with every ping).
  lastRx = 0;
  lastTx = 0;
  lastPing = 0;
  readonly pinger: boolean;
  /**
   * Ping with the transport's own heartbeat (a WebSocket ping frame, answered
   * by the peer's ws without its mesh code), not a ['p', t] packet: nothing to
   * encode, frame or decode on either side, one shared buffer to write. Only
   * where the peer said it hears them (a browser's WebSocket answers pings
   * but does not tell the page); off for good once the peer pings with ['p']
   * itself, as a peer that does not hear ours would.
   */
  private transportPings: boolean;
  private readonly live: Liveness;
  private fragTimer: TimerId | undefined = undefined;

  /**
   * Keeps what it needs of `o` in fields of its own, not `o` itself (most of
   * it is the same for every link of a mesh; memory per idle link).
   */
  constructor(o: ConnOptions) {
    this.peer = o.peer;
    this.peerIsSeed = o.peerIsSeed;
    this.kind = o.kind;
    this.link = o.link;
    this.framing = o.framing;
    this.clock = o.clock;
    this.monitorTimeoutMs = o.monitorTimeoutMs;
    this.maxBufferedBytes = o.maxBufferedBytes;
    this.maxQueuedPackets = o.maxQueuedPackets;
    this.onPacket = o.onPacket;
    this.onClose = o.onClose;
    this.live = livenessFor(o.clock, o.monitorTimeoutMs);
    const codec = { framing: o.framing, maxFrameSize: o.link.maxFrameSize };
    const lim = (k: PeerKind) => (o.limits === undefined ? { maxMessageSize: o.maxMessageSize } : k === 'secret' ? o.limits.secret : o.limits.page);
    this.enc = new FrameEncoder({ ...codec, ...lim(o.limits?.self ?? 'secret'), relay: o.relay });
    // A fragmented batch must be complete within monitor_timeout of its first fragment (watchFragments).
    // One `now` per clock (the Liveness's): the decoders of links with the same options share their state by it (codec-pool.ts).
    this.dec = new FrameDecoder({ ...codec, ...lim(o.kind), fragmentTimeoutMs: o.monitorTimeoutMs, now: this.live.now, relay: o.kind === 'secret' ? o.relay : undefined });
    this.lastRx = this.lastTx = o.clock.now();
    this.pinger = !o.outbound; // the accepting side pings (liveness.ts)
    // Bound methods, not arrow functions: under tsx every named arrow function gets
    // a `name` property stored out of line, ~250 bytes per link each.
    this.transportPings = o.peerHearsPings === true && o.link.ping !== undefined;
    o.link.setHandlers({
      frame: this.onFrame.bind(this),
      close: this.linkClosed.bind(this),
      alive: o.link.ping !== undefined ? this.alive.bind(this) : undefined,
    });
    o.attach?.((f) => this.onFrame(f));
    this.live.add(this);
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Queue a packet; everything queued in this tick leaves in one batch. */
  send(p: Packet): void {
    if (this.closed) return;
    if (this.q === undefined) this.q = [p];
    else this.q.push(p);
    if (!this.corked) {
      this.corked = true;
      corked.push(this);
      if (corked.length === 1) microtask(flushCorked);
    } else this.bound();
  }

  /** The packet queued last and not sent yet, if any: relay-runs.ts appends the next message of a relay run to it. */
  queued(): Packet | undefined {
    return this.q?.[this.q.length - 1];
  }

  /** A message was appended to queued(): it counts toward the queue's bound as a packet would. */
  grew(): void {
    if (this.closed) return;
    this.appended++;
    this.bound();
  }

  private bound(): void {
    if (this.q!.length + this.appended > this.maxQueuedPackets)
      this.close(`send queue overflow: more than ${this.maxQueuedPackets} packets queued`, true);
  }

  /** Send what is queued now (the autocork microtask calls this for every corked conn). */
  flush(): void {
    this.corked = false;
    this.appended = 0;
    const q = this.q;
    if (this.closed || q === undefined) return;
    this.q = undefined;
    const kept: Frame[] | undefined = this.messages !== undefined ? [] : undefined;
    // Frames the link copies as it sends them need no copy of their own (unless kept for a resend).
    const transient = kept === undefined && this.link.copiesFrames === true;
    try {
      for (let i = 0; i < q.length; i += BATCH) {
        const batch = i === 0 && q.length <= BATCH ? q : q.slice(i, i + BATCH);
        const frames = this.enc.encode(batch, transient);
        for (const f of frames) this.link.send(f);
        if (kept !== undefined) for (const f of frames) kept.push(f);
      }
      if (kept !== undefined) this.messages!.encoded(kept);
    } catch (e) {
      this.close(`cannot encode a packet: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    this.sentPackets += q.length;
    this.lastTx = this.clock.now();
    if (this.link.bufferedAmount > this.maxBufferedBytes)
      this.close(`send queue overflow: ${this.link.bufferedAmount} bytes buffered (limit ${this.maxBufferedBytes})`, true);
  }

  private linkClosed(reason: string): void {
    this.finish(`link closed: ${reason}`);
  }

  private onFrame(f: Frame): void {
    if (this.closed) return;
    this.lastRx = this.clock.now();
    let packets: Packet[];
    try {
      packets = this.dec.decode(f);
    } catch (e) {
      const code = (e as { code?: string }).code ?? FRAME_CODES.GARBAGE;
      this.close(`protocol error from ${this.peer}: ${code}: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    this.watchFragments();
    for (const p of packets) {
      if (this.closed) return;
      const t = p[0];
      if (t === 'p') {
        this.transportPings = false;
        this.send(['P', p[1]]);
      }
      else if (t === 'P') {
        if (typeof p[1] === 'number') this.rttMs = Math.max(0, this.lastRx - p[1]);
      } else this.onPacket(p, this);
    }
  }

  /**
   * A fragmented batch open: cut the link at its deadline, even if its
   * fragments keep trickling in (each one resets the heartbeat timeout).
   */
  private watchFragments(): void {
    const due = this.dec.deadline;
    if (due === undefined) {
      if (this.fragTimer !== undefined) this.clock.clearTimeout(this.fragTimer);
      this.fragTimer = undefined;
    } else if (this.fragTimer === undefined) {
      const late = () => {
        const held = this.dec.pendingBytes;
        this.close(`protocol error from ${this.peer}: ${FRAME_CODES.FRAGMENT_TIMEOUT}: fragmented batch not complete within ${this.monitorTimeoutMs} ms of its first fragment (${held} bytes held)`);
      };
      this.fragTimer = unrefTimer(this.clock.setTimeout(late, Math.max(0, due - this.clock.now()) + 1));
    }
  }

  /** Measure the RTT now instead of at the next idle ping. */
  ping(): void {
    const now = this.clock.now();
    this.lastPing = now;
    if (this.transportPings && !this.closed) {
      this.link.ping!();
      this.lastTx = now;
      this.sentPackets++;
    } else this.send(['p', now]);
  }

  /** The transport heard a heartbeat (Link.ping): the peer's answer to ours, or its own ping. */
  private alive(): void {
    if (this.closed) return;
    const now = this.clock.now();
    // The first sign of life since our ping is its answer.
    if (this.lastPing > this.lastRx) this.rttMs = Math.max(0, now - this.lastPing);
    this.lastRx = now;
  }

  /** Called by the liveness sweep: nothing arrived for `silentMs`. */
  dead(silentMs: number): void {
    this.close(`heartbeat timeout: nothing from ${this.peer} for ${silentMs} ms`);
  }

  /** How the link ended (mesh.ts sets 'goodbye' when the peer says bye). */
  end: LinkEnd = 'lost';

  /** Say goodbye (peers' monitors fire at once) and close. */
  goodbye(reason: string): void {
    this.end = 'goodbye';
    this.lastWord(['bye', reason], `goodbye: ${reason}`);
  }

  /** Send `p` behind everything queued, then close gracefully. */
  lastWord(p: Packet, reason: string): void {
    if (this.closed) return;
    this.send(p);
    this.flush();
    this.close(reason);
  }

  /** Close the link; `hard` drops whatever it still buffers instead of flushing it first. */
  close(reason: string, hard = false): void {
    if (this.closed) return;
    this.finish(reason);
    const l = this.link as HardLink;
    if (hard && typeof l.terminate === 'function') l.terminate(reason);
    else l.close(reason);
  }

  private finish(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.q = undefined;
    this.live.delete(this);
    this.dec.reset(); // a half-received batch goes with the link
    if (this.fragTimer !== undefined) this.clock.clearTimeout(this.fragTimer);
    log.info(`link to ${this.peer} closed: ${reason}`);
    this.onClose(reason, this);
  }
}
