/**
 * A node's side of the global groups: its own registrations, its cached
 * view of the groups it watches (kept current by its seed), and the grpMon
 * callbacks. The seed side is replica.ts.
 *
 * A group's view is the seed's members on other nodes plus this node's own
 * registrations, which the node always knows first-hand: so grpGet right
 * after grpReg includes the port, and a seed's reply that crossed a local
 * change never makes an own port flap. The view survives a change of seed;
 * the new seed's state replaces it, and only real differences are reported.
 * Ports the new seed does not list yet are kept for the grace period: when
 * the only seed restarted it knows nothing until their nodes relink and say
 * hello again, which may be after us (no remove-then-add for a live port).
 */
import { unrefTimer, type TimerId } from '../clock.ts';
import { BadArgumentError } from '../errors.ts';
import { nodeOf, type NodeId, type PortId } from '../ids.ts';
import type { Guard, Port } from '../kernel.ts';
import { logger } from '../log.ts';
import type { Network } from '../network.ts';
import type { MpNode } from '../node.ts';
import { GroupError } from './errors.ts';
import { checkGroupName, GROUP_DEFAULTS, groupLimits, memberList, type GroupLimits } from './options.ts';
import { NO_UPSTREAM, upstreamFor, type Upstream } from './upstream.ts';

const log = logger('groups');

export type GroupMonitor = (ports: PortId[], added: PortId[], removed: PortId[]) => void;

interface Mon {
  cb: GroupMonitor;
  /** The port whose callback set the monitor: cb runs in its context. */
  ctx: Port | undefined;
  /** The first call (the current state) is queued: changes follow it. */
  started: boolean;
  /** Calls queued and not run yet: a change told at once would overtake them. */
  queued: number;
  live: boolean;
}

interface Watch {
  mons: Set<Mon>;
  /** The seed's state of the group arrived since the last link change. */
  synced: boolean;
}

export class NodeGroups {
  /** Limits this node holds itself to (and, on a seed, its nodes): createNode({ groups }). */
  limits: GroupLimits = { ...GROUP_DEFAULTS };
  /** group → own port → how many registrations (guards) hold it. */
  private regs = new Map<string, Map<PortId, number>>();
  private regCount = 0;
  /** group → members on other nodes, as the seed reported them (watched groups only). */
  private remote = new Map<string, Set<PortId>>();
  /**
   * group → ports in `remote` that the seed of a new link did not list: kept
   * until their node re-registers (the seed reports them added), the seed
   * reports them removed, or the grace period ends.
   */
  private held = new Map<string, { ports: Set<PortId>; timer: TimerId }>();
  /** Watched groups, least recently used first. */
  private watches = new Map<string, Watch>();
  private net: Network | undefined | null = null;
  private up: Upstream = NO_UPSTREAM;
  /** Something to tell a seed (a registration or a watch, now or before). */
  private used = false;

  constructor(readonly node: MpNode) {
    const np = node.kernel.nodePort;
    np.set('grp_state', (from, a) => this.onState(from, a[0], a[1]));
    np.set('grp_chg', (from, a) => this.onChange(from, a[0], a[1], a[2]));
    np.set('grp_refused', (from, a) => this.onRefused(from, a));
    this.useNetwork();
  }

  /** Follow the node's current network (configure calls this); `opts` are createNode's `groups` limits. */
  useNetwork(opts?: unknown): void {
    if (opts !== undefined) this.limits = groupLimits(opts);
    const net = this.node.net;
    if (net === this.net) return;
    this.up.detach();
    this.up = NO_UPSTREAM;
    this.net = net;
    // Another network: what the old one told us is void.
    for (const g of [...this.held.keys()]) this.release(g);
    for (const [g, old] of [...this.remote]) {
      this.remote.delete(g);
      if (old.size) this.changed(g, [], [...old]);
    }
    for (const w of this.watches.values()) w.synced = false;
    this.up = upstreamFor(this.node, net, (seed) => (seed === undefined ? this.unlinked() : this.linked()));
    if (this.up.server() !== undefined) this.linked();
  }

  // --- the API ---------------------------------------------------------------------

