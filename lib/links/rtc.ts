/**
 * A WebRTC data-channel link (simple-peer 9, one ordered reliable channel).
 * The RTCPeerConnection implementation is injected: `@roamhq/wrtc` in Node
 * (node/rtc-env.ts), the browser's own when `wrtc` is left out. Signals
 * (SDP, ICE candidates) are plain objects the caller relays to the peer.
 *
 * Why it is built the way it is:
 * - Sending goes through a ChannelQueue that keeps the channel's buffer
 *   under a high-water mark (channel-queue.ts).
 * - simple-peer's stream turns text into Buffers unless in object mode
 *   (simple-peer#138, #240); object mode keeps strings strings.
 * - `peer.destroy()` closes the channel and the connection at once, which
 *   throws away whatever the channel still buffers (node-datachannel#188
 *   shows the same loss in Chrome). A local `close()` first empties the
 *   queue into the channel, then closes only the channel, whose closing
 *   procedure sends what it buffers; the peer sees the close after the
 *   last frame. `destroy()` is the hard way; on an open link it asks the
 *   peer to close the connection (askPeerToCut), because `@roamhq/wrtc`
 *   can crash a peer whose channel is closed under it while it sends.
 * - A peer that vanishes without closing may never produce a close here;
 *   heartbeats above the link catch that.
 * - Browsers hide host addresses behind mDNS names (`<uuid>.local`).
 *   `@roamhq/wrtc` cannot resolve them, so an implementation other than
 *   the environment's own `RTCPeerConnection` drops such remote candidates
 *   (option `mdns`); the connection still forms, because the Node side
 *   learns the browser's address from the browser's connectivity checks
 *   (a peer-reflexive candidate). A browser keeps them: it resolves them.
 */
import Peer from 'simple-peer';
import { AempError } from '../errors.ts';
import type { Frame, Link, LinkHandlers } from '../link.ts';
import { logger } from '../log.ts';
import { LinkEvents, errText } from './link-events.ts';
import { approxSize, checkFrameSize, frameFits, plainBytes } from './frame-size.ts';
import { ChannelQueue } from './channel-queue.ts';
import { clearSimplePeerTimer, systemClock, type Clock, type TimerId } from '../clock.ts';

const log = logger('rtc');

export const RTC_DEFAULT_MAX_FRAME = 16 * 1024;
/** How long a connection closed during its DTLS/SCTP set-up may take to settle before it is cut anyway. */
const SETTLE_MS = 3000;
/** The label of the data channel that asks the peer to cut the link (askPeerToCut). */
const CUT_LABEL = 'aemp-cut';

export interface RtcLinkOptions {
  /** The side that creates the offer and the channel. */
  initiator: boolean;
  /** RTCPeerConnection & co. (`@roamhq/wrtc` in Node); default: the browser's globals. */
  wrtc?: object;
  /** Default `{ iceServers: [] }`. */
  config?: RTCConfiguration;
  /** Called with each outgoing signal object, to be relayed to the peer. */
  signal(data: object): void;
  /** Timers of the link (connect and close timeouts, the queue's poll). Default: systemClock. */
  clock?: Clock;
  /** Largest frame, bytes (sent and taken). Default 16 KiB (what every implementation takes); what is sent is lowered to the connection's SCTP maxMessageSize if that is smaller. */
  maxFrameSize?: number;
  /** The most the channel itself may buffer; beyond it frames wait in the link. Default 1 MiB. */
  highWaterMark?: number;
  /** `drain` fires, and the channel is refilled, when the buffer falls to this. Default 256 KiB. */
  lowWaterMark?: number;
  /** `ready` rejects if the channel is not open after this long. Default 15 s. */
  timeoutMs?: number;
  /** A closing link may take this long to flush before it is cut; a cut link waits this long for the peer to close the connection. Default 5 s. */
  closeTimeoutMs?: number;
  /** Poll interval for channels without `bufferedamountlow` (wrtc). Default 2 ms. */
  drainPollMs?: number;
  /** Test option: never emit or accept ICE candidates, so ICE cannot succeed. */
  dropCandidates?: boolean;
  /**
   * Remote mDNS host candidates (`<uuid>.local`, as browsers send): 'keep'
   * them or 'drop' them before they reach the implementation. Default:
   * 'keep' with the environment's own RTCPeerConnection (browsers resolve
   * them), 'drop' with an injected one (`@roamhq/wrtc` cannot).
   */
  mdns?: 'keep' | 'drop';
  /** For log lines. */
  name?: string;
}

export interface RtcLinkHandle {
  link: Link;
  /** Feed a signal object from the peer. Bad signals close the link; they never throw. */
  receiveSignal(data: object): void;
  /** Resolves when the channel is open; rejects with AEMP_ERR_RTC if it fails, times out or is closed first. */
  ready: Promise<void>;
  /** Close at once, dropping anything still queued. */
  destroy(reason: string): void;
}

