/**
 * The one child-process harness of the tests, the e2e tests and the bench:
 * spawn a program, take its output as lines (JSON event objects, or plain
 * text), await them by predicate with a bounded wait (never by sleeping),
 * write lines to it, signal it, kill it, see it exit. Every child is
 * registered, so killAllChildren() — or, failing that, process exit — ends
 * it even when a test fails half-way.
 *
 * The line protocol spoken over stdio (commands in, {ev}/{re} events out) is
 * the callers'; this file only frames and routes it.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** One output line as the harness keeps it: an event object, at least with the time it arrived. */
export type ChildEvent = Record<string, any> & { t: number };

export interface ChildOptions {
  /** A label for error messages. */
  name: string;
  /** The program (default: this Node) and its arguments. */
  cmd?: string;
  args: string[];
  cwd?: string;
  /** Added to this process's environment; an undefined value removes the variable. */
  env?: Record<string, string | undefined>;
  /** 'pipe' to write lines to the child (default), 'ignore' for none. */
  stdin?: 'pipe' | 'ignore';
  /**
   * A stdout line as an event, or undefined to drop it. Default: a JSON
   * object line is that object; any other line is {ev:'line', text}.
   */
  parse?: (line: string) => ChildEvent | undefined;
  /** Stderr lines become {ev:'line', text, stream:'err'} events too (default: kept as text only). */
  stderrEvents?: boolean;
  /** Each line, as it arrives (e.g. to echo a child's output when debugging). */
  onLine?: (line: string, stream: 'out' | 'err') => void;
}

/** How much of each stream is kept as text (for failure messages and whole-output checks). */
const TEXT_LIMIT = 1 << 20;

const live = new Set<ChildProc>();

/** The default line parser: JSON objects are events, anything else a {ev:'line'} event. */
export function jsonOrLine(line: string): ChildEvent {
  try {
    const e = JSON.parse(line) as unknown;
    if (e && typeof e === 'object' && !Array.isArray(e)) return { t: Date.now(), ...(e as object) } as ChildEvent;
  } catch {
    // not JSON: a plain line
  }
  return { ev: 'line', text: line, t: Date.now() };
}

export class ChildProc {
  readonly name: string;
  readonly child: ChildProcess;
  /** Every event so far, in arrival order. */
  readonly events: ChildEvent[] = [];
  /** Stdout and stderr as text (the first MiB of each). */
  out = '';
  err = '';
  /** Resolves once the process has exited (its output may still be arriving: see until). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once the process has exited and its output is read to the end (a grandchild holding the pipes delays this). */
  readonly drained: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private gone = false;
  private closed = false;
  private wake = new Set<() => void>();
  private partial = { out: '', err: '' };

  constructor(private readonly o: ChildOptions) {
    this.name = o.name;
    const env: Record<string, string | undefined> = { ...process.env, ...o.env };
    for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
    this.child = spawn(o.cmd ?? process.execPath, o.args, { cwd: o.cwd, env, stdio: [o.stdin ?? 'pipe', 'pipe', 'pipe'] });
    live.add(this);
    this.exited = new Promise((resolve) => {
      const end = (code: number | null, signal: NodeJS.Signals | null) => {
        this.gone = true;
        live.delete(this);
        resolve({ code, signal });
      };
      this.child.once('exit', end);
      // A program that cannot be started never exits: it has ended all the same.
      this.child.once('error', () => this.child.pid === undefined && end(null, null));
    });
    this.drained = new Promise((resolve) =>
      this.child.once('close', (code, signal) => {
        this.closed = true;
        this.poke();
        resolve({ code, signal });
      }),
    );
    this.child.once('error', (e) => {
      this.err += `[spawn] ${e.message}\n`;
      if (this.child.pid === undefined) this.closed = true; // never started: no output is coming
      this.poke();
    });
    this.child.stdin?.on('error', () => {}); // writes to a dead child
    for (const stream of ['out', 'err'] as const) {
      const s = stream === 'out' ? this.child.stdout! : this.child.stderr!;
      s.setEncoding('utf8');
      s.on('data', (d: string) => this.onData(stream, d));
    }
  }