  /** grpReg: register local `port` in `group` until the guard is called or the port dies. */
  reg(group: string, port: PortId): Guard {
    checkGroupName('grpReg', group, this.limits);
    const k = this.node.kernel;
    if (typeof port !== 'string' || !k.ports.has(port))
      throw new GroupError('AEMP_ERR_GROUP_PORT', `grpReg: ${String(port)} is not a live port of this node (a node registers only its own ports)`);
    this.follow();
    let ports = this.regs.get(group);
    const n = ports?.get(port);
    if (n !== undefined) ports!.set(port, n + 1);
    else {
      if (this.regCount >= this.limits.maxMembers)
        throw new GroupError('AEMP_ERR_GROUP_LIMIT', `grpReg: this node has ${this.regCount} registrations already (limit maxMembers ${this.limits.maxMembers})`);
      if (!ports && this.regs.size >= this.limits.maxGroups)
        throw new GroupError('AEMP_ERR_GROUP_LIMIT', `grpReg: this node has ports in ${this.regs.size} groups already (limit maxGroups ${this.limits.maxGroups})`);
      if (!ports) this.regs.set(group, (ports = new Map()));
      ports.set(port, 1);
      this.regCount++;
      this.used = true;
      this.changed(group, [port], []);
      if (nodeOf(port) === this.node.NODE) this.up.send(['grp_reg', group, port]);
    }
    let done = false;
    const guard: Guard = () => {
      if (done) return;
      done = true;
      untie();
      this.unregOne(group, port);
    };
    const untie = k.addGuard(port, guard);
    return guard;
  }

  /** grpGet: the members as this node knows them; starts watching the group so later calls are current. */
  get(group: string): PortId[] | undefined {
    checkGroupName('grpGet', group, this.limits);
    this.follow();
    this.watch(group, false);
    return memberList(this.members(group));
  }

  /** grpMon: cb(ports, added, removed) once with the current members, then on every change. */
  mon(group: string, cb: GroupMonitor): Guard {
    checkGroupName('grpMon', group, this.limits);
    if (typeof cb !== 'function') throw new BadArgumentError('grpMon: callback must be a function');
    this.follow();
    const w = this.watch(group, true)!;
    const k = this.node.kernel;
    const m: Mon = { cb, ctx: k.current, started: false, queued: 0, live: true };
    w.mons.add(m);
    // Without a seed to ask, what we know is all there is; else wait for the seed's answer.
    if (w.synced || this.up.server() === undefined) this.start(group, m);
    let untie: Guard | undefined;
    const guard: Guard = () => {
      if (!m.live) return;
      m.live = false;
      w.mons.delete(m);
      untie?.();
    };
    // A monitor set in a port's callback ends with that port.
    if (m.ctx) untie = k.addGuard(m.ctx.id, guard);
    return guard;
  }

  /** Groups watched now (grpMon and the grpGet cache). */
  get watching(): number {
    return this.watches.size;
  }

  // --- watches -------------------------------------------------------------------

  private watch(group: string, forMon: boolean): Watch | undefined {
    const w = this.watches.get(group);
    if (w) {
      // Least recently used first: move to the end.
      this.watches.delete(group);
      this.watches.set(group, w);
      return w;
    }
    if (this.watches.size >= this.limits.maxSubscriptions && !this.evict()) {
      if (forMon)
        throw new GroupError('AEMP_ERR_GROUP_LIMIT', `grpMon: this node watches ${this.watches.size} groups with monitors already (limit maxSubscriptions ${this.limits.maxSubscriptions})`);
      return undefined;
    }
    const nw: Watch = { mons: new Set(), synced: false };
    this.watches.set(group, nw);
    this.used = true;
    this.up.send(['grp_sub', group]);
    return nw;
  }

  /** Forget the least recently used watch without monitors (a grpGet cache entry). */
  private evict(): boolean {
    for (const [g, w] of this.watches) {
      if (w.mons.size > 0) continue;
      this.watches.delete(g);
      this.release(g);
      this.remote.delete(g);
      this.up.send(['grp_unsub', g]);
      return true;
    }
    return false;
  }

  // --- own registrations -------------------------------------------------------------

  private unregOne(group: string, port: PortId, tell = true): void {
    const ports = this.regs.get(group);
    const n = ports?.get(port);
    if (n === undefined) return;
    if (n > 1) return void ports!.set(port, n - 1);
    ports!.delete(port);
    this.regCount--;
    if (ports!.size === 0) this.regs.delete(group);
    this.changed(group, [], [port]);
    if (tell && nodeOf(port) === this.node.NODE) this.up.send(['grp_unreg', group, port]);
  }