// What simple-peer keeps internally and this link needs (see its index.js).
interface PeerInternals {
  _channel: RTCDataChannel | null;
  _pc: RTCPeerConnection | null;
  _iceCompleteTimer: unknown;
}

let count = 0;

class RtcLink implements Link {
  readonly kind = 'rtc';
  maxFrameSize: number;
  readonly events: LinkEvents;
  readonly ready: Promise<void>;
  private state: 'connecting' | 'open' | 'closing' | 'closed' = 'connecting';
  private readonly peer: Peer.Instance;
  private readonly queue: ChannelQueue;
  private timer: TimerId | undefined;
  private readonly clock: Clock;
  private error: string | undefined;
  private resolveReady!: () => void;
  private rejectReady!: (err: AempError) => void;
  private readonly name: string;
  private readonly dropMdns: boolean;
  private settleTimer: TimerId | undefined;

  constructor(private readonly opts: RtcLinkOptions) {
    this.name = opts.name ?? `rtc ${++count}${opts.initiator ? ' (initiator)' : ''}`;
    this.clock = opts.clock ?? systemClock;
    this.maxFrameSize = opts.maxFrameSize ?? RTC_DEFAULT_MAX_FRAME;
    this.dropMdns = (opts.mdns ?? (isNativeRtc(opts.wrtc) ? 'keep' : 'drop')) === 'drop';
    const high = opts.highWaterMark ?? 1024 * 1024;
    this.events = new LinkEvents(this.name, (reason) => this.destroy(reason));
    this.queue = new ChannelQueue({
      highWaterMark: high,
      lowWaterMark: Math.min(opts.lowWaterMark ?? 256 * 1024, high),
      pollMs: opts.drainPollMs ?? 2,
      onDrain: () => this.events.drain(),
      onError: (reason) => this.destroy(reason),
      clock: this.clock,
    });
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // Nobody has to wait on `ready`; a failure also shows as a link close.
    this.ready.catch(() => {});

    try {
      this.peer = new Peer({
        initiator: opts.initiator,
        wrtc: opts.wrtc as Peer.Options['wrtc'],
        config: opts.config ?? { iceServers: [] },
        objectMode: true,
      });
    } catch (err) {
      // No WebRTC here (no wrtc given outside a browser).
      throw new AempError('AEMP_ERR_RTC', `${this.name}: ${errText(err)}`, { cause: err });
    }
    this.peer.on('signal', (data: object) => this.onLocalSignal(data));
    this.peer.on('connect', () => this.onConnect());
    this.peer.on('data', (data: Uint8Array | string) => this.onData(data));
    this.peer.on('error', (err: Error & { code?: string }) => {
      this.error ??= `rtc: ${err.message}${err.code ? ` (${err.code})` : ''}`;
      log.info(`${this.name}: ${this.error}`);
    });
    this.peer.on('close', () => this.onPeerClose());
    // Channels the peer opens pass through here first (onDataChannel).
    const pc = (this.peer as unknown as PeerInternals)._pc;
    if (pc) {
      const simplePeers = pc.ondatachannel as ((ev: RTCDataChannelEvent) => void) | null;
      pc.ondatachannel = (ev) => this.onDataChannel(ev, simplePeers);
    }
    const timeoutMs = opts.timeoutMs ?? 15_000;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.error ??= `rtc: not connected after ${timeoutMs} ms`;
      this.destroy(this.error);
    }, timeoutMs);
  }

  get bufferedAmount(): number {
    return this.queue.bufferedAmount;
  }
  get isOpen(): boolean {
    return this.state === 'open';
  }
  /** The most the channel itself held at once (the queue keeps it near the high-water mark). */
  get peakChannelBuffered(): number {
    return this.queue.peakChannelBuffered;
  }

  /** Before the channel opens, frames wait in the queue. */
  send(frame: Frame): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    checkFrameSize(frame, this.maxFrameSize, 'rtc');
    this.queue.send(frame);
  }

  close(reason = 'closed'): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    if (this.state === 'connecting') {
      this.destroy(reason);
      return;
    }
    this.state = 'closing';
    this.events.close(reason, true);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      log.info(`${this.name}: close did not finish in time, cutting`);
      this.peer.destroy();
    }, this.opts.closeTimeoutMs ?? 5000);
    this.queue.closeWhenFlushed();
  }

  setHandlers(h: Partial<LinkHandlers>): void {
    this.events.set(h);
  }

  /** Cut at once, dropping what is queued (the mesh's hard close on overflow). */
  terminate(reason: string): void {
    this.destroy(reason);
  }

  destroy(reason: string): void {
    if (this.state === 'closed') return;
    const wasConnecting = this.state === 'connecting';
    this.state = 'closed';
    this.events.close(reason, true);
    this.cleanup();
    if (wasConnecting) this.rejectReady(new AempError('AEMP_ERR_RTC', `${this.name}: ${reason}`));
    if (wasConnecting && this.midHandshake()) this.destroyWhenSettled();
    else if (!wasConnecting) this.askPeerToCut();
    else this.peer.destroy();
  }

  /**
   * An open link is cut by asking the peer to cut it: a second data channel
   * labelled CUT_LABEL opens to the peer, which on seeing it stops
   * touching its channel and closes the connection itself (onDataChannel).
   * Closing anything here at once would end the peer's channel while it
   * may be sending: `@roamhq/wrtc` frees the native half of a channel on
   * WebRTC's own thread when it reaches 'closed' (remotely closed, or its
   * connection gone), and a send or bufferedAmount running on the JS
   * thread at that moment dereferences it after its null check — a
   * SIGSEGV in RTCDataChannel::Send (the race behind node-webrtc#576,
   * #458; closing only the channel first leaves the peer a window of one
   * round trip, too short on a loaded machine). This side sends nothing
   * more (cleanup cleared the queue), so the close the peer makes cannot
   * race here. A peer that does not answer (an older version, or gone) is
   * cut after closeTimeoutMs.
   */
  private askPeerToCut(): void {
    const peer = this.peer;
    const pc = (peer as unknown as PeerInternals)._pc;
    const cut = this.clock.setTimeout(() => peer.destroy(), this.opts.closeTimeoutMs ?? 5000);
    peer.once('close', () => this.clock.clearTimeout(cut));
    try {
      if (!pc) throw new Error('no connection');
      pc.createDataChannel(CUT_LABEL);
    } catch (err) {
      log.debug(`${this.name}: cannot ask the peer to cut (${errText(err)}), cutting here`);
      this.clock.clearTimeout(cut);
      peer.destroy();
    }
  }

  /**
   * A channel opened by the peer: the peer's cut (askPeerToCut) or, on the
   * answering side, simple-peer's own channel, which goes on to it.
   */
  private onDataChannel(ev: RTCDataChannelEvent, simplePeers: ((ev: RTCDataChannelEvent) => void) | null): void {
    if (ev.channel?.label !== CUT_LABEL) {
      simplePeers?.(ev);
      return;
    }
    // Nothing may touch our channel from here on; closing the connection from
    // this thread cannot race a send of ours (see askPeerToCut).
    log.debug(`${this.name}: the peer cuts the link`);
    this.closedByPeer('rtc: closed by peer');
    this.peer.destroy();
  }

  /**
   * ICE is through but the channel is not open yet (DTLS/SCTP set-up).
   * `@roamhq/wrtc` 0.10 closed in this window crashes the process when it
   * exits (SIGSEGV in its teardown), so such a connection is closed only
   * once the set-up settled: opened, failed, or after SETTLE_MS.
   */
  private midHandshake(): boolean {
    const s = (this.peer as unknown as PeerInternals)._pc?.iceConnectionState;
    return s === 'checking' || s === 'connected' || s === 'completed';
  }

  private destroyWhenSettled(): void {
    if (this.settleTimer !== undefined) return;
    const peer = this.peer;
    const done = (): void => {
      if (this.settleTimer !== undefined) this.clock.clearTimeout(this.settleTimer);
      peer.destroy();
    };
    peer.once('connect', done);
    peer.once('close', () => this.settleTimer !== undefined && this.clock.clearTimeout(this.settleTimer));
    this.settleTimer = this.clock.setTimeout(done, SETTLE_MS);
  }

  receiveSignal(data: object): void {
    if (this.state === 'closed' || this.state === 'closing') return;
    const d = data as { candidate?: unknown; sdp?: unknown };
    if (this.opts.dropCandidates) {
      if (d.candidate) return;
      if (typeof d.sdp === 'string') data = { ...d, sdp: stripCandidates(d.sdp) };
    } else if (this.dropMdns) {
      const c = d.candidate as { candidate?: unknown } | string | undefined;
      const line = typeof c === 'string' ? c : c?.candidate;
      if (typeof line === 'string' && isMdnsCandidate(line)) {
        log.debug(`${this.name}: dropping mDNS candidate ${line}`);
        return;
      }
      if (typeof d.sdp === 'string' && d.sdp.includes('.local')) data = { ...d, sdp: stripMdnsCandidates(d.sdp) };
    }
    try {
      this.peer.signal(data as Peer.SignalData);
    } catch (err) {
      this.destroy(`rtc: bad signal: ${errText(err)}`);
    }
  }

  private onLocalSignal(data: object): void {
    if (this.state === 'closed') return;
    const d = data as { candidate?: unknown; sdp?: unknown };
    if (this.opts.dropCandidates) {
      if (d.candidate) return;
      if (typeof d.sdp === 'string') data = { ...d, sdp: stripCandidates(d.sdp) };
    }
    try {
      this.opts.signal(data);
    } catch (err) {
      log.error(`${this.name}: signal callback threw: ${errText(err)}`);
    }
  }

  private onConnect(): void {
    if (this.state !== 'connecting') return;
    const internals = this.peer as unknown as PeerInternals;
    const ch = internals._channel;
    if (!ch) {
      this.destroy('rtc: connected without a data channel');
      return;
    }
    const sctpMax = internals._pc?.sctp?.maxMessageSize;
    if (typeof sctpMax === 'number' && sctpMax > 0 && sctpMax < this.maxFrameSize) this.maxFrameSize = sctpMax;
    this.state = 'open';
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    log.debug(`${this.name}: open, maxFrameSize ${this.maxFrameSize}`);
    this.resolveReady();
    this.queue.attach(ch);
    // Frames come straight from the channel from now on, not through simple-peer's
    // stream (a Buffer made per frame, push, emit: most of a small message's cost).
    // What it already pushed has been emitted: push emits at once while flowing, or on
    // a microtask, and the next channel message is a task of its own.
    ch.onmessage = (ev: MessageEvent) => {
      if (this.state === 'closed') return;
      const d: unknown = ev.data;
      this.onData(typeof d === 'string' ? d : d instanceof ArrayBuffer ? new Uint8Array(d) : (d as Uint8Array));
    };
  }

  private onData(data: Uint8Array | string): void {
    // Against what we were configured to take, not what we send: the peer's view of the
    // connection's maxMessageSize (the lowering in onConnect) may differ from ours.
    const max = this.opts.maxFrameSize ?? RTC_DEFAULT_MAX_FRAME;
    if (!frameFits(data, max)) {
      const reason = `rtc: frame from peer exceeds maxFrameSize ${max}`;
      log.warn(`${this.name}: ${reason} (${approxSize(data)})`, 'frame-too-big');
      this.destroy(reason);
      return;
    }
    // simple-peer wraps binary messages in a Buffer view; hand on a plain Uint8Array.
    this.events.frame(typeof data === 'string' ? data : plainBytes(data));
  }

  private onPeerClose(): void {
    this.closedByPeer(this.error ?? (this.state === 'connecting' ? 'rtc: closed before the channel opened' : 'rtc: closed by peer'));
  }

  /** The peer ended the link (its connection closed, or it asked us to cut): nothing touches the channel again. */
  private closedByPeer(reason: string): void {
    const wasConnecting = this.state === 'connecting';
    this.state = 'closed';
    this.cleanup();
    this.events.close(reason);
    if (wasConnecting) this.rejectReady(new AempError('AEMP_ERR_RTC', `${this.name}: ${reason}`));
  }

  private cleanup(): void {
    // simple-peer never clears its 5 s ICE-gathering timer, which would keep
    // a Node process alive that long after the last link closed.
    const iceTimer = (this.peer as unknown as PeerInternals)._iceCompleteTimer;
    if (iceTimer) clearSimplePeerTimer(iceTimer);
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.clear();
  }
}

