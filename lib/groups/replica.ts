/**
 * A replica of the group registry: what a seed (or the in-process hub) does
 * with group requests from its own nodes and with updates from other seeds.
 * All I/O is injected (ReplicaIo), so the whole protocol is unit-tested
 * without a network; seed-groups.ts and hub-groups.ts wire it up.
 *
 * Every seed holds every node's entries, each tagged with its home: the
 * seed the node is attached to, the only one that may change them. A seed
 * that is lost takes nothing with it at once: its nodes' entries are kept
 * for a grace period, in which the nodes re-register through another seed;
 * only what is not re-registered is dropped. A node whose own link closed
 * is dropped at once. Messages: docs/groups.md and docs/protocol.md.
 */
import type { Clock, TimerId } from '../clock.ts';
import { unrefTimer } from '../clock.ts';
import { isNodeId, nodeOf, type NodeId, type PortId } from '../ids.ts';
import { logger } from '../log.ts';
import { admitEntries, type Refusal } from './admit.ts';
import { badGroupName, badMemberPort, type GroupLimits } from './options.ts';
import { Registry, type Change, type Entries } from './registry.ts';

const log = logger('groups');

export interface ReplicaIo {
  /** This replica's ID (the seed's node ID): the home of its own nodes' entries. */
  readonly home: NodeId;
  readonly clock: Clock;
  /** The limits a request from `node` is held to. */
  limits(node: NodeId): GroupLimits;
  /** How long entries of nodes whose seed was lost are kept (ms). */
  graceMs(): number;
  /** `node` is attached here (or is this seed itself): it may register and subscribe. */
  isClient(node: NodeId): boolean;
  /** `node` is a seed linked to this one. */
  isSeed(node: NodeId): boolean;
  toNode(node: NodeId, msg: unknown[]): void;
  /** To every linked seed. */
  toSeeds(msg: unknown[]): void;
  toSeed(seed: NodeId, msg: unknown[]): void;
}

/** Requests a node sends to its seed. */
export const CLIENT_REQUESTS = ['grp_hello', 'grp_reg', 'grp_unreg', 'grp_sub', 'grp_unsub'] as const;
/** Updates seeds send each other. */
export const SEED_UPDATES = ['grp_sync', 'grp_node', 'grp_add', 'grp_del', 'grp_gone'] as const;

/** Refusals sent back for one request at most; the rest are only counted in the log. */
const MAX_REFUSALS = 100;

export class Replica {
  readonly reg = new Registry();
  /** group → attached nodes watching it. */
  private subs = new Map<string, Set<NodeId>>();
  /** Groups each attached node watches: one group as the name itself (most nodes watch one; a Set costs ~250 bytes more per node). */
  private clientSubs = new Map<NodeId, string | Set<string>>();
  /** Nodes whose seed was lost, waiting to re-register: node → timer. */
  private grace = new Map<NodeId, TimerId>();

  constructor(private readonly io: ReplicaIo) {}

  /** A group request (from a node) or update (from a seed); malformed input is logged and ignored. */
  handle(from: NodeId, name: string, args: unknown[]): void {
    switch (name) {
      case 'grp_hello':
        return this.hello(from, args[0], args[1]);
      case 'grp_reg':
        return this.regOne(from, args[0], args[1]);
      case 'grp_unreg':
        return this.unregOne(from, args[0], args[1]);
      case 'grp_sub':
        return this.sub(from, args[0]);
      case 'grp_unsub':
        if (typeof args[0] === 'string') this.unsub(from, args[0]);
        return;
    }
    if (!this.io.isSeed(from)) return void log.warn(`refused ${name} from ${from}: not a linked seed`, 'not-a-seed');
    switch (name) {
      case 'grp_sync':
        return this.onSync(from, args[0]);
      case 'grp_node':
        return this.onNode(from, args[0], args[1]);
      case 'grp_add':
      case 'grp_del':
        return this.onAddDel(from, name, args[0], args[1]);
      case 'grp_gone':
        if (isNodeId(args[0]) && this.reg.homeOf(args[0]) === from) this.drop(args[0]);
        return;
    }
    log.warn(`unknown group request ${name} from ${from}`, 'unknown-request');
  }

