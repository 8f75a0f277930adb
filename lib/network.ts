/**
 * What an MpNode needs from whatever connects it to other nodes: the
 * in-process hub (nodes in one process without network configuration) or
 * the mesh (seeds, WebSocket and WebRTC links).
 */
import type { NodeId } from './ids.ts';
import type { Guard, Transport } from './kernel.ts';
import type { Link } from './link.ts';
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

/** One link of a mesh node as tools, tests and the bench see it (lib/mesh/mesh-view.ts). */
export interface LinkView {
  readonly node: NodeId;
  /** The transport (Link.kind). */
  readonly kind: 'memory' | 'ws' | 'rtc';
  readonly framing: 'msgpack' | 'json';
  /** The peer is a seed. */
  readonly seed: boolean;
  /** A direct link (WebRTC or WebSocket) rather than a link to or from a seed. */
  readonly direct: boolean;
  /** The transport link itself (tests and the bench read its figures, or cut it hard). */
  readonly transport: Link;
  /** Close the link as this node would (tests cut links with it). */
  close(reason: string): void;
}

/**
 * A read-only look into a mesh node beyond the Network interface, for
 * tools, tests and the bench: viewOf(network) in lib/mesh/mesh-view.ts
 * (not part of the page bundle).
 */
export interface NetworkView {
  /** The link to `node` now, if one is up: the same object while that link lasts. */
  link(node: NodeId): LinkView | undefined;
  /** cb on every link that comes up (up true) or goes down. */
  monLinks(cb: (link: LinkView, up: boolean) => void): Guard;
  /** The ICE servers a new direct link uses (the node's own, then its seed's). */
  iceServers(): readonly RTCIceServer[];
  /** Packets this node sent on all its links now up (heartbeats included): what an idle seed's CPU pays for. */
  sentPackets(): number;
  /** A seed's counters (undefined on a plain node): packets relayed, handshakes in progress, group entries of nodes it no longer knows. */
  seed(): { relayed: number; pendingHandshakes: number; groupOrphans: number } | undefined;
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
