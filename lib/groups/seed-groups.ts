/**
 * A seed's part in the global groups: the registry replica (replica.ts)
 * wired to the mesh. Group traffic is node-port requests, so it rides the
 * authenticated, ordered links: `from` is the node the link authenticated,
 * so a node can only ever register its own ports.
 *
 *   node → its seed   grp_hello / grp_reg / grp_unreg / grp_sub / grp_unsub
 *   seed → node       grp_state / grp_chg / grp_refused
 *   seed ↔ seed       grp_sync / grp_node / grp_add / grp_del / grp_gone
 */
import type { NodeId } from '../ids.ts';
import type { Conn } from '../mesh/conn.ts';
import type { GroupsHost } from '../mesh/hosts.ts';
import { CLIENT_REQUESTS, Replica, SEED_UPDATES, type ReplicaIo } from './replica.ts';

export class SeedGroups {
  readonly replica: Replica;

  constructor(m: GroupsHost) {
    const k = m.node.kernel;
    const attached = (n: NodeId): boolean => {
      const c = m.conns.get(n);
      return c !== undefined && !c.peerIsSeed && c.isOpen;
    };
    const io: ReplicaIo = {
      get home() {
        return m.nodeId;
      },
      clock: m.clock,
      limits: () => m.node.groups.limits,
      graceMs: () => m.node.groups.limits.graceMs ?? m.groupGraceMs(),
      isClient: (n) => n === m.nodeId || attached(n),
      isSeed: (n) => m.conns.get(n)?.peerIsSeed === true,
      toNode: (n, msg) => k.snd(n, msg),
      toSeeds: (msg) => {
        for (const c of m.seedConns) if (c.isOpen) k.snd(c.peer, msg);
      },
      toSeed: (s, msg) => k.snd(s, msg),
    };
    const r = (this.replica = new Replica(io));
    for (const name of [...CLIENT_REQUESTS, ...SEED_UPDATES]) k.nodePort.set(name, (from, args) => r.handle(from, name, args));
    m.hooks.add({
      connUp: (c: Conn) => {
        if (c.peerIsSeed) r.seedUp(c.peer);
      },
      connDown: (c: Conn) => {
        // Leaving: the other seeds see our goodbye and do the rest.
        if (m.signal.aborted) return;
        if (c.peerIsSeed) r.seedGone(c.peer);
        else if (!attached(c.peer)) r.clientGone(c.peer);
      },
    });
  }
}