  private members(group: string, r = this.remote.get(group)): PortId[] {
    const own = this.regs.size === 0 ? undefined : this.regs.get(group);
    if (own === undefined) return r === undefined ? [] : [...r];
    return [...(r ?? []), ...own.keys()];
  }

  // --- from the seed -------------------------------------------------------------------

  private onState(from: NodeId, group: unknown, ports: unknown): void {
    if (from !== this.up.server() || typeof group !== 'string' || !Array.isArray(ports)) return;
    const w = this.watches.get(group);
    if (!w) return;
    const next = new Set<PortId>();
    for (const p of ports) if (this.foreign(p)) next.add(p);
    const old = this.remote.get(group) ?? new Set<PortId>();
    const h = this.held.get(group);
    if (h) for (const p of next) h.ports.delete(p);
    this.releaseIfEmpty(group);
    // The first state on a new link: what it lacks may just not have said hello there yet.
    const missing = w.synced ? [] : [...old].filter((p) => !next.has(p));
    if (missing.length) {
      for (const p of missing) next.add(p);
      this.hold(group, missing);
    } else if (w.synced && h) {
      for (const p of h.ports) if (!next.has(p)) h.ports.delete(p);
      this.releaseIfEmpty(group);
    }
    this.remote.set(group, next);
    const added = [...next].filter((p) => !old.has(p));
    const removed = [...old].filter((p) => !next.has(p));
    if (added.length || removed.length) this.changed(group, added, removed, true);
    w.synced = true;
    for (const m of w.mons) if (!m.started) this.start(group, m);
  }

  // Every watcher of a group runs this for each change (thousands of nodes may share a
  // process): each map is looked up once, and the held ports only while there are any.
  private onChange(from: NodeId, group: unknown, added: unknown, removed: unknown): void {
    if (from !== this.up.server() || typeof group !== 'string' || !Array.isArray(added) || !Array.isArray(removed)) return;
    const w = this.watches.get(group);
    if (!w) return;
    let r = this.remote.get(group);
    if (!r) this.remote.set(group, (r = new Set()));
    const add: PortId[] = [];
    const del: PortId[] = [];
    const h = this.held.size === 0 ? undefined : this.held.get(group)?.ports;
    for (const p of removed) if (this.foreign(p) && (h?.delete(p), r.delete(p))) del.push(p);
    for (const p of added) if (this.foreign(p) && (h?.delete(p), !r.has(p))) r.add(p), add.push(p);
    if (h !== undefined) this.releaseIfEmpty(group);
    if ((add.length || del.length) && w.mons.size > 0) this.tell(w, this.members(group, r), add, del, true);
  }

  /** The seed refused a registration (it is taken back: the mesh does not have it) or a watch. */
  private onRefused(from: NodeId, [group, port, code, text]: unknown[]): void {
    if (from !== this.up.server()) return;
    log.error(`seed ${from} refused ${port ? `registering ${String(port)} in` : 'watching'} group ${String(group)}: ${String(code)}: ${String(text)}`, 'group-refused');
    if (typeof group !== 'string') return;
    if (typeof port === 'string') {
      const ports = this.regs.get(group);
      if (ports?.has(port)) {
        ports.set(port, 1);
        this.unregOne(group, port, false);
      }
      return;
    }
    // A refused watch never gets the seed's state: monitors waiting for it get what we know.
    const w = this.watches.get(group);
    if (w) for (const m of w.mons) if (!m.started) this.start(group, m);
  }

  // --- ports held across a change of seed -----------------------------------------------

  /** Keep `ports` (in the view, not listed by the new seed) for the grace period. */
  private hold(group: string, ports: PortId[]): void {
    let h = this.held.get(group);
    if (!h) {
      const timer = unrefTimer(this.node.clock.setTimeout(() => this.expire(group), this.graceMs()));
      this.held.set(group, (h = { ports: new Set(), timer }));
    }
    for (const p of ports) h.ports.add(p);
  }

  /** The grace period ended: held ports nobody re-registered leave the view. */
  private expire(group: string): void {
    const h = this.held.get(group);
    if (!h) return;
    this.held.delete(group);
    const r = this.remote.get(group);
    const gone = [...h.ports].filter((p) => r?.delete(p));
    if (gone.length) {
      log.info(`group ${group}: ${gone.length} port(s) not re-registered within the grace period after a change of seed: dropped`);
      this.changed(group, [], gone);
    }
  }

