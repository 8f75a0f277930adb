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
  private graced = false;
  /** Sweep period. */
  readonly tickMs: number;
  /** A link idle this long is pinged (by its pinging side). */
  readonly idleMs: number;

  constructor(
    private readonly clock: Clock,
    readonly monitorTimeoutMs: number,
  ) {
    this.tickMs = Math.max(10, monitorTimeoutMs * TICK);
    this.idleMs = monitorTimeoutMs * IDLE;
  }

  add(l: Live): void {
    this.links.add(l);
    if (this.timer === undefined) this.schedule(this.tickMs);
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
    // A timer this late means this process was busy (a long synchronous burst), not that
    // peers went quiet: what they sent meanwhile is still unread, so look again once
    // pending input had its turn — once: a process that stays this busy must still
    // notice a silent peer.
    if (now - this.due > mt / 4 && !this.graced) {
      this.graced = true;
      this.schedule(1);
      return;
    }
    this.graced = false;
    const idle = this.idleMs;
    const late = FALLBACK * mt;
    const dead = DEAD * mt;
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
