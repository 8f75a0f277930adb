/**
 * What an MpNode needs from whatever connects it to other nodes: the
 * in-process hub (nodes in one process without network configuration) or
 * the mesh (seeds, WebSocket and WebRTC links).
 */
import type { NodeId } from './ids.ts';
import type { Guard, Transport } from './kernel.ts';
import type { MpNode } from './node.ts';
import type { Upstream } from './groups/upstream.ts';

export interface LinkInfo {
  path: 'self' | 'seed' | 'direct' | 'relay';
  rttMs?: number;
}

export type NodeMonitor = (node: NodeId, isUp: boolean, ...reason: unknown[]) => void;

/** A network with seeds (the mesh): its seed link and, on a seed, where it listens. */
export interface SeedLink {
  /** The seed this node is linked to now (a plain node); undefined while there is none, and on a seed. */
  current(): NodeId | undefined;
  /** cb(seed) on every change of the seed link (undefined: lost); not called with the current state. */
  monitor(cb: (seed: NodeId | undefined) => void): Guard;
  /** The seed addresses this node dials. */
  urls(): readonly string[];
  /** Where this node listens as a seed ([] for a plain node). */
  listening(): readonly string[];
  /** Where a plain node with binds listens for direct links ([] for the rest). */
  direct(): readonly string[];
  /** Stop waiting for the first seed link: the pending start() resolves now. */
  stopWaiting(): void;
}

export interface Network extends Transport {
  nodeIsUp(node: NodeId): boolean | undefined;
  upNodes(): NodeId[];
  knownNodes(): NodeId[];
  monNodes(cb: NodeMonitor): Guard;
  linkInfo(node: NodeId): LinkInfo | undefined;
  shutdown(): Promise<void>;
  /** Present where the network has seeds (the mesh). */
  readonly seedLink?: SeedLink;
  /**
   * How node's group requests reach its group server, which is reported to
   * onServer as it changes; absent: groups stay local.
   */
  groupUpstream?(node: MpNode, onServer: (server: NodeId | undefined) => void): Upstream;
  /** How long seeds keep a lost seed's nodes' group entries (docs/groups.md, groups.graceMs); absent: 0. */
  groupGraceMs?(): number;
}