/** Is `wrtc` the environment's own WebRTC (a browser's), or nothing (the globals are used)? */
function isNativeRtc(wrtc: object | undefined): boolean {
  if (wrtc === undefined) return true;
  const g = (globalThis as { RTCPeerConnection?: unknown }).RTCPeerConnection;
  return g !== undefined && (wrtc as { RTCPeerConnection?: unknown }).RTCPeerConnection === g;
}

/** "candidate:… 1 udp 2122260223 0f1c…-….local 54321 typ host …": the address (5th field) is an mDNS name. */
export function isMdnsCandidate(line: string): boolean {
  const f = line.replace(/^a=/, '').split(' ');
  return f.length > 5 && /\.local\.?$/i.test(f[4]!);
}

function stripMdnsCandidates(sdp: string): string {
  return sdp
    .split('\r\n')
    .filter((l) => !(l.startsWith('a=candidate:') && isMdnsCandidate(l)))
    .join('\r\n');
}

function stripCandidates(sdp: string): string {
  return sdp
    .split('\r\n')
    .filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates')
    .join('\r\n');
}

/** A WebRTC data-channel link; relay `signal` output to the peer's `receiveSignal`. */
export function createRtcLink(opts: RtcLinkOptions): RtcLinkHandle {
  const link = new RtcLink(opts);
  return {
    link,
    receiveSignal: (data) => link.receiveSignal(data),
    ready: link.ready,
    destroy: (reason) => link.destroy(reason),
  };
}
