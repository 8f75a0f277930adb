/**
 * Global groups among the nodes of the in-process hub (createNode() without
 * seeds or binds): one registry replica serves them all, as a seed would,
 * with no other seeds to replicate to. Replies reach a node through its
 * kernel's node port, asynchronously, as from a seed that is the node itself.
 */
import { systemClock } from '../clock.ts';
import type { NodeId } from '../ids.ts';
import type { MpNode } from '../node.ts';
import { GROUP_DEFAULTS } from './options.ts';
import { Replica } from './replica.ts';

export class HubGroups {
  readonly replica: Replica;

  constructor(nodes: ReadonlyMap<NodeId, MpNode>) {
    this.replica = new Replica({
      home: '#hub',
      clock: systemClock,
      limits: (n) => nodes.get(n)?.groups.limits ?? GROUP_DEFAULTS,
      graceMs: () => 0,
      isClient: (n) => nodes.has(n),
      isSeed: () => false,
      toNode: (n, msg) => nodes.get(n)?.kernel.receive(n, n, msg),
      toSeeds: () => {},
      toSeed: () => {},
    });
  }

  /** A group request from hub node `from` ([name, ...args]). */
  request(from: NodeId, msg: unknown[]): void {
    this.replica.handle(from, msg[0] as string, msg.slice(1));
  }

  /** `node` left the hub: its registrations go. */
  leave(node: NodeId): void {
    this.replica.clientGone(node);
  }
}
