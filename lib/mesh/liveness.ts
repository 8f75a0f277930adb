/**
 * Liveness of links: one sweep timer for all links sharing a clock and a
 * monitor_timeout (in practice: all links of a process), not one timer per
 * link, so ten thousand idle links cost one timer and a loop over plain
 * numbers every monitor_timeout / 40.
 *
 * Rules (docs/protocol.md, "Heartbeats"):
 * - Any frame received counts as liveness; nothing received for
 *   1.1 × monitor_timeout closes the link (so a hung peer is noticed within
 *   1.125 × monitor_timeout of its last frame, the sweep period included).
 * - Only the side that accepted the link pings (a seed towards its nodes),
 *   and only on a link idle for 0.8 × monitor_timeout (nothing received, or
 *   nothing sent, for that long); the other side answers each ping. A busy
 *   link carries no heartbeats. The accepting side, because the dialler may
 *   be a browser tab whose timers are throttled to one a minute: answering
 *   needs no timer, pinging does. Pinging late in the timeout, not at its
 *   half: on an idle seed each ping and pong is a system call each way,
 *   nearly all its idle cost. The answer has 0.275 × monitor_timeout to
 *   arrive (1.65 s with the default 6 s), room for a busy or paused peer.
 * - The answering side pings too, as a fallback, when it heard nothing for
 *   0.95 of its own monitor_timeout: its peer may run a longer one (so pings
 *   less often than this side needs). Later than the pinger's pings arrive,
 *   so a link where both sides agree carries one ping per period, not two.
 */
import type { Clock, TimerId } from '../clock.ts';
import { unrefTimer } from '../clock.ts';

/** What the sweep needs of a link (Conn implements it). */
export interface Live {
  /** When a frame last arrived / last left (clock ms). */
  readonly lastRx: number;
  readonly lastTx: number;
  /** When this side last pinged (clock ms). */
  readonly lastPing: number;
  /** This side pings (it accepted the link). */
  readonly pinger: boolean;
  ping(): void;
  /** Nothing arrived for `silentMs`: close the link. */
  dead(silentMs: number): void;
}

/** Sweep period, pinger's idle time and the answering side's fallback, as fractions of monitor_timeout. */
const TICK = 1 / 40;
const IDLE = 0.8;
const FALLBACK = 0.95;
/** Silence that closes a link, as a fraction of monitor_timeout. */
export const DEAD = 1.1;

export class Liveness {
  private readonly links = new Set<Live>();
  private timer: TimerId | undefined;
  private due = 0;
  private lastSweep = 0;
  /** Extra silence allowed now: what is left of this process's last stall (see sweep). */
  private credit = 0;
  /** Sweep period. */
  readonly tickMs: number;
  /** A link idle this long is pinged (by its pinging side). */
  readonly idleMs: number;
  /** The clock's now(), one function for all links on it (their decoders share their state by it: codec-pool.ts). */
  readonly now = (): number => this.clock.now();

  constructor(
    private readonly clock: Clock,
    readonly monitorTimeoutMs: number,
  ) {
    this.tickMs = Math.max(10, monitorTimeoutMs * TICK);
    this.idleMs = monitorTimeoutMs * IDLE;
  }

  add(l: Live): void {
    this.links.add(l);
    if (this.timer === undefined) {
      this.lastSweep = this.clock.now();
      this.schedule(this.tickMs);
    }
  }

  delete(l: Live): void {
    this.links.delete(l);
    if (this.links.size === 0 && this.timer !== undefined) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  get size(): number {
    return this.links.size;
  }

  private schedule(ms: number): void {
    this.due = this.clock.now() + ms;
    this.timer = unrefTimer(this.clock.setTimeout(this.sweep, ms));
  }

  private sweep = (): void => {
    this.timer = undefined;
    if (this.links.size === 0) return;
    const now = this.clock.now();
    const mt = this.monitorTimeoutMs;
    // A sweep more than monitor_timeout / 4 late means this process was not running (a
    // long synchronous burst, a GC pause, a starved machine), not that peers went quiet:
    // what they sent meanwhile is still unread, and with thousands of links it takes
    // several turns of the event loop to read (a poll returns at most 1,024 sockets).
    // So the stall is allowed as extra silence, used up as this process runs again, and
    // at most 2 × monitor_timeout of it: a hung peer is noticed later, never not at all.
    const behind = Math.max(0, now - this.due);
    const ran = Math.max(0, now - this.lastSweep - behind);
    this.credit = Math.max(0, this.credit - ran);
    if (behind > mt / 4) this.credit = Math.min(2 * mt, this.credit + behind);
    this.lastSweep = now;
    const idle = this.idleMs;
    const late = FALLBACK * mt;
    const dead = DEAD * mt + this.credit;
    for (const l of this.links) {
      const silent = now - l.lastRx;
      if (silent > dead) l.dead(silent);
      else if (now - l.lastPing >= idle && (l.pinger ? silent >= idle || now - l.lastTx >= idle : silent >= late)) l.ping();
    }
    if (this.links.size > 0) this.schedule(this.tickMs);
  };
}

/** One Liveness per clock and monitor_timeout. */
const shared = new WeakMap<Clock, Map<number, Liveness>>();

export function livenessFor(clock: Clock, monitorTimeoutMs: number): Liveness {
  let byTimeout = shared.get(clock);
  if (!byTimeout) shared.set(clock, (byTimeout = new Map()));
  let l = byTimeout.get(monitorTimeoutMs);
  if (!l) byTimeout.set(monitorTimeoutMs, (l = new Liveness(clock, monitorTimeoutMs)));
  return l;
}
