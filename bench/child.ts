/**
 * The harness side of the bench protocol (see child-io.ts): start a helper
 * script in its own Node process, send it commands, await its events with
 * a timeout, and make sure it dies with the harness or on abort.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import type { ChildEvent, Command } from './child-io.ts';

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

/** How much of a child's stderr is kept for error messages. */
const STDERR_TAIL = 4000;

const live = new Set<Child>();
let exitHookInstalled = false;

/** Kill every child still running (harness exit, Ctrl-C). */
export function killAllChildren(): void {
  for (const c of live) c.kill();
}

interface Waiter {
  ev: string;
  pred: (e: ChildEvent) => boolean;
  resolve: (e: ChildEvent) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** One helper process speaking JSON lines. */
export class Child {
  readonly label: string;
  readonly proc: ChildProcess;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  readonly exited: Promise<number | string>;
  private queue: ChildEvent[] = [];
  private waiters = new Set<Waiter>();
  private stderrTail = '';
  private failure: Error | undefined;
  private peerSink: ((data: unknown) => void) | undefined;
  private peerPending: unknown[] = [];

  constructor(script: string, opts: StartOptions = {}) {
    const path = resolve(benchDir, script);
    this.label = opts.label ?? script;
    this.proc = spawn(
      process.execPath,
      [...(opts.nodeFlags ?? []), '--import', 'tsx', path, JSON.stringify(opts.args ?? {})],
      { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    live.add(this);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', killAllChildren);
    }
    this.exited = new Promise((res) => {
      this.proc.on('exit', (code, sig) => {
        live.delete(this);
        const how = code ?? sig ?? 'unknown';
        this.fail(new Error(`${this.label} exited (${how})${this.stderrSummary()}`));
        res(how);
      });
    });
    this.proc.on('error', (e) => this.fail(new Error(`${this.label}: ${e.message}`)));
    // A child that died leaves a broken pipe; the exit handler reports it.
    this.proc.stdin!.on('error', () => {});
    this.proc.stderr!.on('data', (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString()).slice(-STDERR_TAIL);
    });
    createInterface({ input: this.proc.stdout! }).on('line', (line) => this.onLine(line));
    if (opts.signal) {
      if (opts.signal.aborted) this.kill();
      else opts.signal.addEventListener('abort', () => this.kill(), { once: true });
    }
  }

  /** Send a command to the child. */
  send(c: Command): void {
    if (this.proc.stdin!.writable) this.proc.stdin!.write(JSON.stringify(c) + '\n');
  }

  /** The next event named `ev` (matching pred), taken from the queue or awaited up to timeoutMs. */
  next(ev: string, timeoutMs: number, pred: (e: ChildEvent) => boolean = () => true): Promise<ChildEvent> {
    const i = this.queue.findIndex((e) => e.ev === ev && pred(e));
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]!);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        ev,
        pred,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(w);
          reject(new Error(`${this.label}: no '${ev}' within ${timeoutMs} ms${this.stderrSummary()}`));
        }, timeoutMs),
      };
      this.waiters.add(w);
    });
  }

  /** Forward this child's `peer` events (past and future) to fn. */
  onPeer(fn: (data: unknown) => void): void {
    this.peerSink = fn;
    for (const d of this.peerPending.splice(0)) fn(d);
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }

  /** Ask the child to exit; kill it if it has not gone within timeoutMs. */
  async stop(timeoutMs = 2000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.send({ cmd: 'exit' });
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.exited, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    this.kill();
    await this.exited;
  }

  private onLine(line: string): void {
    if (!line.startsWith('{')) return;
    let e: ChildEvent;
    try {
      e = JSON.parse(line) as ChildEvent;
    } catch {
      return;
    }
    if (typeof e.ev !== 'string') return;
    if (e.ev === 'error') return this.fail(new Error(`${this.label}: ${String(e.error)}`));
    if (e.ev === 'peer') {
      if (this.peerSink) this.peerSink(e.data);
      else this.peerPending.push(e.data);
      return;
    }
    for (const w of this.waiters) {
      if (w.ev === e.ev && w.pred(e)) {
        this.waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve(e);
        return;
      }
    }
    this.queue.push(e);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(this.failure);
    }
    this.waiters.clear();
  }

  private stderrSummary(): string {
    const t = this.stderrTail.trim();
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