  /** The group's members here, sorted ([] when none). */
  members(group: string): PortId[] {
    const s = this.reg.members(group);
    return s ? [...s].sort() : [];
  }

  /** How many nodes wait in the grace period. */
  get orphans(): number {
    return this.grace.size;
  }

  // --- lifecycle (from the mesh) ---------------------------------------------

  /** The link of an attached node closed: its entries go at once, everywhere. */
  clientGone(node: NodeId): void {
    for (const g of this.watched(node)) this.unsub(node, g);
    if (this.reg.homeOf(node) !== this.io.home) return;
    this.io.toSeeds(['grp_gone', node]);
    this.drop(node);
  }

  /** A seed linked to us: tell it everything our own nodes hold. */
  seedUp(seed: NodeId): void {
    const own = this.reg.nodesAt(this.io.home).map((n) => [n, this.reg.entriesOf(n)]);
    this.io.toSeed(seed, ['grp_sync', own]);
  }

  /** A seed's link closed: the seed's own entries go; its nodes get the grace period. */
  seedGone(seed: NodeId): void {
    for (const n of this.reg.nodesAt(seed)) {
      if (n === seed) this.drop(n);
      else this.startGrace(n, seed);
    }
  }

  // --- requests from nodes -----------------------------------------------------

  private hello(from: NodeId, regs: unknown, subs: unknown): void {
    if (!Array.isArray(regs) || !Array.isArray(subs)) return void log.warn(`malformed grp_hello from ${from}`, 'malformed-hello');
    if (!this.attached(from, null, null)) return;
    const refusals: Refusal[] = [];
    const entries = admitEntries(from, regs, this.io.limits(from), refusals);
    this.cancelGrace(from);
    this.publish(this.reg.replace(from, this.io.home, entries));
    this.io.toSeeds(['grp_node', from, entries]);
    // Subscriptions: exactly those listed, each answered with the group's state.
    const limits = this.io.limits(from);
    const want = new Set<string>();
    for (const g of subs) {
      const bad = badGroupName(g, limits);
      if (bad !== undefined) refusals.push([typeof g === 'string' ? g : null, null, 'AEMP_ERR_GROUP_NAME', bad]);
      else if (want.size >= limits.maxSubscriptions && !want.has(g as string))
        refusals.push([g as string, null, 'AEMP_ERR_GROUP_LIMIT', `node ${from} watches more than ${limits.maxSubscriptions} groups`]);
      else want.add(g as string);
    }
    for (const g of this.watched(from)) if (!want.has(g)) this.unsub(from, g);
    for (const g of want) this.subscribe(from, g);
    this.refuse(from, refusals);
  }

  private regOne(from: NodeId, group: unknown, port: unknown): void {
    const limits = this.io.limits(from);
    const g = typeof group === 'string' ? group : null;
    const p = typeof port === 'string' ? port : null;
    if (!this.attached(from, g, p)) return;
    const bad = badGroupName(group, limits);
    if (bad !== undefined) return this.refuse(from, [[g, p, 'AEMP_ERR_GROUP_NAME', bad]]);
    const badPort = badMemberPort(port, from);
    if (badPort !== undefined) return this.refuse(from, [[g, p, 'AEMP_ERR_GROUP_PORT', badPort]]);
    if (this.reg.has(from, g!, p!)) return;
    const c = this.reg.countsOf(from);
    if (c.members >= limits.maxMembers)
      return this.refuse(from, [[g, p, 'AEMP_ERR_GROUP_LIMIT', `node ${from} has ${limits.maxMembers} registrations already (limit)`]]);
    if (!this.reg.inGroup(from, g!) && c.groups >= limits.maxGroups)
      return this.refuse(from, [[g, p, 'AEMP_ERR_GROUP_LIMIT', `node ${from} has ports in ${limits.maxGroups} groups already (limit)`]]);
    this.cancelGrace(from);
    // The other seeds first: links flush in the order they were written to, so their own fan-outs start
    // while this seed is still writing to its watchers, not after.
    this.io.toSeeds(['grp_add', g, p]);
    this.publish([this.reg.add(this.io.home, g!, p!)]);
  }

