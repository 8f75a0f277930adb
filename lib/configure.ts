/**
 * configure() and createNode(): give a node its identity and network.
 * Without seeds or binds a node joins the in-process hub; with them, the
 * mesh (added by the distributed-nodes layer).
 */
import { processHub } from './hub.ts';
import { resolveNodeId } from './ids.ts';
import { MpNode } from './node.ts';
import type { Clock } from './clock.ts';

export interface ConfigureOptions {
  profile?: string;
  nodeid?: string;
  binds?: string[];
  seeds?: string[];
  secret?: string;
  token?: string;
  cert?: unknown;
  services?: string[];
  parent?: string;
  monitor_timeout?: number;
  connect_interval?: number;
  framing_format?: 'msgpack' | 'json';
  auth_offer?: string[];
  auth_accept?: string[];
  /** Injected clock (tests). */
  clock?: Clock;
  [key: string]: unknown;
}

/** (Re)attach node n to its network according to opts. */
export async function joinNetwork(n: MpNode, opts: ConfigureOptions): Promise<void> {
  if (opts.nodeid !== undefined && opts.nodeid !== n.NODE) {
    const id = resolveNodeId(opts.nodeid);
    if (n.net) await n.shutdown();
    n.kernel.rename(id);
  }
  if (!n.net) {
    n.net = processHub.join(n);
    n.kernel.transport = n.net;
  }
}

/** A new node with its own ports, identity and network (many may live in one process). */
export async function createNode(opts: ConfigureOptions = {}): Promise<MpNode> {
  const n = new MpNode({ nodeid: opts.nodeid, clock: opts.clock });
  await joinNetwork(n, { ...opts, nodeid: undefined });
  return n;
}
