/**
 * Child script (run with --expose-gc): heap bytes per idle port. Creates
 * `count` ports with a shared callback on one node and `count` ports without
 * one on another, measuring the heap after a full GC before and after each.
 * Emits {"ev":"result","withCallback":bytes,"bare":bytes} and exits.
 */
import { createNode } from '../lib/index.ts';
import { childIo } from './child-io.ts';

const io = childIo();
const count: number = io.args.count ?? 1_000_000;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('port-bytes: run with --expose-gc');

/** Heap in use after collecting everything collectable (several passes settle weak and finalised objects). */
function settledHeap(): number {
  for (let i = 0; i < 4; i++) gc!();
  return process.memoryUsage().heapUsed;
}

const shared = (): void => {};
const withCb = await createNode();
const bare = await createNode();

let before = settledHeap();
for (let i = 0; i < count; i++) withCb.port(shared);
const withCallback = (settledHeap() - before) / count;

before = settledHeap();
for (let i = 0; i < count; i++) bare.port();
const bareBytes = (settledHeap() - before) / count;

// Keep both nodes (and so their ports) reachable until after the last measurement.
if (withCb.kernel.ports.size + bare.kernel.ports.size !== 2 * count) throw new Error('port-bytes: ports went missing');
io.emit({ ev: 'result', withCallback, bare: bareBytes });
process.exit(0);
