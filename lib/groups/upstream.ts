/**
 * How a node's group requests reach its group server. Each kind of network
 * says (Network.groupUpstream): the mesh sends them to the node's seed (a
 * seed to itself), the in-process hub to its registry; without a network,
 * or one that does not say, groups are local only.
 */
import type { NodeId } from '../ids.ts';
import type { Network } from '../network.ts';
import type { MpNode } from '../node.ts';

export interface Upstream {
  /** The node group messages come from; undefined while there is none (no seed link). */
  server(): NodeId | undefined;
  /** A request to the server; dropped while there is none (the next hello carries the state). */
  send(msg: unknown[]): void;
  detach(): void;
}

export const NO_UPSTREAM: Upstream = { server: () => undefined, send: () => {}, detach: () => {} };

/** The upstream of `node` on `net` (none without one, or where groups stay local); server changes are reported to `link`. */
export function upstreamFor(node: MpNode, net: Network | undefined, link: (seed: NodeId | undefined) => void): Upstream {
  return net?.groupUpstream?.(node, link) ?? NO_UPSTREAM;
}
