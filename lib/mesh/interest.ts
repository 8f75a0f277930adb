/**
 * Which of a seed's nodes care that a node went down: those that exchanged
 * relayed messages with it through this seed. A node that never talked to
 * the dead node has no session, monitor or up-state for it, so telling every
 * attached node (one `down` per node per node, N² packets when many nodes
 * leave) bought nothing but load.
 */
import type { NodeId } from '../ids.ts';

export class Interest {
  /** peer → local nodes that talked with it. */
  private byPeer = new Map<NodeId, Set<NodeId>>();
  /** local node → peers it talked with (to forget it when it leaves). */
  private byLocal = new Map<NodeId, Set<NodeId>>();

  // The last two pairs noted: a stream between two nodes notes the same pairs for every message (seed.ts).
  private l1: NodeId | undefined;
  private p1: NodeId | undefined;
  private l2: NodeId | undefined;
  private p2: NodeId | undefined;

  /** Local node `local` sent to or received from `peer` through this seed. */
  note(local: NodeId, peer: NodeId): void {
    if ((local === this.l1 && peer === this.p1) || (local === this.l2 && peer === this.p2)) return;
    this.l2 = this.l1;
    this.p2 = this.p1;
    this.l1 = local;
    this.p1 = peer;
    let locals = this.byPeer.get(peer);
    if (locals === undefined) this.byPeer.set(peer, (locals = new Set()));
    else if (locals.has(local)) return;
    locals.add(local);
    let peers = this.byLocal.get(local);
    if (peers === undefined) this.byLocal.set(local, (peers = new Set()));
    peers.add(peer);
  }

  /** The local nodes to tell that `peer` is down (forgotten here: they start afresh). */
  take(peer: NodeId): NodeId[] {
    this.l1 = this.p1 = this.l2 = this.p2 = undefined;
    const locals = this.byPeer.get(peer);
    if (locals === undefined) return [];
    this.byPeer.delete(peer);
    for (const l of locals) this.byLocal.get(l)?.delete(peer);
    return [...locals];
  }

  /** Local node `local` left: forget what it talked with. */
  forget(local: NodeId): void {
    this.l1 = this.p1 = this.l2 = this.p2 = undefined;
    const peers = this.byLocal.get(local);
    if (peers === undefined) return;
    this.byLocal.delete(local);
    for (const p of peers) {
      const locals = this.byPeer.get(p);
      if (locals?.delete(local) && locals.size === 0) this.byPeer.delete(p);
    }
  }

  /** Entries held (tests). */
  get size(): number {
    let n = 0;
    for (const s of this.byPeer.values()) n += s.size;
    return n;
  }
}
