/**
 * The harness side of the bench protocol (see child-io.ts): start a helper
 * script in its own Node process, send it commands, await its events with
 * a timeout, and make sure it dies with the harness or on abort.
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { ChildProc, killAllChildren as killAll } from '../test/fixtures/child.ts';
import type { ChildEvent, Command } from './child-io.ts';
import { linkedSignal } from './signals.ts';

export type { ChildEvent, Command };

/** The repository root: children run here so `--import tsx` resolves. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The bench directory: script paths are resolved against it. */
export const benchDir = resolve(repoRoot, 'bench');

export interface StartOptions {
  /** JSON-serialisable arguments, handed to the script as argv[2]. */
  args?: unknown;
  /** Extra node flags, e.g. ['--expose-gc']. */
  nodeFlags?: string[];
  /** Aborting kills the child. */
  signal?: AbortSignal;
  /** A label for error messages; defaults to the script name. */
  label?: string;
}

/** Kill every child still running (harness exit, Ctrl-C). */
export function killAllChildren(): void {
  void killAll();
}

/**
 * One helper process speaking the bench's JSON lines (child-io.ts) through
 * the shared harness: events are taken once each (next), `peer` events go
 * to the pair's other child, an `error` event or the child's exit fails
 * every wait.
 */
export class Child {
  readonly label: string;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  readonly exited: Promise<number | string>;
  private readonly child: ChildProc;
  /** Events already handed out by next(). */
  private taken = new WeakSet<object>();
  private failure: Error | undefined;
  private failed: Promise<never>;
  private onFail!: (e: Error) => void;
  private peerSink: ((data: unknown) => void) | undefined;
  private peerPending: unknown[] = [];

  constructor(script: string, opts: StartOptions = {}) {
    const path = resolve(benchDir, script);
    this.label = opts.label ?? script;
    this.failed = new Promise<never>((_, reject) => (this.onFail = reject));
    this.failed.catch(() => {}); // observed by next() callers only
    this.child = new ChildProc({
      name: this.label,
      args: [...(opts.nodeFlags ?? []), '--import', 'tsx', path, JSON.stringify(opts.args ?? {})],
      cwd: repoRoot,
      parse: (line) => this.onLine(line),
    });
    this.exited = this.child.exited.then(({ code, signal }) => {
      const how = code ?? signal ?? 'unknown';
      this.fail(new Error(`${this.label} exited (${how})${this.stderrSummary()}`));
      return how;
    });
    if (opts.signal) {
      if (opts.signal.aborted) this.kill();
      else opts.signal.addEventListener('abort', () => this.kill(), { once: true });
    }
  }

  get proc(): ChildProcess {
    return this.child.child;
  }

  /** Send a command to the child. */
  send(c: Command): void {
    this.child.writeLine(JSON.stringify(c));
  }

  /** The next event named `ev` (matching pred) not taken before, now or within timeoutMs. */
  async next(ev: string, timeoutMs: number, pred: (e: ChildEvent) => boolean = () => true): Promise<ChildEvent> {
    const match = (e: object) => (e as ChildEvent).ev === ev && !this.taken.has(e) && pred(e as ChildEvent);
    const now = this.child.events.find(match);
    if (now) return this.take(now);
    if (this.failure) throw this.failure;
    const e = await Promise.race([
      this.child.waitFor(match, { timeoutMs, what: `'${ev}'` }).catch((err: Error) => {
        throw this.failure ?? new Error(`${this.label}: no '${ev}' within ${timeoutMs} ms${this.stderrSummary()}${/ended/.test(err.message) ? ' (it ended)' : ''}`);
      }),
      this.failed,
    ]);
    return this.take(e);
  }

  private take(e: object): ChildEvent {
    this.taken.add(e);
    return e as ChildEvent;
  }

  /** Forward this child's `peer` events (past and future) to fn. */
  onPeer(fn: (data: unknown) => void): void {
    this.peerSink = fn;
    for (const d of this.peerPending.splice(0)) fn(d);
  }

  kill(): void {
    this.child.signal('SIGKILL');
  }

  /** Ask the child to exit; kill it if it has not gone within timeoutMs. */
  async stop(timeoutMs = 2000): Promise<void> {
    if (!this.child.alive) return;
    this.send({ cmd: 'exit' });
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.exited, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    this.kill();
    await this.exited;
  }

  /** Only `{`-lines with a string `ev` are events; `error` fails the child, `peer` goes to the pair. */
  private onLine(line: string): (ChildEvent & { t: number }) | undefined {
    if (!line.startsWith('{')) return undefined;
    let e: ChildEvent;
    try {
      e = JSON.parse(line) as ChildEvent;
    } catch {
      return undefined;
    }
    if (typeof e.ev !== 'string') return undefined;
    if (e.ev === 'error') {
      this.fail(new Error(`${this.label}: ${String(e.error)}`));
      return undefined;
    }
    if (e.ev === 'peer') {
      if (this.peerSink) this.peerSink(e.data);
      else this.peerPending.push(e.data);
      return undefined;
    }
    return e as ChildEvent & { t: number };
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.onFail(err);
  }

  private stderrSummary(): string {
    const t = this.child.err.trim();
    return t ? `; stderr: ${t.slice(-1000)}` : '';
  }
}

/** Start a helper script (path relative to bench/ or absolute). */
export function startChild(script: string, opts: StartOptions = {}): Child {
  return new Child(script, opts);
}

/** Forward `peer` events between two children both ways (addresses, WebRTC signals). */
export function pairUp(a: Child, b: Child): void {
  a.onPeer((data) => b.send({ cmd: 'peer', data }));
  b.onPeer((data) => a.send({ cmd: 'peer', data }));
}

/** Children of `script` started under one abort signal (a sub-signal of `signal`); stop() kills them all. */
export function team(script: string, signal: AbortSignal | undefined) {
  const sub = linkedSignal(signal);
  const children: Child[] = [];
  return {
    start(args: Record<string, unknown>, label: string, nodeFlags?: string[]): Child {
      const c = startChild(script, { args, signal: sub.signal, label, nodeFlags });
      children.push(c);
      return c;
    },
    async stop(): Promise<void> {
      for (const c of children) c.kill();
      await Promise.all(children.map((c) => c.exited));
      sub.done();
    },
  };
}
