/**
 * What the mesh shows callers through the Network interface beyond links
 * and nodes: its seed link (lib/network.ts SeedLink) and the group
 * upstream (a node's group requests go to its seed; a seed is its own
 * group server). Callers outside lib/mesh/ use these, never the Mesh class.
 */
import type { NodeId } from '../ids.ts';
import type { Guard } from '../kernel.ts';
import type { SeedLink } from '../network.ts';
import type { MpNode } from '../node.ts';
import type { Upstream } from '../groups/upstream.ts';

/** The part of the mesh these views read (mesh.ts implements it). */
export interface SeedLinkHost {
  readonly seedConn: { readonly peer: NodeId } | undefined;
  readonly seedUrls: readonly string[];
  readonly seed: { readonly urls: readonly string[] } | undefined;
  readonly direct: { readonly ws: { readonly listening: boolean; readonly urls: readonly string[] } | undefined };
  readonly hooks: Set<{ seedLink?(seed: NodeId | undefined): void }>;
  stopWaitingForSeed(): void;
}

export function seedLinkOf(m: SeedLinkHost): SeedLink {
  return {
    current: () => m.seedConn?.peer,
    monitor(cb): Guard {
      const hook = { seedLink: cb };
      m.hooks.add(hook);
      return () => void m.hooks.delete(hook);
    },
    urls: () => m.seedUrls,
    listening: () => m.seed?.urls ?? [],
    direct: () => (m.direct.ws?.listening === true ? m.direct.ws.urls : []),
    stopWaiting: () => m.stopWaitingForSeed(),
  };
}

/** A mesh node's group upstream: its seed (reported to onServer as the seed link changes), or itself on a seed. */
export function meshUpstream(m: SeedLinkHost, node: MpNode, onServer: (server: NodeId | undefined) => void): Upstream {
  const k = node.kernel;
  // A seed is its own group server: requests go to its own node port.
  if (m.seed) return { server: () => node.NODE, send: (msg) => k.snd(node.NODE, msg), detach: () => {} };
  const unwatch = seedLinkOf(m).monitor(onServer);
  return {
    server: () => m.seedConn?.peer,
    send: (msg) => {
      const s = m.seedConn?.peer;
      if (s !== undefined) k.snd(s, msg);
    },
    detach: unwatch,
  };
}
