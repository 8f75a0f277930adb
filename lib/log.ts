/**
 * The one logger. Levels are AnyEvent::Log's, which AEMP_WARNLEVEL uses:
 * 1 fatal, 2 alert, 3 critical, 4 error, 5 warn, 6 note, 7 info, 8 debug,
 * 9 trace; 0 silences everything. Default 5. Each component logs under a
 * namespace ("kernel", "mesh", "ws", ...). The environment entry (node/ or
 * web/) sets the level from AEMP_WARNLEVEL and may replace the sink.
 */
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

export interface Logger {
  enabled(level: number): boolean;
  log(level: number, msg: string): void;
  error(msg: string): void;
  warn(msg: string): void;
  note(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
}

export function logger(ns: string): Logger {
  const log = (level: number, msg: string) => {
    if (level <= state.level) state.sink(level, ns, msg);
  };
  return {
    enabled: (level) => level <= state.level,
    log,
    error: (m) => log(4, m),
    warn: (m) => log(5, m),
    note: (m) => log(6, m),
    info: (m) => log(7, m),
    debug: (m) => log(8, m),
  };
}

/** Used by the kernel when AEMP_TRACE is on. */
export function trace(ns: string, msg: string): void {
  if (state.trace && state.level > 0) state.sink(6, ns, msg);
}