  /** Nothing left to hold: drop the entry with its timer, so a later hold starts a full grace period. */
  private releaseIfEmpty(group: string): void {
    if (this.held.get(group)?.ports.size === 0) this.release(group);
  }

  private release(group: string): void {
    const h = this.held.get(group);
    if (!h) return;
    this.node.clock.clearTimeout(h.timer);
    this.held.delete(group);
  }

  /** As long as seeds keep a lost seed's nodes' entries (docs/groups.md, groups.graceMs). */
  private graceMs(): number {
    if (this.limits.graceMs !== undefined) return this.limits.graceMs;
    return this.node.net?.groupGraceMs?.() ?? 0;
  }

  /** A port of another node (own ports are known first-hand). */
  private foreign(p: unknown): p is PortId {
    return typeof p === 'string' && p.includes('#') && !this.node.kernel.isLocalNode(nodeOf(p));
  }

  // --- telling monitors ------------------------------------------------------------------

  private start(group: string, m: Mon): void {
    m.started = true;
    const ports = this.members(group).sort();
    this.call(m, ports, ports, []);
  }

  /**
   * Tell the group's monitors. `fromSeed`: we run a node-port request of the
   * seed's (from the run queue, or at once as it is read off the link:
   * kernel.ts nodePortNow), so the monitors are called now (a change
   * reaches every watcher of a group at once: no task, closure or copy per
   * monitor that one call does not need); else from the run queue later.
   */
  private changed(group: string, added: PortId[], removed: PortId[], fromSeed = false): void {
    const w = this.watches.get(group);
    if (!w || w.mons.size === 0) return;
    this.tell(w, this.members(group), added, removed, fromSeed);
  }

  /** changed(), with the watch and the members at hand. */
  private tell(w: Watch, members: PortId[], added: PortId[], removed: PortId[], fromSeed: boolean): void {
    const ports = members.length > 1 ? members.sort() : members;
    if (added.length > 1) added.sort();
    if (removed.length > 1) removed.sort();
    if (!fromSeed) {
      for (const m of w.mons) if (m.started) this.call(m, ports, added, removed);
      return;
    }
    // The monitors as they are now: a callback may add one (whose first call, the state, includes this change).
    const mons = [...w.mons];
    const k = this.node.kernel;
    // The lists are the callbacks' own: the last one called gets the originals, unless a
    // queued call (behind calls still queued for its monitor) copies them later.
    let left = 0;
    let keep = false;
    for (const m of mons) if (m.started) (left++, (keep ||= m.queued > 0));
    for (const m of mons) {
      if (!m.started) continue;
      const own = --left === 0 && !keep;
      if (m.queued > 0) this.call(m, ports, added, removed);
      else if (m.live) k.callIn(m.ctx, m.cb, own ? ports : [...ports], own ? added : [...added], own ? removed : [...removed]);
    }
  }

  /** Run the callback from the run queue (never inside the caller), in its port's context. */
  private call(m: Mon, ports: PortId[], added: PortId[], removed: PortId[]): void {
    const k = this.node.kernel;
    m.queued++;
    k.enqueueTask(() => {
      m.queued--;
      if (m.live) k.callIn(m.ctx, m.cb, [...ports], [...added], [...removed]);
    });
  }

  // --- the link to the group server ------------------------------------------------------

  /** Catch up with a network change made behind our back (shutdown, a hub join). */
  private follow(): void {
    if (this.node.net !== this.net) this.useNetwork();
  }

  /** Linked to a (new) seed: tell it everything; it answers with the state of every watched group. */
  private linked(): void {
    if (!this.used) return;
    const me = this.node.NODE;
    const entries: Array<[string, PortId[]]> = [];
    for (const [g, ports] of this.regs) {
      const mine = [...ports.keys()].filter((p) => nodeOf(p) === me);
      if (mine.length) entries.push([g, mine]);
    }
    this.up.send(['grp_hello', entries, [...this.watches.keys()]]);
  }

  /** The seed link is gone: monitors still waiting for a first state get what we know. */
  private unlinked(): void {
    for (const [g, w] of this.watches) {
      w.synced = false;
      for (const m of w.mons) if (!m.started) this.start(g, m);
    }
  }
}
