/**
 * How a one-shot mesh command joins: an anonymous node with the profile's
 * seeds and secret, failing fast when no seed answers; and the signal and
 * sleep helpers the commands wait with.
 */
import { joinNetwork } from '../../lib/configure.ts';
import type { AuthMethod } from '../../lib/protocol/handshake.ts';
import { AempError } from '../../lib/errors.ts';
import { MpNode } from '../../lib/node.ts';
import { loadConfigFor } from '../config.ts';
import { useCliEnvironment } from '../run.ts';
import { nodeTransport, trustedCerts } from '../transport.ts';

/** Where a mesh command runs: its profile and database, and where its lines go. */
export interface MeshCtx {
  profile?: string;
  rcPath?: string;
  out: (line: string) => void;
  /** Status lines (default: process.stderr). */
  err?: (line: string) => void;
  /** How long a node-port request (trace, nodes) may take to answer. Default 10 s. */
  answerTimeoutMs?: number;
}

/** No seed could be reached (or the link to it was lost) while running a mesh command. */
export class NoSeedError extends AempError {
  constructor(message: string) {
    super('AEMP_ERR_NO_SEED', message);
  }
}


export function list(v: unknown): string[] {
  return Array.isArray(v) ? (v as string[]) : [];
}

/** Join with the profile's seeds (else its binds, on this host) and secret; fail fast if no seed answers. */export async function joinAnon(cmd: string, ctx: MeshCtx): Promise<MpNode> {
  const { values } = await loadConfigFor({ profile: ctx.profile, programOpts: {}, rcPath: ctx.rcPath });
  let seeds = list(values.seeds);
  // On a seed's own host its profile has binds, not seeds: reach it through those.
  if (seeds.length === 0) {
    const scheme = values.cert ? 'wss' : 'ws';
    seeds = list(values.binds)
      .filter((b) => !/:0$/.test(b))
      .map((b) => `${scheme}://${b.replace(/^(\*|0\.0\.0\.0):/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:')}/`);
  }
  const where = ctx.profile === undefined ? 'the global settings' : `profile '${ctx.profile}'`;
  if (seeds.length === 0) {
    throw new NoSeedError(`${cmd}: no seeds in ${where}; set them with 'aemp ${ctx.profile === undefined ? '' : `profile ${ctx.profile} `}setseeds HOST:PORT'`);
  }
  const failed = new Map<string, string>();
  let giveUp!: () => void;
  const allFailed = new Promise<void>((r) => (giveUp = r));
  const node = new MpNode({ nodeid: 'anon/' });
  const seedLink = () => node.net?.seedLink;
  useCliEnvironment(
    nodeTransport({
      ca: trustedCerts(values),
      onLinkFailed: (url, why) => {
        failed.set(url, why);
        const s = seedLink();
        if (s && !s.current() && s.urls().every((u) => failed.has(u))) giveUp();
      },
    }),
  );
  const opts = values; // loadConfigFor gives durations in milliseconds already
  const joined = joinNetwork(node, {
    seeds,
    secret: opts.secret as string | undefined,
    token: opts.token as string | undefined,
    monitor_timeout: opts.monitor_timeout as number | undefined,
    connect_interval: opts.connect_interval as number | undefined,
    framing_format: opts.framing_format as 'json' | 'msgpack' | undefined,
    auth_offer: opts.auth_offer as AuthMethod[] | undefined,
    auth_accept: opts.auth_accept as AuthMethod[] | undefined,
    // A command that lives for a moment talks through the seed: a WebRTC link set up
    // (and switched to) in the middle of a one-shot snd or a trace only adds churn.
    direct: false,
  });
  await Promise.race([joined, allFailed]);
  const link = seedLink();
  if (link?.current()) return node;
  await node.shutdown();
  // start() waits for a seed until monitor_timeout; nothing is coming now.
  link?.stopWaiting();
  const tried = (link?.urls() ?? seeds).map((u) => `${u} (${failed.get(u) ?? 'no answer'})`);
  throw new NoSeedError(`${cmd}: cannot reach any seed of ${where}: ${tried.join(', ')}`);
}

/** Resolves with the signal's name on SIGINT or SIGTERM; cancel() stops listening. */
export function interrupted(): { promise: Promise<string>; cancel(): void } {
  let on!: (sig: string) => void;
  const promise = new Promise<string>((r) => {
    on = (sig: string) => {
      cancel();
      r(sig);
    };
  });
  const cancel = () => {
    process.off('SIGINT', on);
    process.off('SIGTERM', on);
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return { promise, cancel };
}

/** Resolves with undefined after ms, without keeping the process up. */
export function sleep(ms: number): Promise<undefined> {
  return new Promise((r) => unref(setTimeout(() => r(undefined), ms)));
}

export function unref(t: ReturnType<typeof setTimeout>): void {
  t.unref?.();
}
