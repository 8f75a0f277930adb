/**
 * Child script: the aemp side of the remote figures (see measure.ts and
 * child-io.ts for the protocol). Every process is one aemp node on the
 * WebSocket mesh, on 127.0.0.1 only.
 *
 * Roles:
 *   'seed'            a seed (helper for relay.* and detect.*); ready {url}.
 *   'recv' / 'echo'   the passive side of a pair. Without helpers it is itself
 *                     the seed (remote.*); with a helper seed it joins it
 *                     (relay.*). Sends {url?, port} as a `peer` event, then
 *                     waits for the active side's 'hello'.
 *   'send' / 'ping'   the active side: joins the seed it was told of, says
 *                     'hello' with its own port, and is ready on 'hi'.
 *   'watched'         node W of detect.*: joins args.seedUrl, answers 'ping'
 *                     on its port; ready {port}; on {"cmd":"shutdown"} emits
 *                     {"ev":"shutting","t"} and calls shutdown().
 *   'watcher'         joins args.seedUrl; on {"cmd":"watch","port","run"} sets
 *                     `mon` on the port, makes one round trip to it (so the
 *                     monitor is in place) and emits {"ev":"armed","run"};
 *                     when it fires: {"ev":"fired","run","t","reason"}.
 *
 * The throughput and RTT loops are in aemp-loops.ts (shared with rtc-node.ts).
 * The mesh closes a link whose send buffer passes maxBufferedBytes (64 MiB),
 * which is why the sender keeps a window instead of sending unbounded.
 *
 * Common args: monitor_timeout (ms, passed to createNode when given);
 * expectPath (the sender fails unless linkInfo(receiver).path is this).
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNode, nodeOf, type MpNode, type PortId } from '../node/index.ts';
import { activeLoop, passiveLoop, type LoopOptions } from './aemp-loops.ts';
import { childIo, wallNow, type Command } from './child-io.ts';

// configure() reads the profile database: point it at a file that does not exist.
process.env.AEMP_RC = join(tmpdir(), `aemp-bench-no-rc-${process.pid}`, 'rc.json');

const io = childIo();
const args = io.args as {
  role: string;
  count?: number;
  helpers?: Array<{ url?: string }>;
  seedUrl?: string;
  nodeid?: string;
  monitor_timeout?: number;
  chunk?: number;
  window?: number;
  ackEvery?: number;
  warmup?: number;
  expectPath?: string;
};
const SECRET = 'bench';
const timing = args.monitor_timeout !== undefined ? { monitor_timeout: args.monitor_timeout } : {};

/** A seed listening on 127.0.0.1, any port; returns the node and its URL. */
async function startSeed(nodeid: string): Promise<{ node: MpNode; url: string }> {
  const node = await createNode({ nodeid, binds: ['127.0.0.1:0'], secret: SECRET, ...timing });
  const url = node.net!.seedLink!.listening()[0]!;
  return { node, url };
}

/** A node joined to the seed at url; fails unless the seed link came up. */
async function joinSeed(nodeid: string, url: string): Promise<MpNode> {
  const node = await createNode({ nodeid, seeds: [url], secret: SECRET, direct: false, ...timing }); // the ws mesh and its relay; rtc.* measures direct links
  if (node.upNodes().length === 0) throw new Error(`${nodeid}: could not link to seed ${url}`);
  return node;
}

const helperUrl = (): string | undefined => args.helpers?.[0]?.url;

switch (args.role) {
  case 'seed': {
    const { url } = await startSeed('seed');
    io.emit({ ev: 'ready', url });
    break;
  }
  case 'recv':
  case 'echo':
    await passive(args.role);
    break;
  case 'send':
  case 'ping':
    io.on('peer', (c: Command) => void active(args.role, c.data as { url?: string; port: PortId }).catch(fail));
    break;
  case 'watched':
    await watched();
    break;
  case 'watcher':
    await watcher();
    break;
  default:
    throw new Error(`aemp-remote: unknown role ${args.role}`);
}

/** The loop settings the harness passed (aemp-loops.ts has the defaults). */
function loopOptions(): LoopOptions {
  return { count: args.count!, chunk: args.chunk, window: args.window, ackEvery: args.ackEvery, warmup: args.warmup, fail };
}

function fail(e: unknown): void {
  io.emit({ ev: 'error', error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  process.exit(1);
}

/** Receiver (counts, acks, emits done) or echo (answers every 'm'). */
async function passive(role: string): Promise<void> {
  const seedUrl = helperUrl();
  const { node, url } = seedUrl === undefined ? await startSeed('a') : { node: await joinSeed('b', seedUrl), url: undefined };
  const port = node.port();
  let peerPort: PortId | undefined;
  node.rcv(port, 'hello', (from: PortId) => {
    peerPort = from;
    node.snd(from, 'hi');
    io.emit({ ev: 'ready' });
  });
  passiveLoop(role, node, port, () => peerPort, io, loopOptions());
  // A throw in a port callback kills the port: that is a failed measurement.
  node.mon(port, (...reason: unknown[]) => fail(new Error(`receiving port died: ${JSON.stringify(reason)}`)));
  io.emit({ ev: 'peer', data: { url, port } });
}

/** Sender or pinger: join, say hello, then run on every `go`. */
async function active(role: string, peer: { url?: string; port: PortId }): Promise<void> {
  const seedUrl = helperUrl() ?? peer.url;
  if (seedUrl === undefined) throw new Error('no seed URL: neither a helper seed nor the peer told one');
  const node = await joinSeed(role === 'send' ? 'sender' : 'pinger', seedUrl);
  const dst = peer.port;
  const me = node.port();
  const hi = new Promise<void>((r) => node.rcv(me, 'hi', () => r()));
  node.snd(dst, 'hello', me);
  await hi;
  const path = node.linkInfo(nodeOf(dst))?.path;
  if (args.expectPath !== undefined && path !== args.expectPath)
    throw new Error(`linkInfo(${nodeOf(dst)}).path is ${String(path)}, expected ${args.expectPath}`);
  node.mon(dst, (...reason: unknown[]) => fail(new Error(`peer port died: ${JSON.stringify(reason)}`)));

  activeLoop(role, node, me, dst, io, loopOptions());
  io.emit({ ev: 'ready', path });
}

/** Node W: a port that answers pings; shuts down on command. */
async function watched(): Promise<void> {
  const node = await joinSeed(args.nodeid ?? 'w', args.seedUrl!);
  const port = node.port();
  node.rcv(port, 'ping', (reply: PortId) => node.snd(reply, 'pong'));
  io.on('shutdown', () => {
    io.emit({ ev: 'shutting', t: wallNow() });
    node.shutdown().then(() => io.emit({ ev: 'shut', t: wallNow() }), fail);
  });
  io.emit({ ev: 'ready', port });
}

/** The watcher: monitors W's port from another node (through the seed). */
async function watcher(): Promise<void> {
  const node = await joinSeed('watcher', args.seedUrl!);
  const me = node.port();
  let pong: (() => void) | undefined;
  node.rcv(me, 'pong', () => pong?.());
  io.on('watch', (c: Command) => {
    const port = c.port as PortId;
    const run = c.run as number;
    node.mon(port, (...reason: unknown[]) => io.emit({ ev: 'fired', run, t: wallNow(), reason }));
    // The monitor request travels ahead of the ping on the same path, so the pong proves it arrived.
    const got = new Promise<void>((r) => (pong = r));
    node.snd(port, 'ping', me);
    void got.then(() => io.emit({ ev: 'armed', run, path: node.linkInfo(nodeOf(port))?.path }));
  });
  io.emit({ ev: 'ready' });
}
