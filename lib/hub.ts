/**
 * The in-process hub: nodes made with createNode() and no network
 * configuration reach each other through it, as if linked in memory.
 * Delivery stays asynchronous because the receiving kernel queues it.
 * Global groups work among the hub's nodes through one registry replica
 * (groups/hub-groups.ts), as if the hub were their seed; it is loaded on the
 * first group request, so a page that joins a mesh does not carry it.
 */
import { BadArgumentError } from './errors.ts';
import type { NodeId, PortId } from './ids.ts';
import type { Guard, Message } from './kernel.ts';
import type { LinkInfo, Network, NodeMonitor } from './network.ts';
import type { MpNode } from './node.ts';
import type { HubGroups } from './groups/hub-groups.ts';

export class LocalHub {
  private nodes = new Map<NodeId, MpNode>();
  private watchers = new Set<NodeMonitor>();
  /** The groups of the hub's nodes, once loaded (groupsReady()). */
  private groups: HubGroups | undefined;
  private loading: Promise<HubGroups> | undefined;
  /** Requests and leaves waiting for the load: they reach the replica in order, before any later one. */
  private waiting = 0;

  /** Load the hub's group replica (createNode() without a network awaits it; a page in a mesh never loads it). */
  groupsReady(): Promise<HubGroups> {
    return (this.loading ??= import('./groups/hub-groups.ts').then((m) => (this.groups = new m.HubGroups(this.nodes))));
  }

  private withGroups(f: (g: HubGroups) => void): void {
    if (this.groups !== undefined && this.waiting === 0) return f(this.groups);
    this.waiting++;
    void this.groupsReady().then((g) => {
      this.waiting--;
      f(g);
    });
  }

  join(n: MpNode): Network {
    const id = n.NODE;
    if (this.nodes.has(id)) throw new BadArgumentError(`a node ${id} exists in this process already`);
    this.nodes.set(id, n);
    for (const w of this.watchers) w(id, true);
    const hub = this;
    const net: Network = {
      // The node's groups (groups/node-groups.ts) register here, in this process.
      groupUpstream: (node) => ({ server: () => node.NODE, send: (msg) => hub.withGroups((g) => g.request(node.NODE, msg)), detach: () => {} }),
      send(from: NodeId, node: NodeId, port: PortId, msg: Message) {
        const t = hub.nodes.get(node);
        if (t) t.kernel.receive(from, port, msg);
        // An unknown node: the message is lost, so monitors on it must fire.
        else n.remote.nodeDown(node, ['transport_error', `node ${node} is not reachable`]);
      },
      nodeIsUp: (node) => (hub.nodes.has(node) ? true : undefined),
      upNodes: () => [...hub.nodes.keys()].filter((x) => x !== id),
      knownNodes: () => [...hub.nodes.keys()].filter((x) => x !== id),
      monNodes(cb: NodeMonitor): Guard {
        hub.watchers.add(cb);
        return () => void hub.watchers.delete(cb);
      },
      linkInfo: (node): LinkInfo | undefined => (hub.nodes.has(node) ? { path: 'direct', rttMs: 0 } : undefined),
      async shutdown() {
        hub.leave(id);
      },
    };
    return net;
  }

  leave(id: NodeId): void {
    if (!this.nodes.delete(id)) return;
    if (this.loading !== undefined) this.withGroups((g) => g.leave(id));
    for (const other of this.nodes.values())
      other.remote.nodeDown(id, ['transport_error', `node ${id} shut down`]);
    for (const w of this.watchers) w(id, false, 'transport_error', `node ${id} shut down`);
  }
}

/** The process's hub. */
export const processHub = new LocalHub();
