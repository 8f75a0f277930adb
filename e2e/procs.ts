/**
 * e2e: the demo's Node processes, driven over stdio. `npm start`'s
 * node/demo.ts (seed + page + chat server child) and the terminal client,
 * each with its output collected line by line so a test can wait for a
 * line instead of sleeping.
 */
import { createServer } from 'node:net';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { ChildProc } from '../test/fixtures/child.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A child process whose output lines (stdout and stderr, as they come) are kept and can be waited for. */
export class Proc {
  private readonly proc: ChildProc;

  /** Runs cmd (default: this Node) with args in the repository root. */
  constructor(readonly name: string, o: { cmd?: string; args: string[]; env?: Record<string, string>; stdin?: 'pipe' | 'ignore' }) {
    this.proc = new ChildProc({
      name,
      cmd: o.cmd,
      args: o.args,
      cwd: ROOT,
      env: o.env,
      stdin: o.stdin ?? 'ignore',
      parse: (text) => ({ ev: 'line', text, t: Date.now() }),
      stderrEvents: true,
      onLine: (l, stream) => {
        if (process.env.E2E_VERBOSE) process.stderr.write(`[${name}${stream === 'err' ? ' err' : ''}] ${l}\n`);
      },
    });
  }

  get child(): ChildProcess {
    return this.proc.child;
  }

  get exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.proc.exited;
  }

  /** Every non-empty output line so far. */
  get lines(): string[] {
    return this.proc.events.map((e) => e.text as string);
  }

  /** The first line (from index `from`) matching re; rejects after timeoutMs (or once the process ended without it) with the output so far. */
  async waitLine(re: RegExp, timeoutMs = 15_000, from = 0): Promise<RegExpExecArray> {
    const e = await this.proc
      .waitFor((e) => re.test(e.text), { since: from, timeoutMs, what: `a line matching ${re}` })
      .catch((err: Error) => {
        throw new Error(`${err.message.split('\n')[0]}; output:\n${this.lines.slice(-40).join('\n')}`);
      });
    return re.exec(e.text as string)!;
  }

  /** Write a line to stdin. */
  type(line: string): void {
    this.proc.writeLine(line);
  }

  /** Stderr as text (a program that could not be started says so here). */
  get err(): string {
    return this.proc.err;
  }

  /** Signal the process and wait for it to exit (SIGKILL after 5 s). */
  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    return this.proc.stop(signal, 5000);
  }
}

function tsx(name: string, script: string, args: string[], env: Record<string, string>, stdin: 'pipe' | 'ignore' = 'ignore'): Proc {
  return new Proc(name, { args: ['--import', 'tsx', join(ROOT, script), ...args], env, stdin });
}

/** A free TCP port on 127.0.0.1 (closed again before use, so a restart can take the same one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * Scratch space for one test file: a config database (AEMP_RC) and a
 * private copy of dist/ (built by `npm test` before the tests), so a
 * rebuild elsewhere cannot pull files from under a running page.
 */
export function scratchRc(): { rc: string; dist: string; remove(): void } {
  if (!existsSync(join(ROOT, 'dist/demo/index.html'))) throw new Error('e2e: dist/ is not built; run `npm run build` (npm test does)');
  const dir = mkdtempSync(join(tmpdir(), 'aemp-e2e-'));
  const dist = join(dir, 'dist');
  cpSync(join(ROOT, 'dist'), dist, { recursive: true, filter: (src) => !src.endsWith('.map') && !src.includes(`${join(ROOT, 'dist', 'types')}`) });
  return { rc: join(dir, 'rc.json'), dist, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Demo {
  proc: Proc;
  /** http://127.0.0.1:PORT/ */
  url: string;
  /** ws://127.0.0.1:PORT/ */
  seed: string;
  /** The chat server child's pid, once `demo` said it. */
  chatServerPid(from?: number): Promise<number>;
}

/** `npm start` (node/demo.ts) on `port`, with the scratch rc and dist; resolves once it printed its URL. */
export async function startDemo(o: { rc: string; dist: string; port: number; args?: string[] }): Promise<Demo> {
  const proc = tsx('demo', 'node/demo.ts', ['--port', String(o.port), '--dist', o.dist, ...(o.args ?? [])], { AEMP_RC: o.rc });
  const m = await proc.waitLine(/^demo: open (http:\/\/\S+) /, 20_000);
  const url = m[1]!;
  return {
    proc,
    url,
    seed: url.replace(/^http/, 'ws'),
    chatServerPid: async (from = 0) => Number((await proc.waitLine(/^demo: chat server pid (\d+)/, 15_000, from))[1]),
  };
}

/** The terminal client (`npm run chat -- NICK`) against `seed`. */
export function startTerminal(o: { rc: string; seed: string; nick: string }): Proc {
  return tsx(`chat ${o.nick}`, 'node/chat/client.ts', [o.nick, '--seed', o.seed], { AEMP_RC: o.rc }, 'pipe');
}
