/**
 * The one logger. Levels are AnyEvent::Log's, which AEMP_WARNLEVEL uses:
 * 1 fatal, 2 alert, 3 critical, 4 error, 5 warn, 6 note, 7 info, 8 debug,
 * 9 trace; 0 silences everything. Default 5. Each component logs under a
 * namespace ("kernel", "mesh", "ws", ...). The environment entry (node/ or
 * web/) sets the level from AEMP_WARNLEVEL and may replace the sink.
 *
 * Rate limiting: a line whose text a peer can cause (a refused request, a
 * bad packet) names its kind — `log.warn(text, 'refused-link')`. Lines of one
 * kind (per namespace) pass `burst` times per interval; the rest are counted
 * and summed up in one line at the end of the interval: the last such text
 * plus "(1234 more like this in the last 10 s)". The kind is a constant the
 * call site names, not derived from the text: texts carry node IDs, sizes
 * and reasons that differ on every line, and a constant keeps the table of
 * kinds as small as the number of call sites. Lines without a kind are not
 * limited (the node's own events, startup, fatal errors).
 */
import { systemClock, unrefTimer, type Clock, type TimerId } from './clock.ts';

export const LEVELS = { fatal: 1, alert: 2, crit: 3, error: 4, warn: 5, note: 6, info: 7, debug: 8, trace: 9 } as const;
export type LevelName = keyof typeof LEVELS;

export type LogSink = (level: number, ns: string, msg: string) => void;

const NAMES = ['', 'fatal', 'alert', 'crit', 'error', 'warn', 'note', 'info', 'debug', 'trace'];

const defaultSink: LogSink = (level, ns, msg) => {
  // The only console call in the library.
  console.error(`aemp ${NAMES[level]} [${ns}] ${msg}`);
};

const state = { level: 5, sink: defaultSink, trace: false };

export function setLogLevel(level: number): void {
  state.level = Math.max(0, Math.min(9, Math.trunc(level)));
}
export function getLogLevel(): number {
  return state.level;
}
export function setLogSink(sink: LogSink | undefined): void {
  state.sink = sink ?? defaultSink;
}
/** AEMP_TRACE: print every SND/RCV (at level "note", so it shows at the default level). */
export function setTrace(on: boolean): void {
  state.trace = on;
}
export function traceOn(): boolean {
  return state.trace;
}

/** `kind`: a constant naming the call site's kind of line; lines of one kind are rate-limited together (see above). */
export interface Logger {
  enabled(level: number): boolean;
  log(level: number, msg: string, kind?: string): void;
  error(msg: string, kind?: string): void;
  warn(msg: string, kind?: string): void;
  note(msg: string, kind?: string): void;
  info(msg: string, kind?: string): void;
  debug(msg: string, kind?: string): void;
}

export interface LogLimit {
  /** Length of one interval, ms. Default 10 000. */
  intervalMs: number;
  /** Lines of one kind passed per interval before they are counted instead. Default 5. */
  burst: number;
}

export const LOG_LIMIT_DEFAULTS: LogLimit = { intervalMs: 10_000, burst: 5 };

/** Kinds tracked at most; further kinds share one bucket per namespace (kinds are meant to be constants). */
const MAX_KINDS = 1024;

interface Bucket {
  ns: string;
  start: number;
  passed: number;
  dropped: number;
  level: number;
  last: string;
  timer: TimerId | undefined;
}

const limits = { ...LOG_LIMIT_DEFAULTS, clock: systemClock as Clock, buckets: new Map<string, Bucket>() };

/** Change the rate limit of kinded lines and the clock it reads (tests inject a ManualClock); resets every count. */
export function setLogLimit(o: Partial<LogLimit> & { clock?: Clock } = {}): void {
  for (const b of limits.buckets.values()) if (b.timer !== undefined) limits.clock.clearTimeout(b.timer);
  limits.buckets.clear();
  limits.intervalMs = o.intervalMs ?? LOG_LIMIT_DEFAULTS.intervalMs;
  limits.burst = o.burst ?? LOG_LIMIT_DEFAULTS.burst;
  limits.clock = o.clock ?? systemClock;
}

function limited(level: number, ns: string, msg: string, kind: string): void {
  const { buckets, clock, intervalMs } = limits;
  let key = `${ns}\0${kind}`;
  let b = buckets.get(key);
  if (b === undefined) {
    if (buckets.size >= MAX_KINDS) key = `${ns}\0*`;
    b = buckets.get(key);
    if (b === undefined) {
      b = { ns, start: clock.now(), passed: 0, dropped: 0, level, last: '', timer: undefined };
      buckets.set(key, b);
    }
  }
  const now = clock.now();
  // A whole interval with nothing held back: start afresh (a new burst passes).
  if (b.dropped === 0 && now - b.start >= intervalMs) {
    b.start = now;
    b.passed = 0;
  }
  if (b.passed < limits.burst) {
    b.passed++;
    state.sink(level, ns, msg);
    return;
  }
  b.dropped++;
  b.last = msg;
  b.level = Math.min(b.level, level);
  if (b.timer === undefined) {
    const bucket = b;
    b.timer = unrefTimer(clock.setTimeout(() => summarize(bucket), Math.max(0, b.start + intervalMs - now)));
  }
}

/** End of an interval with lines held back: one line for them; the next interval passes no burst unless it stays quiet. */
function summarize(b: Bucket): void {
  const now = limits.clock.now();
  b.timer = undefined;
  const secs = Math.max(1, Math.round((now - b.start) / 1000));
  if (b.level <= state.level) state.sink(b.level, b.ns, `${b.last} (${b.dropped} more like this in the last ${secs} s)`);
  b.dropped = 0;
  b.start = now;
  b.passed = limits.burst;
}

export function logger(ns: string): Logger {
  const log = (level: number, msg: string, kind?: string) => {
    if (level > state.level) return;
    if (kind === undefined) state.sink(level, ns, msg);
    else limited(level, ns, msg, kind);
  };
  return {
    enabled: (level) => level <= state.level,
    log,
    error: (m, k) => log(4, m, k),
    warn: (m, k) => log(5, m, k),
    note: (m, k) => log(6, m, k),
    info: (m, k) => log(7, m, k),
    debug: (m, k) => log(8, m, k),
  };
}

/** Used by the kernel when AEMP_TRACE is on. */
export function trace(ns: string, msg: string): void {
  if (state.trace && state.level > 0) state.sink(6, ns, msg);
}
