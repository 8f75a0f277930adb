/**
 * e2e: the demo's Node processes, driven over stdio. `npm start`'s
 * node/demo.ts (seed + page + chat server child) and the terminal client,
 * each with its output collected line by line so a test can wait for a
 * line instead of sleeping.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A child process whose stdout lines are kept and can be waited for. */
export class Proc {
  readonly lines: string[] = [];
  private waiters = new Set<() => void>();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    const take = (s: NodeJS.ReadableStream | null, tag: string) => {
      if (!s) return;
      createInterface({ input: s }).on('line', (l) => {
        this.lines.push(l);
        if (process.env.E2E_VERBOSE) process.stderr.write(`[${name}${tag}] ${l}\n`);
        for (const w of [...this.waiters]) w();
      });
    };
    take(child.stdout, '');
    take(child.stderr, ' err');
    this.exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  }

  /** The first line (from index `from`) matching re; rejects after timeoutMs with the output so far. */
  waitLine(re: RegExp, timeoutMs = 15_000, from = 0): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      let i = from;
      const check = () => {
        for (; i < this.lines.length; i++) {
          const m = re.exec(this.lines[i]!);
          if (m) {
            done();
            resolve(m);
            return;
          }
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name}: no line matching ${re} within ${timeoutMs} ms; output:\n${this.lines.slice(-40).join('\n')}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Write a line to stdin. */
  type(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  /** Signal the process and wait for it to exit (SIGKILL after 5 s). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill(signal);
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(t);
  }
}

function tsx(name: string, script: string, args: string[], env: Record<string, string>, stdin: 'pipe' | 'ignore' = 'ignore'): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, script), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: [stdin, 'pipe', 'pipe'],
  });
  return new Proc(name, child);
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
