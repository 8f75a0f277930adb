/**
 * viewOf(): the read-only NetworkView (lib/network.ts) of a node's mesh,
 * so that tools, tests and the bench see links and seed counters through
 * an interface rather than by downcasting node.net to the Mesh class.
 * Nothing in a page imports it.
 */
import type { Guard } from '../kernel.ts';
import type { LinkView, Network, NetworkView } from '../network.ts';
import type { Conn } from './conn.ts';
import { Mesh } from './mesh.ts';

const views = new WeakMap<Conn, LinkView>();

/** A link's view: a class, so its close() is one method for all links, not a closure per link. */
class ConnView implements LinkView {
  readonly node: LinkView['node'];
  readonly kind: LinkView['kind'];
  readonly framing: LinkView['framing'];
  readonly seed: boolean;
  readonly direct: boolean;
  readonly transport: LinkView['transport'];

  constructor(
    m: Mesh,
    private readonly c: Conn,
  ) {
    this.node = c.peer;
    this.kind = c.link.kind;
    this.framing = c.framing;
    this.seed = c.peerIsSeed;
    this.direct = m.direct.isDirect(c);
    this.transport = c.link;
    Object.freeze(this);
  }

  close(reason: string): void {
    this.c.close(reason);
  }
}

function linkView(m: Mesh, c: Conn): LinkView {
  let v = views.get(c);
  if (v === undefined) {
    v = new ConnView(m, c);
    views.set(c, v);
  }
  return v;
}

/** The view of `net` if it is a mesh (undefined for the in-process hub or none). */
export function viewOf(net: Network | undefined): NetworkView | undefined {
  if (!(net instanceof Mesh)) return undefined;
  const m = net;
  return {
    link: (node) => {
      const c = m.conns.get(node);
      return c === undefined ? undefined : linkView(m, c);
    },
    monLinks(cb): Guard {
      const hook = { connUp: (c: Conn) => cb(linkView(m, c), true), connDown: (c: Conn) => cb(linkView(m, c), false) };
      m.hooks.add(hook);
      return () => void m.hooks.delete(hook);
    },
    iceServers: () => m.o.iceServers,
    sentPackets: () => {
      let n = 0;
      for (const c of m.conns.values()) n += c.sentPackets;
      return n;
    },
    seed: () => (m.seed === undefined ? undefined : { relayed: m.seed.relayed, pendingHandshakes: m.seed.pendingHandshakes, groupOrphans: m.seed.groups.replica.orphans }),
  };
}
