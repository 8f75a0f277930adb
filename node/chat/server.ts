/**
 * The chat server as a process (`npm start` runs one and restarts it when
 * it dies):
 *   tsx node/chat/server.ts [--seed URL] [--profile P] [--nodeid ID]
 * The seed's address and secret come from the demo profile (see env.ts);
 * --seed and $AEMP_SECRET override them. Prints "relaying: …" lines as the
 * Intro's server does. Exits when its parent (`npm start`) goes away.
 */
import { configure, shutdown, NODE } from '../index.ts';
import { listenCert } from '../transport.ts';
import { DEMO_PROFILE, bindToUrl, demoProfile, parseArgs, useDemoEnvironment } from './env.ts';
import { chatServer } from './room.ts';

const out = (s: string) => process.stdout.write(`chat server: ${s}\n`);

const { flags } = parseArgs(process.argv.slice(2), ['seed', 'profile', 'nodeid']);
const profile = await demoProfile(flags.profile ?? DEMO_PROFILE);
const binds = (profile.values.binds as string[] | undefined) ?? [];
const seed = flags.seed ?? (binds[0] ? bindToUrl(binds[0], listenCert(profile.values) !== undefined) : undefined);
const secret = process.env.AEMP_SECRET || (profile.values.secret as string);
if (!seed) throw new Error(`no seed: profile ${flags.profile ?? DEMO_PROFILE} has no binds and no --seed was given`);

useDemoEnvironment(profile.values);
await configure({ nodeid: flags.nodeid ?? 'chat_server', seeds: [seed], secret, monitor_timeout: 3000, connect_interval: 500 });
const s = chatServer({ say: out });
out(`${NODE} serving as ${s.port} (group eg_chat_server), seed ${seed}`);

let stopping = false;
const stop = async (why: string) => {
  if (stopping) return;
  stopping = true;
  out(`stopping (${why})`);
  await shutdown();
  // The goodbyes are queued; give data channels (which close asynchronously) a moment to send them.
  setTimeout(() => process.exit(0), 200);
};
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
// Started by `npm start` with an IPC channel: go when the parent goes, even if it was killed.
process.on('disconnect', () => void stop('parent exited'));
