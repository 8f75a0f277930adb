/**
 * How a node's group requests reach its group server, for each kind of
 * network: its seed over the mesh, itself when it is a seed, the
 * in-process hub, or nothing (no network: groups are local only).
 */
import type { NodeId } from '../ids.ts';
import type { Mesh, MeshHooks } from '../mesh/mesh.ts';
import type { Network } from '../network.ts';
import type { MpNode } from '../node.ts';
import type { HubGroups } from './hub-groups.ts';

export interface Upstream {
  /** The node group messages come from; undefined while there is none (no seed link). */
  server(): NodeId | undefined;
  /** A request to the server; dropped while there is none (the next hello carries the state). */
  send(msg: unknown[]): void;
  detach(): void;
}

export const NO_UPSTREAM: Upstream = { server: () => undefined, send: () => {}, detach: () => {} };

/** The upstream of `node` on `net`; a mesh node's seed link changes are reported to `link`. */
export function upstreamFor(node: MpNode, net: Network | undefined, link: (seed: NodeId | undefined) => void): Upstream {
  if (net === undefined) return NO_UPSTREAM;
  const k = node.kernel;
  const hub = (net as { groupHub?: HubGroups }).groupHub;
  if (hub) return { server: () => node.NODE, send: (msg) => hub.request(node.NODE, msg), detach: () => {} };
  const mesh = net as Partial<Mesh>;
  if (!(mesh.hooks instanceof Set)) return NO_UPSTREAM;
  // A seed is its own group server: requests go to its own node port.
  if (mesh.seed) return { server: () => node.NODE, send: (msg) => k.snd(node.NODE, msg), detach: () => {} };
  const hooks = mesh.hooks;
  const hook: MeshHooks = { seedLink: link };
  hooks.add(hook);
  return {
    server: () => mesh.seedConn?.peer,
    send: (msg) => {
      const s = mesh.seedConn?.peer;
      if (s !== undefined) k.snd(s, msg);
    },
    detach: () => void hooks.delete(hook),
  };
}
