/**
 * The `aemp` command line's building blocks: the usage error (exit 2), the
 * I/O a run writes to, the argument reader and AEMP's JSON-or-string rule.
 */
import { AempError } from '../../lib/errors.ts';
import { ConfigError, defaultRcPath } from '../config.ts';

/** A bad command line: exit 2, one line, with a hint. */
export class UsageError extends AempError {
  readonly cmd: string | undefined;
  constructor(message: string, cmd?: string) {
    super('AEMP_ERR_BAD_ARGUMENT', message);
    this.cmd = cmd;
  }
}

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  env: Record<string, string | undefined>;
}

export class ArgReader {
  constructor(readonly cmd: string, private readonly argv: string[], public i: number) {}
  more(): boolean {
    return this.i < this.argv.length;
  }
  peek(): string | undefined {
    return this.argv[this.i];
  }
  next(what: string): string {
    if (!this.more()) throw new UsageError(`${this.cmd}: missing ${what}`, this.cmd);
    return this.argv[this.i++]!;
  }
}

/** AEMP's argument rule: an argument that parses as JSON is that JSON value, anything else is the string. */
export function jsonOrString(arg: string): unknown {
  try {
    return JSON.parse(arg);
  } catch {
    return arg;
  }
}

/** The configuration database this run uses ($AEMP_RC, else the XDG default). */
export const rcPath = (io: CliIo): string => defaultRcPath(io.env);

/** Runs f; a ConfigError from checking a value becomes a UsageError of cmd. */
export function wrap(cmd: string, f: () => unknown): unknown {
  try {
    return f();
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message, cmd);
    throw e;
  }
}
/** Reads one argument and checks it (check throws a string saying why). */
export const word = (cmd: string, what: string, check: (s: string) => void) => (a: ArgReader): string => {
  const s = a.next(what);
  try {
    check(s);
  } catch (why) {
    if (typeof why !== 'string') throw why;
    throw new UsageError(`${cmd}: bad ${what} '${s}': ${why}`, cmd);
  }
  return s;
};