  private unregOne(from: NodeId, group: unknown, port: unknown): void {
    if (typeof group !== 'string' || typeof port !== 'string' || nodeOf(port) !== from || !this.io.isClient(from)) return;
    const c = this.reg.remove(group, port);
    if (!c) return;
    this.io.toSeeds(['grp_del', group, port]);
    this.publish([c]);
  }

  private sub(from: NodeId, group: unknown): void {
    const g = typeof group === 'string' ? group : null;
    if (!this.attached(from, g, null)) return;
    const limits = this.io.limits(from);
    const bad = badGroupName(group, limits);
    if (bad !== undefined) return this.refuse(from, [[g, null, 'AEMP_ERR_GROUP_NAME', bad]]);
    const mine = this.clientSubs.get(from);
    const has = mine === g || (typeof mine === 'object' && mine.has(g!));
    if (!has && (mine === undefined ? 0 : typeof mine === 'string' ? 1 : mine.size) >= limits.maxSubscriptions)
      return this.refuse(from, [[g, null, 'AEMP_ERR_GROUP_LIMIT', `node ${from} watches ${limits.maxSubscriptions} groups already (limit)`]]);
    this.subscribe(from, g!);
  }

  /** Add a subscription (if new) and send the group's state. */
  private subscribe(node: NodeId, group: string): void {
    let s = this.subs.get(group);
    if (!s) this.subs.set(group, (s = new Set()));
    s.add(node);
    const mine = this.clientSubs.get(node);
    if (mine === undefined) this.clientSubs.set(node, group);
    else if (typeof mine === 'object') mine.add(group);
    else if (mine !== group) this.clientSubs.set(node, new Set([mine, group]));
    this.io.toNode(node, ['grp_state', group, this.members(group)]);
  }

  private unsub(node: NodeId, group: string): void {
    const s = this.subs.get(group);
    if (s?.delete(node) && s.size === 0) this.subs.delete(group);
    const mine = this.clientSubs.get(node);
    if (mine === group) this.clientSubs.delete(node);
    else if (typeof mine === 'object' && mine.delete(group) && mine.size <= 1) {
      if (mine.size === 0) this.clientSubs.delete(node);
      else this.clientSubs.set(node, mine.values().next().value!);
    }
  }

  /** The groups `node` watches (a copy: the caller may unsubscribe while it walks them). */
  private watched(node: NodeId): string[] {
    const mine = this.clientSubs.get(node);
    return mine === undefined ? [] : typeof mine === 'string' ? [mine] : [...mine];
  }

  /** Only attached nodes may register or watch here (their link tells us when they go). */
  private attached(from: NodeId, group: string | null, port: string | null): boolean {
    if (this.io.isClient(from)) return true;
    this.refuse(from, [[group, port, 'AEMP_ERR_GROUP_NOT_ATTACHED', `node ${from} is not attached to seed ${this.io.home}`]]);
    return false;
  }

  private refuse(node: NodeId, refusals: Refusal[]): void {
    if (refusals.length === 0) return;
    const [, , code, why] = refusals[0]!;
    const more = refusals.length > 1 ? ` (and ${refusals.length - 1} more)` : '';
    log.warn(`refused a group request from ${node}: ${code}: ${why}${more}`, 'refused-request');
    for (const r of refusals.slice(0, MAX_REFUSALS)) this.io.toNode(node, ['grp_refused', ...r]);
  }

  // --- updates from other seeds ------------------------------------------------

