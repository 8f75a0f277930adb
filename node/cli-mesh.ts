/**
 * The `aemp` mesh commands: `run` starts a node from a profile; snd, mon,
 * cal, trace, nodes and grp join the mesh as an anonymous node with the
 * profile's seeds and secret, do one thing, and leave with a goodbye.
 *
 * Output: results on stdout (JSON where a value is printed), progress and
 * errors on stderr. A failure throws an AempError; cli.ts prints it as
 * `aemp: ...` and exits 1.
 */
import { nodeOf, type NodeId, type PortId } from '../lib/ids.ts';
import { joinNetwork } from '../lib/configure.ts';
import type { AuthMethod } from '../lib/protocol/handshake.ts';
import { AempError, PortDiedError, TimeoutError } from '../lib/errors.ts';
import { safeJson } from '../lib/kernel.ts';
import { Mesh } from '../lib/mesh/mesh.ts';
import { MpNode } from '../lib/node.ts';
import { parseMeshArgs, type MeshArgs } from './cli.ts';
import { loadConfigFor } from './config.ts';
import { runNode, useCliEnvironment } from './run.ts';
import { nodeTransport, trustedCerts } from './transport.ts';

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

/** A mesh command could not do its job (no answer, port died, node lost). */
export class MeshCommandError extends AempError {
  constructor(message: string) {
    super('AEMP_ERR_MESH_COMMAND', message);
  }
}

const DEFAULT_ANSWER_TIMEOUT_MS = 10_000;

/** Runs one mesh command (arguments as parseMeshArgs takes them); resolves to the exit code. */
export async function runMeshCommand(cmd: string, args: string[], ctx: MeshCtx): Promise<number> {
  const a = parseMeshArgs(cmd, args);
  const err = ctx.err ?? ((l: string) => void process.stderr.write(l + '\n'));
  if (a.cmd === 'run') return run(a.overrides, ctx, err);
  const node = await joinAnon(cmd, ctx);
  try {
    switch (a.cmd) {
      case 'snd':
        return await snd(node, a.port, a.msg, ctx);
      case 'mon':
        return await mon(node, a.port, ctx, err);
      case 'cal':
        return await cal(node, a, ctx);
      case 'trace':
        return await trace(node, a.target, ctx, err);
      case 'nodes':
        return await nodes(node, ctx);
      case 'grp':
        return await grp(node, a.group, a.watch, ctx, err);
    }
  } finally {
    await node.shutdown();
  }
}

// ---- run ----

async function run(overrides: Record<string, unknown>, ctx: MeshCtx, err: (l: string) => void): Promise<number> {
  const { node } = await runNode({ profile: ctx.profile, overrides, rcPath: ctx.rcPath, say: err });
  const sig = await interrupted().promise;
  err(`aemp: node ${node.NODE}: ${sig}, leaving the mesh`);
  await node.shutdown();
  // Services may hold timers or sockets of their own: do not let them keep us up.
  unref(setTimeout(() => process.exit(0), 3000));
  return 0;
}

// ---- joining as an anonymous node ----

function list(v: unknown): string[] {
  return Array.isArray(v) ? (v as string[]) : [];
}

