/**
 * Time, injected. Heartbeats, back-off and timeouts read time only through a
 * Clock, so failure detection can be tested with a ManualClock instead of
 * waiting for real seconds.
 */
export type TimerId = unknown;

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerId;
  clearTimeout(id: TimerId): void;
}

/**
 * Uniform numbers in [0, 1), injected (NodeOptions.random) so back-off
 * jitter and session and link IDs can be made repeatable in a test. Not for
 * secrets: nonces and node IDs take crypto's (ids.ts randomBytes).
 */
export type Random = () => number;

export const systemRandom: Random = () => Math.random();

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};

/**
 * Run fn in a later macrotask (after pending I/O). Not time: a yield to the
 * event loop, so a ManualClock does not hold it back. The one place lib/
 * touches the environment's scheduler outside systemClock.
 */
export function macrotask(fn: () => void): void {
  ((globalThis as { setImmediate?: (f: () => void) => unknown }).setImmediate ?? ((f: () => void) => setTimeout(f, 0)))(fn);
}

const resolved = Promise.resolve();

/**
 * Run fn in a microtask, as queueMicrotask does, without its cost per call
 * on the paths every message takes (Node wraps each callback in an
 * AsyncResource; Chromium's binding costs ~0.5 µs, a promise reaction
 * ~0.03 µs). fn must not throw: a throw would be an unhandled rejection.
 */
export function microtask(fn: () => void): void {
  void resolved.then(fn);
}

/** Clear a timer a library set with the environment's setTimeout (simple-peer's), not through a Clock. */
export function clearSimplePeerTimer(id: unknown): void {
  clearTimeout(id as ReturnType<typeof setTimeout>);
}

/** A clock that moves only when told to: `advance(ms)` runs due timers in order. */
export class ManualClock implements Clock {
  private t = 0;
  private seq = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();

  constructor(start = 0) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): TimerId {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(id: TimerId): void {
    this.timers.delete(id as number);
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }
  get pending(): number {
    return this.timers.size;
  }
}

/**
 * Internal timers (heartbeats, reconnect back-off) must not keep a Node
 * process alive on their own; user timers (after) do. No-op in browsers and
 * with a ManualClock.
 */
export function unrefTimer(id: TimerId): TimerId {
  (id as { unref?: () => void } | undefined)?.unref?.();
  return id;
}