  /** A seed's full list of its nodes (on linking); its nodes not listed any more get the grace period. */
  private onSync(from: NodeId, list: unknown): void {
    if (!Array.isArray(list)) return void log.warn(`malformed grp_sync from ${from}`, 'malformed-sync');
    const listed = new Set<NodeId>();
    for (const item of list) {
      if (!Array.isArray(item) || !isNodeId(item[0]) || !Array.isArray(item[1])) continue;
      const node = item[0];
      listed.add(node);
      if (node === this.io.home) continue;
      if (this.io.isClient(node) && this.reg.homeOf(node) === this.io.home) {
        // Attached here now: that seed's list is older than our link. Tell it.
        this.io.toSeed(from, ['grp_node', node, this.reg.entriesOf(node)]);
        continue;
      }
      this.cancelGrace(node);
      this.publish(this.reg.replace(node, from, this.trusted(node, item[1])));
    }
    for (const n of this.reg.nodesAt(from)) if (!listed.has(n)) this.startGrace(n, from);
  }

  /** A node (re)registered through seed `from`: its entries replace what we had, wherever they came from. */
  private onNode(from: NodeId, node: unknown, entries: unknown): void {
    if (!isNodeId(node) || !Array.isArray(entries) || node === this.io.home) return;
    this.cancelGrace(node);
    this.publish(this.reg.replace(node, from, this.trusted(node, entries)));
  }

  private onAddDel(from: NodeId, name: string, group: unknown, port: unknown): void {
    if (typeof group !== 'string' || typeof port !== 'string' || !port.includes('#')) return;
    const node = nodeOf(port);
    const home = this.reg.homeOf(node);
    if (name === 'grp_add') {
      // From a seed the node has left: stale, the node's new seed has the truth.
      if (home !== undefined && home !== from) return;
      this.publish([this.reg.add(from, group, port)]);
    } else if (home === from) this.publish([this.reg.remove(group, port)]);
  }

  /** Entries from a seed, which checked them; only their shape is checked here. */
  private trusted(node: NodeId, entries: unknown[]): Entries {
    const out: Entries = [];
    for (const e of entries) {
      if (!Array.isArray(e) || typeof e[0] !== 'string' || !Array.isArray(e[1])) continue;
      out.push([e[0], (e[1] as unknown[]).filter((p): p is PortId => typeof p === 'string' && p.includes('#') && nodeOf(p) === node)]);
    }
    return out;
  }

  // --- grace period --------------------------------------------------------------

  private startGrace(node: NodeId, seed: NodeId): void {
    if (this.grace.has(node)) return;
    const t = this.io.clock.setTimeout(() => {
      this.grace.delete(node);
      if (this.reg.homeOf(node) !== seed) return;
      log.info(`node ${node} did not re-register after seed ${seed} was lost: dropping its group entries`);
      this.drop(node);
    }, this.io.graceMs());
    this.grace.set(node, unrefTimer(t));
  }

  private cancelGrace(node: NodeId): void {
    const t = this.grace.get(node);
    if (t === undefined) return;
    this.io.clock.clearTimeout(t);
    this.grace.delete(node);
  }

  private drop(node: NodeId): void {
    this.cancelGrace(node);
    this.publish(this.reg.drop(node));
  }

  // --- telling subscribers -------------------------------------------------------

  /** Send each change to the group's subscribers (not to the node whose ports changed: it knows). */
  private publish(changes: Array<Change | undefined>): void {
    for (const c of changes) {
      if (!c || (c.added.length === 0 && c.removed.length === 0)) continue;
      const subs = this.subs.get(c.group);
      if (!subs) continue;
      const origin = nodeOf(c.added[0] ?? c.removed[0]!);
      // Frozen (copies of the lists): the msgpack writer encodes it once for all watchers' links.
      const msg = Object.freeze(['grp_chg', c.group, Object.freeze(c.added.slice()), Object.freeze(c.removed.slice())]) as unknown[];
      for (const n of subs) if (n !== origin) this.io.toNode(n, msg);
    }
  }
}

