/**
 * e2e: Debian's coturn (`turnserver`, apt-get install coturn) on 127.0.0.1,
 * started per test file with a generated config in a temp dir: the shared
 * secret REST scheme (use-auth-secret), no TLS, loopback peers allowed (the
 * machine may have nothing but loopback). Its log lines are kept so a test
 * can check which users allocated relays.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Proc, freePort } from './procs.ts';

export interface Turn {
  proc: Proc;
  secret: string;
  /** turn:127.0.0.1:PORT?transport=udp */
  url: string;
  stop(): Promise<void>;
}

export async function startTurn(): Promise<Turn> {
  const dir = mkdtempSync(join(tmpdir(), 'aemp-turn-'));
  const port = await freePort();
  const secret = randomBytes(18).toString('base64url');
  // A relay port range of its own, above the ephemeral ports tests usually get.
  const base = 50_000 + Math.floor(Math.random() * 7_000);
  const conf = join(dir, 'turnserver.conf');
  writeFileSync(
    conf,
    [
      'listening-ip=127.0.0.1',
      'relay-ip=127.0.0.1',
      `listening-port=${port}`,
      `min-port=${base}`,
      `max-port=${base + 400}`,
      'use-auth-secret',
      `static-auth-secret=${secret}`,
      'realm=aemp.test',
      'fingerprint',
      'no-tls',
      'no-dtls',
      'no-cli',
      'allow-loopback-peers',
      'no-multicast-peers',
      'verbose',
      'log-file=stdout',
      'simple-log',
      `pidfile=${join(dir, 'turnserver.pid')}`,
      '',
    ].join('\n'),
  );
  const bin = process.env.TURNSERVER_PATH || 'turnserver';
  const child = spawn(bin, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = new Proc('turnserver', child);
  child.once('error', (e) => proc.lines.push(`spawn error: ${e.message}`));
  await proc.waitLine(new RegExp(`(IPv4. UDP listener opened on ?: 127\\.0\\.0\\.1:${port}|spawn error)`), 15_000);
  if (proc.lines.some((l) => l.startsWith('spawn error'))) throw new Error(`cannot start ${bin} (apt-get install coturn): ${proc.lines.join('\n')}`);
  return {
    proc,
    secret,
    url: `turn:127.0.0.1:${port}?transport=udp`,
    stop: async () => {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
