/**
 * The Intro's sender: joins the mesh, makes a port for the reply and sends
 * 'test' with its port as the reply address.
 *   tsx node/examples/sender.ts RECEIVER-PORT [seed-url]
 */
import { configure, port, rcv, snd, kil, shutdown } from '../index.ts';

const [target, seed = '127.0.0.1:4040'] = process.argv.slice(2);
if (!target) {
  process.stderr.write('usage: sender.ts RECEIVER-PORT [seed-url]\n');
  process.exit(2);
}
await configure({ seeds: [seed], secret: process.env.AEMP_SECRET ?? 'aemp-example' });
const me = port();
rcv(me, 'reply', async (text: string) => {
  process.stdout.write(`reply: ${text}\n`);
  kil(me);
  await shutdown();
});
snd(target, 'test', 123, me);
