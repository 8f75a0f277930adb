/**
 * `npm start`: a local tour of ports and monitors on one node (the seed and
 * chat demo replace it once the browser issue lands).
 */
import { port, rcv, snd, kil, mon, spawn, registerInit, call, self, after, NODE } from './index.ts';

const out = (s: string) => process.stdout.write(`${s}\n`);

// A worker that doubles numbers and crashes on negative ones.
registerInit('doubler', () => {
  rcv(self()!, 'double', (x: number, reply: string) => {
    if (x < 0) throw new Error(`cannot double ${x}`);
    snd(reply, x * 2);
  });
});

// A supervisor: restart the worker whenever it dies.
let worker = '';
let restarts = 0;
function startWorker(): void {
  worker = spawn(NODE, 'doubler');
  mon(worker, (...reason: unknown[]) => {
    out(`supervisor: worker died (${JSON.stringify(reason)}), restarting`);
    restarts++;
    startWorker();
  });
}
startWorker();

out(`node ${NODE}`);
out(`call double 21 -> ${JSON.stringify(await call(worker, ['double', 21]))}`);
snd(worker, 'double', -1, port());
await new Promise<void>((r) => after(50, r));
out(`after the crash (${restarts} restart): double 4 -> ${JSON.stringify(await call(worker, ['double', 4]))}`);

// A reply address travelling in a message.
const greeter = port();
rcv(greeter, 'hello', (name: string, reply: string) => snd(reply, 'greeting', `hello, ${name}`));
const me = port();
const done = new Promise<void>((resolve) => rcv(me, 'greeting', (text: string) => (out(text), resolve())));
snd(greeter, 'hello', 'world', me);
await done;
kil(me);
kil(greeter);
out('done');