/** Join with the profile's seeds (else its binds, on this host) and secret; fail fast if no seed answers. */
async function joinAnon(cmd: string, ctx: MeshCtx): Promise<MpNode> {
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
  const meshOf = () => (node.net instanceof Mesh ? node.net : undefined);
  useCliEnvironment(
    nodeTransport({
      ca: trustedCerts(values),
      onLinkFailed: (url, why) => {
        failed.set(url, why);
        const m = meshOf();
        if (m && !m.seedConn && m.seedUrls.every((u) => failed.has(u))) giveUp();
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
  const mesh = meshOf();
  if (mesh?.seedConn) return node;
  await node.shutdown();
  // start() waits for a seed until monitor_timeout; nothing is coming now.
  (mesh as unknown as { firstSeedDone?: () => void } | undefined)?.firstSeedDone?.();
  const tried = (mesh?.seedUrls ?? seeds).map((u) => `${u} (${failed.get(u) ?? 'no answer'})`);
  throw new NoSeedError(`${cmd}: cannot reach any seed of ${where}: ${tried.join(', ')}`);
}

// ---- the commands ----

/**
 * Send, then wait for one round trip to the seed before the goodbye: the
 * seed has relayed the message by then, and refused it if it does not know
 * the target node (AEMP's snd cannot tell; the operator wants to know).
 */
async function snd(node: MpNode, port: PortId, msg: unknown[], ctx: MeshCtx): Promise<number> {
  const target = nodeOf(port);
  let refused: string | undefined;
  const unwatch = node.monNodes((n, up, ...reason) => {
    if (n === target && !up) refused ??= safeJson(reason);
  });
  try {
    node.snd(port, ...msg);
    await seedRoundTrip(node, ctx.answerTimeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS);
  } finally {
    unwatch();
  }
  if (refused !== undefined) throw new MeshCommandError(`snd: the message to ${port} was dropped: ${refused}`);
  return 0;
}

/** Resolves once the seed answered a request sent now (so it handled everything sent before), or after ms. */
function seedRoundTrip(node: MpNode, ms: number): Promise<unknown> {
  const seed = node.net instanceof Mesh ? node.net.seedConn?.peer : undefined;
  if (seed === undefined) return Promise.resolve();
  // A monitor on a port nobody has is answered at once by the node that would hold it.
  return Promise.race([new Promise<void>((r) => node.mon(`${seed}#aemp-sync`, () => r())), sleep(ms)]);
}

async function mon(node: MpNode, port: PortId, ctx: MeshCtx, err: (l: string) => void): Promise<number> {
  const fired = new Promise<unknown[]>((r) => node.mon(port, (...reason) => r(reason)));
  // A monitor on a port nobody has is answered at once, after every request
  // sent before it: once it fires, the real monitor is in place over there.
  if (!node.portIsLocal(port)) {
    const probe = new Promise<void>((r) => node.mon(`${nodeOf(port)}#aemp-mon-probe`, () => r()));
    if ((await Promise.race([probe.then(() => 'probe'), fired.then(() => 'fired')])) === 'probe') {
      err(`aemp: mon: monitoring ${port}`);
    }
  }
  const stop = interrupted();
  const reason = await Promise.race([fired, stop.promise]);
  stop.cancel();
  if (typeof reason === 'string') return 130;
  ctx.out(safeJson(reason));
  return 0;
}

async function cal(node: MpNode, a: Extract<MeshArgs, { cmd: 'cal' }>, ctx: MeshCtx): Promise<number> {
  try {
    const reply = await node.call(a.port, a.msg, { timeoutMs: a.timeoutSec * 1000 });
    ctx.out(safeJson(reply));
    return 0;
  } catch (e) {
    if (e instanceof TimeoutError) throw new MeshCommandError(`cal: no reply from ${a.port} within ${a.timeoutSec} s`);
    if (e instanceof PortDiedError) throw new MeshCommandError(`cal: ${a.port} died before replying: ${safeJson(e.reason)}`);
    throw e;
  }
}

async function trace(node: MpNode, target: string, ctx: MeshCtx, err: (l: string) => void): Promise<number> {
  const targetNode = nodeOf(target);
  const filter = target.includes('#') ? target : null;
  const wait = ctx.answerTimeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS;
  let answered!: (refusal?: string) => void;
  const answer = new Promise<string | undefined>((r) => (answered = r));
  const reports = node.port((ev: unknown, port: unknown, msg: unknown) => {
    if (ev === 'SND' || ev === 'RCV') ctx.out(`${ev} ${String(port)} ${safeJson(msg)}`);
    else if (ev === 'on') answered();
    else if (ev === 'refused') answered(String(port));
  });
  let lost!: (why: string) => void;
  const gone = new Promise<string>((r) => (lost = r));
  const unwatch = node.monNodes((n, up, ...reason) => {
    if (n === targetNode && !up) lost(`trace: lost node ${targetNode}: ${safeJson(reason)}`);
  });
  try {
    node.snd(targetNode, 'trace', reports, filter);
    const first = await Promise.race([answer, gone.then((w) => ({ lost: w })), sleep(wait).then(() => ({ timeout: true }))]);
    if (typeof first === 'string') throw new MeshCommandError(`trace: ${targetNode} refused: ${first}`);
    if (first && 'lost' in first) throw new MeshCommandError(first.lost);
    if (first && 'timeout' in first) {
      throw new MeshCommandError(`trace: ${targetNode} did not answer the trace request within ${wait / 1000} s (does it run aemp with tracing?)`);
    }
    if (filter !== null) node.mon(filter, (...reason) => lost(`trace: ${filter} died: ${safeJson(reason)}`));
    err(`aemp: tracing ${target}; interrupt to stop`);
    const stop = interrupted();
    const end = await Promise.race([stop.promise, gone]);
    stop.cancel();
    if (end.startsWith('SIG')) return 0;
    if (filter !== null && end.startsWith(`trace: ${filter} died`)) {
      err(`aemp: ${end}`);
      return 0;
    }
    throw new MeshCommandError(end);
  } finally {
    unwatch();
    node.kil(reports);
  }
}

async function nodes(node: MpNode, ctx: MeshCtx): Promise<number> {
  const seed = (node.net as Mesh).seedConn!.peer;
  const wait = ctx.answerTimeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS;
  let got!: (v: [NodeId[], NodeId[]]) => void;
  const answer = new Promise<[NodeId[], NodeId[]]>((r) => (got = r));
  const reply = node.port((up: NodeId[], known: NodeId[]) => got([list(up), list(known)]));
  try {
    node.snd(seed, 'nodes', reply);
    const r = await Promise.race([answer, sleep(wait)]);
    if (!r) throw new MeshCommandError(`nodes: seed ${seed} did not answer within ${wait / 1000} s`);
    const [up, known] = r;
    ctx.out(`${seed} up (seed)`);
    for (const n of [...new Set([...known, ...up])].sort()) {
      if (n !== node.NODE) ctx.out(`${n} ${up.includes(n) ? 'up' : 'down'}`);
    }
    return 0;
  } finally {
    node.kil(reply);
  }
}

/**
 * The members of a group, as the seed knows them (grpMon's first call comes
 * with the seed's answer); with watch, every change until interrupted.
 */
async function grp(node: MpNode, group: string, watch: boolean, ctx: MeshCtx, err: (l: string) => void): Promise<number> {
  const wait = ctx.answerTimeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS;
  let first!: (ports: PortId[]) => void;
  const answer = new Promise<PortId[]>((r) => (first = r));
  let answered = false;
  const stopMon = node.grpMon(group, (ports, added, removed) => {
    if (watch) ctx.out(JSON.stringify({ members: ports, added, removed }));
    if (!answered) {
      answered = true;
      first(ports);
    }
  });
  try {
    const ports = await Promise.race([answer, sleep(wait)]);
    if (ports === undefined) throw new MeshCommandError(`grp: the seed did not answer within ${wait / 1000} s`);
    if (!watch) {
      ctx.out(JSON.stringify(ports));
      return 0;
    }
    err(`aemp: grp: watching ${group}; interrupt to stop`);
    await interrupted().promise;
    return 0;
  } finally {
    stopMon();
  }
}

// ---- helpers ----

/** Resolves with the signal's name on SIGINT or SIGTERM; cancel() stops listening. */
function interrupted(): { promise: Promise<string>; cancel(): void } {
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
function sleep(ms: number): Promise<undefined> {
  return new Promise((r) => unref(setTimeout(() => r(undefined), ms)));
}

function unref(t: ReturnType<typeof setTimeout>): void {
  t.unref?.();
}
