/**
 * The terminal chat client (`npm run chat -- NICK`), the Intro's
 * chat_client improved: it finds the server through its group, rejoins on
 * its own when the server or the seed comes back, and knows who is there.
 *   npm run chat -- NICK [--seed URL] [--profile P]
 * Type a line to say it; /nick NEW, /who (members, link path, RTT), /quit.
 * Output: "nick: text" for messages, "* …" for the server's notices,
 * "! …" for this client's own (lost the server, found it again, …).
 */
import { createInterface } from 'node:readline';
import { configure, shutdown, NODE } from '../index.ts';
import { ChatClient, type Member } from '../../lib/chat/protocol.ts';
import { listenCert } from '../transport.ts';
import { DEMO_PROFILE, bindToUrl, demoProfile, parseArgs, useDemoEnvironment } from './env.ts';

const out = (s: string) => process.stdout.write(`${s}\n`);

let parsed: ReturnType<typeof parseArgs>;
try {
  parsed = parseArgs(process.argv.slice(2), ['seed', 'profile']);
} catch (e) {
  process.stderr.write(`chat: ${(e as Error).message}\nusage: npm run chat -- NICK [--seed URL] [--profile P]\n`);
  process.exit(2);
}
const { flags, words } = parsed;
const nick = words.join(' ') || process.env.USER || 'terminal';
const profile = await demoProfile(flags.profile ?? DEMO_PROFILE);
const binds = (profile.values.binds as string[] | undefined) ?? [];
const seed = flags.seed ?? (binds[0] ? bindToUrl(binds[0], listenCert(profile.values) !== undefined) : undefined);
if (!seed) {
  process.stderr.write(`chat: no seed: profile ${flags.profile ?? DEMO_PROFILE} has no binds; pass --seed URL\n`);
  process.exit(2);
}

useDemoEnvironment(profile.values);
out(`! connecting to ${seed} as ${nick}`);
await configure({
  nodeid: 'anon/',
  seeds: [seed],
  secret: process.env.AEMP_SECRET || (profile.values.secret as string),
  monitor_timeout: 3000,
  connect_interval: 1000,
});

const fmtMember = (m: Member) =>
  `  ${(m.nick ?? '?').padEnd(16)} ${m.node.padEnd(24)} ${m.self ? 'this client' : `${m.path ?? '-'}${m.rttMs !== undefined ? ` ${m.rttMs} ms` : ''}`}`;

const client = new ChatClient({
  nick,
  onLine: (l) => out(l.kind === 'msg' ? `${l.nick}: ${l.text}` : l.kind === 'notice' ? `* ${l.text}` : `! ${l.text}`),
  onState: (state) => {
    if (state === 'joined') {
      const s = client.serverLink();
      out(`! joined as ${client.nick} (node ${NODE}), chat server ${s?.node} via ${s?.path ?? '?'}`);
    }
  },
});
client.start();

const rl = createInterface({ input: process.stdin, terminal: process.stdin.isTTY === true });
rl.on('line', (line) => {
  const text = line.trim();
  if (text === '') return;
  if (text === '/quit') return void rl.close();
  if (text === '/who') {
    const s = client.serverLink();
    out(`! chat server ${s ? `${s.node} via ${s.path ?? '?'}${s.rttMs !== undefined ? ` ${s.rttMs} ms` : ''}` : 'not found yet'}`);
    for (const m of client.memberList()) out(fmtMember(m));
    return;
  }
  const nickCmd = /^\/nick\s+(.+)$/.exec(text);
  if (nickCmd) return void client.setNick(nickCmd[1]!);
  if (text.startsWith('/')) return void out('! commands: /nick NEW, /who, /quit');
  if (!client.say(text)) out('! not in the room right now (looking for the chat server); not sent');
});

let leaving = false;
const leave = async () => {
  if (leaving) return;
  leaving = true;
  client.stop();
  await shutdown();
  // The goodbyes are queued; give data channels (which close asynchronously) a moment to send them.
  setTimeout(() => process.exit(0), 200);
};
rl.on('close', () => void leave());
process.on('SIGINT', () => void leave());
process.on('SIGTERM', () => void leave());
