/**
 * The group registry a seed holds: which ports are in which group, per
 * node, and which seed each node's entries came through (its "home"). Pure
 * state: every operation returns the membership changes it caused, per
 * group, and the caller tells subscribers. No I/O, no timers.
 */
import { nodeOf, type NodeId, type PortId } from '../ids.ts';

/** A membership change of one group. */
export interface Change {
  group: string;
  added: PortId[];
  removed: PortId[];
}

/** One node's registrations: [group, ports] pairs, as they travel on the wire. */
export type Entries = Array<[string, PortId[]]>;

interface NodeRec {
  /** The seed the entries came through (the seed the node is attached to). */
  home: NodeId;
  groups: Map<string, Set<PortId>>;
  /** Registrations, all groups together. */
  count: number;
}

export class Registry {
  private groups = new Map<string, Set<PortId>>();
  private nodes = new Map<NodeId, NodeRec>();

  /** The group's members (live view; do not modify), undefined when empty. */
  members(group: string): ReadonlySet<PortId> | undefined {
    return this.groups.get(group);
  }

  homeOf(node: NodeId): NodeId | undefined {
    return this.nodes.get(node)?.home;
  }

  /** Nodes whose entries came through `home`. */
  nodesAt(home: NodeId): NodeId[] {
    const out: NodeId[] = [];
    for (const [n, r] of this.nodes) if (r.home === home) out.push(n);
    return out;
  }

  /** A node's registrations as wire entries. */
  entriesOf(node: NodeId): Entries {
    const r = this.nodes.get(node);
    return r ? [...r.groups].map(([g, ps]) => [g, [...ps]]) : [];
  }

  /** How many groups and registrations `node` has. */
  countsOf(node: NodeId): { groups: number; members: number } {
    const r = this.nodes.get(node);
    return { groups: r?.groups.size ?? 0, members: r?.count ?? 0 };
  }

  /** Whether `node` has a port in `group`. */
  inGroup(node: NodeId, group: string): boolean {
    return this.nodes.get(node)?.groups.has(group) ?? false;
  }

  has(node: NodeId, group: string, port: PortId): boolean {
    return this.nodes.get(node)?.groups.get(group)?.has(port) ?? false;
  }

  get nodeCount(): number {
    return this.nodes.size;
  }

  get groupCount(): number {
    return this.groups.size;
  }

  /** Record that `node`'s entries now come through `home` (creating an empty record). */
  setHome(node: NodeId, home: NodeId): void {
    const r = this.nodes.get(node);
    if (r) r.home = home;
    else this.nodes.set(node, { home, groups: new Map(), count: 0 });
  }

  /** Add `port` (on `nodeOf(port)`) to `group`. */
  add(home: NodeId, group: string, port: PortId): Change | undefined {
    const node = nodeOf(port);
    this.setHome(node, home);
    const r = this.nodes.get(node)!;
    let mine = r.groups.get(group);
    if (mine?.has(port)) return undefined;
    if (!mine) r.groups.set(group, (mine = new Set()));
    mine.add(port);
    r.count++;
    let all = this.groups.get(group);
    if (!all) this.groups.set(group, (all = new Set()));
    all.add(port);
    return { group, added: [port], removed: [] };
  }

  /** Remove `port` from `group`. */
  remove(group: string, port: PortId): Change | undefined {
    const r = this.nodes.get(nodeOf(port));
    const mine = r?.groups.get(group);
    if (!r || !mine?.delete(port)) return undefined;
    r.count--;
    if (mine.size === 0) r.groups.delete(group);
    this.unindex(group, port);
    return { group, added: [], removed: [port] };
  }

  /** Replace all of `node`'s entries (coming through `home`); only real differences become changes. */
  replace(node: NodeId, home: NodeId, entries: Entries): Change[] {
    this.setHome(node, home);
    const r = this.nodes.get(node)!;
    const next = new Map<string, Set<PortId>>();
    for (const [g, ps] of entries) {
      let s = next.get(g);
      if (!s) next.set(g, (s = new Set()));
      for (const p of ps) s.add(p);
    }
    const changes = new Map<string, Change>();
    for (const [g, old] of r.groups) {
      const now = next.get(g);
      const removed = [...old].filter((p) => !now?.has(p));
      for (const p of removed) this.unindex(g, p);
      if (removed.length) changes.set(g, { group: g, added: [], removed });
    }
    let count = 0;
    for (const [g, now] of next) {
      if (now.size === 0) {
        next.delete(g);
        continue;
      }
      count += now.size;
      const old = r.groups.get(g);
      const added = [...now].filter((p) => !old?.has(p));
      if (added.length === 0) continue;
      let all = this.groups.get(g);
      if (!all) this.groups.set(g, (all = new Set()));
      for (const p of added) all.add(p);
      const prev = changes.get(g);
      if (prev) prev.added = added;
      else changes.set(g, { group: g, added, removed: [] });
    }
    r.groups = next;
    r.count = count;
    return [...changes.values()];
  }

  /** Forget `node` and all its entries. */
  drop(node: NodeId): Change[] {
    const r = this.nodes.get(node);
    if (!r) return [];
    this.nodes.delete(node);
    const changes: Change[] = [];
    for (const [g, ps] of r.groups) {
      for (const p of ps) this.unindex(g, p);
      changes.push({ group: g, added: [], removed: [...ps] });
    }
    return changes;
  }

  private unindex(group: string, port: PortId): void {
    const all = this.groups.get(group);
    if (all?.delete(port) && all.size === 0) this.groups.delete(group);
  }
}
