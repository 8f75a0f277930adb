/**
 * The Intro's receiver: joins the mesh, makes a port and answers 'test'
 * messages through the reply port they carry.
 *   tsx node/examples/receiver.ts [seed-url]
 */
import { configure, port, rcv, snd, NODE } from '../index.ts';

const seed = process.argv[2] ?? '127.0.0.1:4040';
await configure({ nodeid: 'eg_receiver', seeds: [seed], secret: process.env.AEMP_SECRET ?? 'aemp-example' });
const p = port();
rcv(p, 'test', (data: unknown, replyPort: string) => {
  process.stdout.write(`received ${JSON.stringify(data)} from ${replyPort}\n`);
  snd(replyPort, 'reply', 'message received');
});
process.stdout.write(`receiver ${NODE} port: ${p}\n`);
