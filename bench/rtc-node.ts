/**
 * Child script: the aemp side of the rtc.* figures (see measure.ts and
 * child-io.ts for the protocol). Three processes on 127.0.0.1: a seed
 * (role 'seed', a helper) and two nodes joined to it, which reach each
 * other over a direct WebRTC data channel (real @roamhq/wrtc) once their
 * first relayed messages made them upgrade.
 *
 * Roles:
 *   'seed'            ready {url}.
 *   'recv' / 'echo'   joins the helper seed, sends its port as a `peer`
 *                     event, answers 'hello' with 'hi' and 'path?' with
 *                     its linkInfo path; then counts (acks every ackEvery)
 *                     or echoes.
 *   'send' / 'ping'   joins the seed, says 'hello', then asks 'path?'
 *                     until both sides say 'direct' (fails after 20 s);
 *                     ready {path}. Then the loops of aemp-loops.ts
 *                     (shared with aemp-remote.ts), checking after each
 *                     run that the path is still direct.
 *
 * With `listen` (the node_node.* figures), the passive node is a non-seed
 * node with binds (`seed: false`): the two link over a direct WebSocket
 * instead of WebRTC, and the active side fails unless the link to its peer
 * is that WebSocket.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNode, nodeOf, type MpNode, type PortId } from '../node/index.ts';
import { activeLoop, passiveLoop, type LoopOptions } from './aemp-loops.ts';
import { childIo } from './child-io.ts';
import { viewOf } from '../lib/mesh/mesh-view.ts';

process.env.AEMP_RC = join(tmpdir(), `aemp-bench-no-rc-${process.pid}`, 'rc.json');

const io = childIo();
const args = io.args as {
  role: string;
  count?: number;
  helpers?: Array<{ url?: string }>;
  chunk?: number;
  window?: number;
  ackEvery?: number;
  warmup?: number;
  /** Extra createNode options for both nodes (experiments: directMaxFrame, …). */
  nodeOpts?: Record<string, unknown>;
  /** The passive node listens (binds, seed: false): a direct WebSocket link instead of WebRTC. */
  listen?: boolean;
};
const SECRET = 'bench';
/** How long the two nodes may take to switch to their direct link. */
const SWITCH_TIMEOUT_MS = 20_000;


/** The loop settings the harness passed (aemp-loops.ts has the defaults). */
function loopOptions(): LoopOptions {
  return { count: args.count!, chunk: args.chunk, window: args.window, ackEvery: args.ackEvery, warmup: args.warmup, fail };
}

function fail(e: unknown): void {
  io.emit({ ev: 'error', error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  process.exit(1);
}

async function join_(nodeid: string, listen = false): Promise<MpNode> {
  const url = args.helpers?.[0]?.url;
  if (url === undefined) throw new Error('rtc-node: no seed helper');
  const node = await createNode({ nodeid, seeds: [url], secret: SECRET, ...args.nodeOpts, ...(listen ? { binds: ['127.0.0.1:0'], seed: false } : {}) });
  if (node.upNodes().length === 0) throw new Error(`${nodeid}: could not link to seed ${url}`);
  return node;
}

switch (args.role) {
  case 'seed': {
    const node = await createNode({ nodeid: 'seed', binds: ['127.0.0.1:0'], secret: SECRET });
    io.emit({ ev: 'ready', url: node.net!.seedLink!.listening()[0] });
    break;
  }
  case 'recv':
  case 'echo':
    await passive(args.role).catch(fail);
    break;
  case 'send':
  case 'ping':
    io.on('peer', (c) => void active(args.role, (c.data as { port: PortId }).port).catch(fail));
    break;
  default:
    throw new Error(`rtc-node: unknown role ${args.role}`);
}

async function passive(role: string): Promise<void> {
  const node = await join_('b', args.listen === true);
  const port = node.port();
  let peerPort: PortId | undefined;
  node.rcv(port, 'hello', (from: PortId) => {
    peerPort = from;
    node.snd(from, 'hi');
  });
  node.rcv(port, 'path?', (from: PortId) => node.snd(from, 'path', node.linkInfo(nodeOf(from))?.path ?? null));
  node.rcv(port, 'go', () => io.emit({ ev: 'ready' }));
  passiveLoop(role, node, port, () => peerPort, io, loopOptions());
  node.mon(port, (...reason: unknown[]) => fail(new Error(`receiving port died: ${JSON.stringify(reason)}`)));
  io.emit({ ev: 'peer', data: { port } });
}

async function active(role: string, dst: PortId): Promise<void> {
  const node = await join_(role === 'send' ? 'a-sender' : 'a-pinger');
  const peer = nodeOf(dst);
  const me = node.port();
  let answer: ((m: unknown[]) => void) | undefined;
  const ask = (msg: unknown[]): Promise<unknown[]> => {
    const p = new Promise<unknown[]>((r) => (answer = r));
    node.snd(dst, ...msg);
    return p;
  };
  node.rcv(me, 'hi', () => answer?.([]));
  node.rcv(me, 'path', (p: unknown) => answer?.([p]));
  await ask(['hello', me]);
  // Both directions must have switched before anything is timed.
  const deadline = Date.now() + SWITCH_TIMEOUT_MS;
  for (;;) {
    const theirs = (await ask(['path?', me]))[0];
    if (node.linkInfo(peer)?.path === 'direct' && theirs === 'direct') break;
    if (Date.now() > deadline) throw new Error(`no direct link after ${SWITCH_TIMEOUT_MS} ms (ours ${node.linkInfo(peer)?.path}, theirs ${String(theirs)})`);
    await new Promise((r) => setTimeout(r, 20));
  }
  node.mon(dst, (...reason: unknown[]) => fail(new Error(`peer port died: ${JSON.stringify(reason)}`)));
  const wanted = args.listen === true ? 'ws' : 'rtc';
  const check = (): void => {
    if (node.linkInfo(peer)?.path !== 'direct') fail(new Error(`linkInfo(${peer}).path is ${node.linkInfo(peer)?.path}, not direct`));
    const kind = viewOf(node.net)?.link(peer)?.kind;
    if (kind !== wanted) fail(new Error(`the direct link to ${peer} is ${kind}, not ${wanted}`));
  };
  check();

  activeLoop(role, node, me, dst, io, { ...loopOptions(), afterRun: check });
  node.snd(dst, 'go');
  io.emit({ ev: 'ready', path: node.linkInfo(peer)?.path });
}
