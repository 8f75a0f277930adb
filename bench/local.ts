/**
 * In-process figures: the kernel's snd → rcv path against the plain loop
 * anyone could write instead (a Map of ports, a Map of tags, an array queue).
 * Both send in chunks with a setImmediate between them, so the number of
 * messages in flight stays bounded as in real use.
 */
import { createNode } from '../lib/index.ts';

export interface LocalOptions {
  /** Messages per run. */
  count: number;
  /** Messages sent between two setImmediate yields. */
  chunk: number;
  /** A run taking longer than this fails instead of hanging (ms). */
  timeoutMs: number;
}

const yieldToIo = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Reject after ms unless `p` settles first. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: not done within ${ms} ms`)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** The receiving callback both sides deliver to: checks order, resolves when all arrived. */
function sink(count: number): { handler: (i: number, x: string) => void; done: Promise<void> } {
  let expect = 0;
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  const handler = (i: number, _x: string): void => {
    if (i !== expect) throw new Error(`message ${i} arrived, expected ${expect}`);
    if (++expect === count) finish();
  };
  return { handler, done };
}

/** msg/s of one kernel run: snd(p, 'm', i, 'x') to a tag callback. */
export async function kernelRun(o: LocalOptions): Promise<number> {
  const n = await createNode();
  try {
    const p = n.port();
    const { handler, done } = sink(o.count);
    n.rcv(p, 'm', handler);
    const deadline = performance.now() + o.timeoutMs;
    const t0 = performance.now();
    for (let i = 0; i < o.count; ) {
      const end = Math.min(o.count, i + o.chunk);
      for (; i < end; i++) n.snd(p, 'm', i, 'x');
      await yieldToIo();
      if (performance.now() > deadline) throw new Error(`kernel: sending took over ${o.timeoutMs} ms`);
    }
    await within(done, Math.max(0, deadline - performance.now()), 'kernel');
    return (o.count / (performance.now() - t0)) * 1000;
  } finally {
    await n.shutdown();
  }
}

type Handler = (a: any, b: any) => void;

/**
 * msg/s of one run of the plain loop: the same messages, handler and
 * chunking; each chunk is queued as [port, msg] pairs, then dispatched
 * through a Map of ports and a Map of tags.
 */
export async function plainRun(o: LocalOptions): Promise<number> {
  const ports = new Map<string, Map<string, Handler>>();
  const queue: Array<[string, unknown[]]> = [];
  const { handler, done } = sink(o.count);
  ports.set('p', new Map([['m', handler]]));
  const deadline = performance.now() + o.timeoutMs;
  const t0 = performance.now();
  for (let i = 0; i < o.count; ) {
    const end = Math.min(o.count, i + o.chunk);
    for (; i < end; i++) queue.push(['p', ['m', i, 'x']]);
    for (let k = 0; k < queue.length; k++) {
      const [port, msg] = queue[k]!;
      const h = ports.get(port)!.get(msg[0] as string)!;
      h(msg[1], msg[2]);
    }
    queue.length = 0;
    await yieldToIo();
    if (performance.now() > deadline) throw new Error(`plain: sending took over ${o.timeoutMs} ms`);
  }
  await within(done, Math.max(0, deadline - performance.now()), 'plain');
  return (o.count / (performance.now() - t0)) * 1000;
}

/** Alternate kernel and plain runs (so noise hits both alike); the first pair warms up and is dropped. */
export async function localThroughput(o: LocalOptions & { runs: number }): Promise<{ value: number[]; baseline: number[] }> {
  const value: number[] = [];
  const baseline: number[] = [];
  for (let k = 0; k <= o.runs; k++) {
    const v = await kernelRun(o);
    const b = await plainRun(o);
    if (k > 0) {
      value.push(v);
      baseline.push(b);
    }
  }
  return { value, baseline };
}
