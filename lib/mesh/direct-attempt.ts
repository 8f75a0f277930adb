/**
 * One try at a direct link with one peer: the WebRTC link being set up,
 * then the Conn over its data channel, what was received over it (and its
 * acknowledgements), and its timers. The switch and the fallback that use
 * it live in direct.ts.
 */
import type { Clock, TimerId } from '../clock.ts';
import { unrefTimer } from '../clock.ts';
import type { NodeId } from '../ids.ts';
import type { RtcLinkHandle, RtcLinkOptions } from '../links/rtc.ts';
import type { Framing } from '../protocol/codec.ts';
import type { Conn } from './conn.ts';
import type { DirectTx } from './direct-resend.ts';

/** Signals held while the link is still being created. */
const MAX_EARLY_SIGNALS = 256;
/** Messages received before an acknowledgement goes out at once. */
const ACK_EVERY = 16384;
/** The longest an arrived message waits to be acknowledged. */
const ACK_DELAY_MS = 10;

// simple-peer is loaded only once a node actually tries a direct link.
type RtcModule = typeof import('../links/rtc.ts');
let rtcModule: Promise<RtcModule> | undefined;
const loadRtc = (): Promise<RtcModule> => (rtcModule ??= import('../links/rtc.ts'));

export const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export class Attempt {
  /** 'rtc': a WebRTC data channel; 'ws': a WebSocket to a listening node (direct-ws.ts). */
  mode: 'rtc' | 'ws' = 'rtc';
  /** The node that began this attempt: when two attempts cross, the one begun by the smaller node ID wins. */
  by: NodeId;
  /** 'ws': the dial in progress (aborted when the attempt ends), and the deadline for the link. */
  dialAbort: AbortController | undefined;
  wsTimer: TimerId | undefined;
  handle: RtcLinkHandle | undefined;
  conn: Conn | undefined;
  tx: DirectTx | undefined;
  /** The peer's marker came before our channel was up: confirm it once it is. */
  confirmOnOpen = false;
  /** This side or the peer closes the link for idleness: not a failure. */
  closingIdle = false;
  switchTimer: TimerId | undefined;
  /** Messages received over the channel; compact 'n' packets are numbered on from (rxSid, rxSeq). */
  rx = 0;
  rxSid = -1;
  rxSeq = -1;
  private early: object[] = [];
  private unacked = 0;
  private ackTimer: TimerId | undefined;
  private idleTimer: TimerId | undefined;
  private gone = false;

  constructor(
    readonly peer: NodeId,
    /** Names this attempt in signals and markers. */
    readonly cid: number,
    /** This side offers (the smaller node ID). */
    readonly initiator: boolean,
    /** The offerer's framing, used on the channel. */
    readonly framing: Framing,
    private readonly clock: Clock,
    me?: NodeId,
  ) {
    this.by = initiator ? (me ?? peer) : peer;
  }

  /** 'ws': call `late` unless a link is up within `ms`. */
  expect(ms: number, late: () => void): void {
    this.wsTimer = unrefTimer(this.clock.setTimeout(() => !this.gone && this.conn === undefined && late(), ms));
  }

  /**
   * Create the WebRTC link (loading simple-peer first); `opened` when its
   * channel is open, `failed` if it cannot be created or does not open.
   */
  connect(o: Omit<RtcLinkOptions, 'initiator'>, opened: () => void, failed: (why: string) => void): void {
    loadRtc().then(
      (rtc) => {
        if (this.gone) return;
        let h: RtcLinkHandle;
        try {
          h = rtc.createRtcLink({ clock: this.clock, ...o, initiator: this.initiator });
        } catch (e) {
          failed(`cannot create a WebRTC connection: ${errText(e)}`);
          return;
        }
        this.handle = h;
        for (const s of this.early) h.receiveSignal(s);
        this.early = [];
        h.ready.then(opened, (e: unknown) => failed(errText(e)));
      },
      (e: unknown) => failed(`cannot load the WebRTC link: ${errText(e)}`),
    );
  }

  /** A signal from the peer. */
  feed(data: object): void {
    if (this.handle !== undefined) this.handle.receiveSignal(data);
    else if (this.early.length < MAX_EARLY_SIGNALS) this.early.push(data);
  }

  /**
   * A message arrived over the channel. Acknowledged every ACK_EVERY
   * messages, else ACK_DELAY_MS after the first unacknowledged one: each
   * ack is a data-channel send of its own, a synchronous call into WebRTC's
   * thread (tens of microseconds idle, up to milliseconds while that thread
   * is busy receiving), whatever its size.
   */
  received(): void {
    this.rx++;
    if (++this.unacked >= ACK_EVERY) this.ack();
    else if (this.ackTimer === undefined) this.ackTimer = unrefTimer(this.clock.setTimeout(() => this.ack(), ACK_DELAY_MS));
  }

  private ack(): void {
    if (this.ackTimer !== undefined) this.clock.clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.unacked = 0;
    this.conn?.send(['ack', this.rxSid, this.rxSeq]);
  }

  /** Call `onIdle(ms)` once no message went either way for `idleMs`. */
  watchIdle(idleMs: number, onIdle: (ms: number) => void): void {
    const every = Math.max(10, Math.min(idleMs / 4, 30_000));
    let count = -1;
    let since = 0;
    const tick = (): void => {
      this.idleTimer = undefined;
      if (this.gone || !this.conn?.isOpen) return;
      const n = this.tx!.pushed + this.rx;
      const now = this.clock.now();
      if (n !== count) {
        count = n;
        since = now;
      } else if (now - since >= idleMs) {
        onIdle(now - since);
        return;
      }
      this.idleTimer = unrefTimer(this.clock.setTimeout(tick, every));
    };
    tick();
  }

  /** The attempt is over: stop its timers; the link is cut (hard) unless its Conn closes it. */
  end(reason: string, hard: boolean): void {
    this.gone = true;
    for (const t of [this.switchTimer, this.ackTimer, this.idleTimer, this.wsTimer]) if (t !== undefined) this.clock.clearTimeout(t);
    this.switchTimer = this.ackTimer = this.idleTimer = this.wsTimer = undefined;
    this.dialAbort?.abort();
    if (this.conn !== undefined) {
      if (hard) this.conn.close(reason, true);
    } else this.handle?.destroy(reason);
  }
}