  /** Still running. */
  get alive(): boolean {
    return !this.gone;
  }

  get pid(): number {
    return this.child.pid!;
  }

  private onData(stream: 'out' | 'err', d: string): void {
    if (this[stream].length < TEXT_LIMIT) this[stream] += d;
    let buf = this.partial[stream] + d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      this.o.onLine?.(line, stream);
      if (!line) continue;
      let e: ChildEvent | undefined;
      if (stream === 'out') e = (this.o.parse ?? jsonOrLine)(line);
      else if (this.o.stderrEvents) e = { ev: 'line', text: line, stream: 'err', t: Date.now() };
      if (e) this.events.push(e);
    }
    this.partial[stream] = buf;
    this.poke();
  }

  private poke(): void {
    for (const w of [...this.wake]) w();
  }

  /** Index of the next event: pass as `since` to wait only for later ones. */
  mark(): number {
    return this.events.length;
  }

  /** Events so far (from index since) matching pred. */
  filter(pred: (e: ChildEvent) => boolean, since = 0): ChildEvent[] {
    return this.events.slice(since).filter(pred);
  }

  /**
   * Resolves with check()'s first defined value, checked now and after each
   * piece of output; rejects after timeoutMs, or once the child has ended
   * without it (no more output can come).
   */
  until<T>(check: () => T | undefined, o: { timeoutMs?: number; what?: string } = {}): Promise<T> {
    const timeoutMs = o.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.wake.delete(test);
      };
      const fail = (why: string) => {
        done();
        reject(new Error(`${this.name}: ${why} waiting for ${o.what ?? check.toString()}\n${this.recent()}`));
      };
      const test = () => {
        const v = check();
        if (v !== undefined) {
          done();
          resolve(v);
        } else if (this.closed) {
          const c = this.child;
          fail(`ended (${c.exitCode ?? c.signalCode}) while`);
        }
      };
      const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);
      this.wake.add(test);
      test();
    });
  }

  /** The exit status once drained; rejects (with the output so far) if the child runs on after timeoutMs. */
  async finished(timeoutMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    await this.until(() => (this.closed ? true : undefined), { timeoutMs, what: 'its end' });
    return this.drained;
  }

  /** The first event at index >= since matching pred (see until). */
  waitFor(pred: (e: ChildEvent) => boolean, o: { since?: number; timeoutMs?: number; what?: string } = {}): Promise<ChildEvent> {
    let i = o.since ?? 0;
    return this.until(() => {
      for (; i < this.events.length; i++) if (pred(this.events[i]!)) return this.events[i]!;
      return undefined;
    }, { timeoutMs: o.timeoutMs, what: o.what ?? pred.toString() });
  }

  /** What the child said last, for failure messages. */
  recent(): string {
    const ev = this.events.slice(-15).map((e) => JSON.stringify(e).slice(0, 300));
    return `recent events:\n  ${ev.join('\n  ')}\nstderr: ${this.err.slice(-1500)}`;
  }

  /** Write one line to the child's stdin (nothing once it is gone). */
  writeLine(line: string): void {
    if (this.alive && this.child.stdin?.writable) this.child.stdin.write(line + '\n');
  }

  /** Send a signal (unless gone); returns Date.now() just before sending it. */
  signal(sig: NodeJS.Signals): number {
    const t = Date.now();
    if (this.alive) this.child.kill(sig);
    return t;
  }

  /** SIGKILL (a stopped process too) and wait until it is gone. */
  async kill(): Promise<void> {
    if (this.alive) {
      this.child.kill('SIGCONT');
      this.child.kill('SIGKILL');
    }
    await this.exited;
  }

  /** Signal the process and wait for it to exit; SIGKILL after graceMs. */
  async stop(sig: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
    if (!this.alive) return void (await this.exited);
    this.child.kill(sig);
    const t = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

/** End every child still running and wait for them (use in `after` hooks). */
export async function killAllChildren(): Promise<void> {
  await Promise.all([...live].map((c) => c.kill()));
}

// Last resort if the process ends without running its hooks.
process.on('exit', () => {
  for (const c of live) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});
