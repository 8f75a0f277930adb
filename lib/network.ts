/**
 * What an MpNode needs from whatever connects it to other nodes: the
 * in-process hub (nodes in one process without network configuration) or
 * the mesh (seeds, WebSocket and WebRTC links).
 */
import type { NodeId } from './ids.ts';
import type { Guard, Transport } from './kernel.ts';

export interface LinkInfo {
  path: 'self' | 'seed' | 'direct' | 'relay';
  rttMs?: number;
}

export type NodeMonitor = (node: NodeId, isUp: boolean, ...reason: unknown[]) => void;

export interface Network extends Transport {
  nodeIsUp(node: NodeId): boolean | undefined;
  upNodes(): NodeId[];
  knownNodes(): NodeId[];
  monNodes(cb: NodeMonitor): Guard;
  linkInfo(node: NodeId): LinkInfo | undefined;
  shutdown(): Promise<void>;
}
