import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createNode } from '../lib/index.ts';
import { deferred } from './util.ts';

test('intro — a port ID travels in a message and serves as the reply address', async () => {
  const n = await createNode();
  const printed: unknown[] = [];
  // Receiver: handles 'test' carrying data and a reply port.
  const receiver = n.port();
  n.rcv(receiver, 'test', (data: unknown, replyPort: string) => {
    printed.push(data);
    n.snd(replyPort, 'reply', 'message received');
  });
  // Sender: its own port with a 'reply' handler.
  const got = deferred<string>();
  const sender = n.port();
  n.rcv(sender, 'reply', (text: string) => got.resolve(text));
  n.snd(receiver, 'test', 123, sender);
  assert.equal(await got.promise, 'message received');
  assert.deepEqual(printed, [123]);
});

test('intro — a supervisor restarts a worker that dies, and the new worker serves', async () => {
  const n = await createNode();
  const log: string[] = [];
  let generation = 0;
  n.registerInit('worker', () => {
    const me = n.self()!;
    const gen = ++generation;
    n.rcv(me, 'work', (x: number, reply: string) => {
      if (x < 0) throw new Error(`negative input ${x}`);
      n.snd(reply, gen, x * 2);
    });
  });
  let worker = '';
  const restarted = deferred();
  const start = () => {
    worker = n.spawn(n.NODE, 'worker');
    n.mon(worker, (...reason: unknown[]) => {
      log.push(`worker died: ${JSON.stringify(reason)}`);
      start();
      restarted.resolve();
    });
  };
  start();
  assert.deepEqual(await n.call(worker, ['work', 2]), [1, 4]);
  const { setLogSink } = await import('../lib/log.ts');
  setLogSink(() => {});
  n.snd(worker, 'work', -1, 'nowhere');
  await restarted.promise;
  setLogSink(undefined);
  assert.deepEqual(log, ['worker died: ["die","negative input -1"]']);
  assert.deepEqual(await n.call(worker, ['work', 5]), [2, 10]);
});
