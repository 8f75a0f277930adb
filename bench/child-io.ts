/**
 * The child side of the bench protocol: a helper script talks to the
 * harness over stdio, one JSON object per line.
 *
 *   harness → child (stdin):  {"cmd": "go", "run": 0}   {"cmd": "peer", "data": …}   {"cmd": "exit"}
 *   child → harness (stdout): {"ev": "ready", …}   {"ev": "peer", "data": …}
 *                             {"ev": "started", "run": 0, "t": wall}   {"ev": "done", "run": 0, "t": wall}
 *                             {"ev": "rtts", "run": 0, "samples": [ms, …]}   {"ev": "error", "error": "…"}
 *
 * The script's arguments arrive as JSON in argv[2] (`io.args`). `peer`
 * events are forwarded by the harness to the other child of a pair as a
 * `peer` command (an address, WebRTC signals, …). Only lines starting with
 * `{` on stdout are read, so stray output does not break the protocol;
 * stderr is kept by the harness for error reports.
 *
 * When stdin closes (the harness died or gave up) the child exits, so no
 * helper outlives the harness.
 */
import { createInterface } from 'node:readline';

export interface Command {
  cmd: string;
  [key: string]: unknown;
}

export interface ChildEvent {
  ev: string;
  [key: string]: unknown;
}

export interface ChildIo {
  /** The JSON arguments the harness passed (argv[2]). */
  readonly args: Record<string, any>;
  /** Report an event to the harness. */
  emit(ev: ChildEvent): void;
  /** Handle a command; `exit` has a default handler (process.exit(0)) that this replaces. */
  on(cmd: string, handler: (c: Command) => void): void;
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable between processes on one machine. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Connect this script to the harness (call once, at the top of a child script). */
export function childIo(): ChildIo {
  const args = JSON.parse(process.argv[2] ?? '{}') as Record<string, any>;
  const handlers = new Map<string, (c: Command) => void>();
  const emit = (ev: ChildEvent): void => {
    process.stdout.write(JSON.stringify(ev) + '\n');
  };
  handlers.set('exit', () => process.exit(0));

  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (!line.startsWith('{')) return;
    let c: Command;
    try {
      c = JSON.parse(line) as Command;
    } catch {
      emit({ ev: 'error', error: `bad command line: ${line.slice(0, 200)}` });
      return;
    }
    const h = handlers.get(c.cmd);
    if (h) h(c);
    else emit({ ev: 'error', error: `unknown command ${c.cmd}` });
  });
  // The harness is gone: nothing will ever collect our results.
  rl.on('close', () => process.exit(0));

  const fail = (e: unknown): void => {
    emit({ ev: 'error', error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    process.exit(1);
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);

  return {
    args,
    emit,
    on(cmd, handler) {
      handlers.set(cmd, handler);
    },
  };
}
