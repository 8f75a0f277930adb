/**
 * The node port's requests (AEMP's node-port functions): remote monitors,
 * remote kil, spawn and sndOn, both halves. Each request is a message to the
 * target's node port (its bare node ID); the kernel hands it over with the
 * sending node as authenticated by the link, and its kind (the kernel has
 * checked its capabilities: caps.ts). Nothing here evaluates code from the
 * network: spawn only runs init functions registered by name.
 *
 * Refusals reach the requester: a monitor over the quota fires with
 * ['denied', 'AEMP_ERR_QUOTA: …']; a denied spawn makes the requester's
 * monitors on the new port fire with ['denied', 'AEMP_ERR_DENIED: …']; any
 * denied request sends the requester ['denied', request, text] (it logs it).
 */
import type { Sender } from './caps.ts';
import { type Kernel, type Port, type Reason, type Guard, describeError } from './kernel.ts';
import { isPortId, nodeOf, type NodeId, type PortId } from './ids.ts';
import { logger } from './log.ts';

const log = logger('nodeport');

export type InitFn = (...args: any[]) => void;

/** Limits on what other nodes hold here (MeshOptions; docs/security.md). */
export interface RemoteLimits {
  /** Monitors one secret-holding node may hold on this node's ports. */
  maxRemoteMonitors: number;
  /** Monitors one page (token or anonymous node) may hold on this node's ports. */
  pageMaxRemoteMonitors: number;
}

export const REMOTE_DEFAULTS: RemoteLimits = { maxRemoteMonitors: 1_000_000, pageMaxRemoteMonitors: 10_000 };

/** Denied spawns remembered (so the requester's monitors on the port fire 'denied'): the most recent ones. */
const DENIED_SPAWNS = 1024;

export class Remote {
  /** Watcher side: monitors this node holds on ports of other nodes. */
  private watching = new Map<NodeId, Map<number, (r: Reason) => void>>();
  /** Target side: monitors other nodes hold on our ports, to cancel when they go. */
  private watchedBy = new Map<NodeId, Map<number, Guard>>();
  private seq = 0;
  readonly inits = new Map<string, InitFn>();
  limits: RemoteLimits = { ...REMOTE_DEFAULTS };
  /** Port ID of a refused spawn → the node that asked (only its monitors hear 'denied'). */
  private deniedSpawns = new Map<PortId, { from: NodeId; why: string }>();
  /** Nodes told they hit the monitor quota (one warning each until they go). */
  private overQuota = new Set<NodeId>();

  constructor(private readonly k: Kernel) {
    const np = k.nodePort;
    k.onDenied = (from, req, args, why) => this.denied(from, req, args, why);
    np.set('mon', (from, a, who) => this.onMon(from, a, who));
    np.set('unmon', (from, a) => this.onUnmon(from, a));
    np.set('monfire', (from, a) => this.onMonfire(from, a));
    np.set('kil', (from, a) => this.onKil(from, a));
    np.set('spawn', (from, a) => this.onSpawn(from, a));
    np.set('snd', (from, a, who) => this.onSnd(from, a, who));
    np.set('denied', (from, a) => this.onDeniedNotice(from, a));
    np.set('refused', (from, a) => this.onRefusedBySeed(from, a));
  }

  /** Monitor a port on another node. */
  mon(port: PortId, fire: (r: Reason) => void): Guard {
    const node = nodeOf(port);
    const id = ++this.seq;
    let m = this.watching.get(node);
    if (!m) this.watching.set(node, (m = new Map()));
    m.set(id, fire);
    this.k.snd(node, ['mon', port, id]);
    return () => {
      const mm = this.watching.get(node);
      if (mm?.delete(id)) this.k.snd(node, ['unmon', id]);
    };
  }

  /** How many monitors this node holds on `node`'s ports (a mesh keeps such nodes connected). */
  watchCount(node: NodeId): number {
    return this.watching.get(node)?.size ?? 0;
  }

  /**
   * The link to `node` is lost (or the node left): every monitor on its
   * ports fires with a transport error, and its monitors on our ports go.
   */
  nodeDown(node: NodeId, reason: Reason): void {
    const m = this.watching.get(node);
    this.watching.delete(node);
    if (m) for (const fire of m.values()) this.k.enqueueTask(() => fire(reason));
    const w = this.watchedBy.get(node);
    this.watchedBy.delete(node);
    this.overQuota.delete(node);
    // Each removal is O(1) (kernel.ts keeps many monitors in a Set): a node
    // that held 100,000s of monitors here goes without stalling this one.
    if (w) for (const g of w.values()) g();
  }

  private onMon(from: NodeId, [port, id]: unknown[], who: Sender): void {
    if (!isPortId(port) || typeof id !== 'number') return bad(from, 'mon');
    let w = this.watchedBy.get(from);
    if (!w) this.watchedBy.set(from, (w = new Map()));
    const ww = w;
    // The same monitor ID again replaces the first one, which would otherwise stay on the port, uncounted.
    const old = ww.get(id);
    if (old !== undefined) {
      ww.delete(id);
      old();
    }
    const max = who.kind === 'secret' ? this.limits.maxRemoteMonitors : this.limits.pageMaxRemoteMonitors;
    if (ww.size >= max) {
      const why = `AEMP_ERR_QUOTA: node ${from} holds ${ww.size} monitors on ports of ${this.k.nodeId} (limit ${max})`;
      if (!this.overQuota.has(from)) {
        this.overQuota.add(from);
        log.warn(`refusing monitors: ${why}`, 'monitor-quota');
      }
      this.k.snd(from, ['monfire', id, 'denied', why]);
      return;
    }
    const refused = this.k.ports.has(port) ? undefined : this.deniedSpawns.get(port);
    if (refused !== undefined && refused.from === from) {
      this.k.snd(from, ['monfire', id, 'denied', `AEMP_ERR_DENIED: spawn of ${port} refused: ${refused.why}`]);
      return;
    }
    ww.set(
      id,
      this.k.monLocal(port, (reason) => {
        ww.delete(id);
        this.k.snd(from, ['monfire', id, ...reason]);
      }),
    );
  }

  private onUnmon(from: NodeId, [id]: unknown[]): void {
    const w = this.watchedBy.get(from);
    const g = w?.get(id as number);
    if (g) {
      w!.delete(id as number);
      g();
    }
  }

  private onMonfire(from: NodeId, [id, ...reason]: unknown[]): void {
    const m = this.watching.get(from);
    const fire = m?.get(id as number);
    if (!fire) return;
    m!.delete(id as number);
    fire(reason);
  }

  private onKil(from: NodeId, [port, ...reason]: unknown[]): void {
    if (!isPortId(port)) return bad(from, 'kil');
    const p = this.k.ports.get(port);
    if (p) this.k.kill(p, reason);
  }

  /**
   * sndOn: send `msg` to `port` for `from`. To a port, as AEMP does; to
   * this node's own node port, as a request of `from` itself (so it is
   * checked against what `from` may do); to another node's node port: never,
   * that would stamp our identity on `from`'s request (laundering).
   */
  private onSnd(from: NodeId, [port, ...msg]: unknown[], who: Sender): void {
    if (!isPortId(port)) return bad(from, 'snd');
    if (port.indexOf('#') >= 0) return this.k.snd(port, msg);
    if (this.k.isLocalNode(port)) {
      // One level only: a chain of sndOn to ourselves would recurse once per element of one message.
      if (msg[0] === 'snd') return this.denied(from, 'snd', [port, ...msg], 'sndOn of an sndOn to the same node');
      return this.k.nodePortRequest(from, msg, who);
    }
    this.denied(from, 'snd', [port, ...msg], `a node port request to another node (${port}) is never sent on another node's behalf`);
  }

  /** A request of `from` was refused: remember a refused spawn, tell the requester. */
  private denied(from: NodeId, req: string, args: unknown[], why: string): void {
    if (req === 'spawn' && isPortId(args[0]) && this.k.isLocalNode(nodeOf(args[0]))) this.rememberDenied(args[0], from, why);
    if (req === 'trace' && isPortId(args[0]) && nodeOf(args[0]) === from) this.k.snd(args[0], ['refused', `AEMP_ERR_DENIED: ${why}`]);
    if (!this.k.isLocalNode(from)) this.k.snd(from, ['denied', req, `AEMP_ERR_DENIED: ${why}`]);
  }

  private rememberDenied(port: PortId, from: NodeId, why: string): void {
    this.deniedSpawns.delete(port);
    this.deniedSpawns.set(port, { from, why });
    if (this.deniedSpawns.size > DENIED_SPAWNS) this.deniedSpawns.delete(this.deniedSpawns.keys().next().value!);
  }

  /** Another node (or the seed on its behalf) refused a request of ours. */
  private onDeniedNotice(from: NodeId, [req, text]: unknown[]): void {
    log.warn(`node ${from} refused our ${String(req).slice(0, 40)} request: ${String(text).slice(0, 300)}`, 'request-refused');
  }

  /**
   * ['refused', req, text, spawnId?] in place of a request the sender's
   * seed would not forward (seed.ts): it keeps the sender's message numbers
   * in sequence, and a refused spawn's monitors fire 'denied' here.
   */
  private onRefusedBySeed(from: NodeId, [req, text, id]: unknown[]): void {
    if (req === 'spawn' && isPortId(id) && this.k.isLocalNode(nodeOf(id))) this.rememberDenied(id, from, String(text).slice(0, 300));
    log.info(`the seed of ${from} refused its ${String(req).slice(0, 40)} request to this node`);
  }

  private onSpawn(from: NodeId, [id, name, ...args]: unknown[]): void {
    if (!isPortId(id) || !this.k.isLocalNode(nodeOf(id)) || id.indexOf('#') < 0 || typeof name !== 'string')
      return bad(from, 'spawn');
    if (this.k.ports.has(id)) return bad(from, 'spawn (port exists)');
    // Run the init now, inside this node-port task, so messages that followed
    // the spawn request find the port's callbacks in place.
    this.runInit(this.k.createPort(id), name, args);
  }

  /** Create port `id` here and run init `name` in its context, from the run queue. */
  spawnHere(id: PortId, name: string, args: unknown[]): void {
    const p = this.k.createPort(id);
    this.k.enqueueTask(() => this.runInit(p, name, args));
  }

  private runInit(p: Port, name: string, args: unknown[]): void {
    if (p.dead) return;
    const fn = this.inits.get(name);
    if (!fn) {
      log.warn(`spawn: no init function registered as ${JSON.stringify(name)}`, 'spawn-unknown');
      this.k.kill(p, ['die', `spawn: no init function registered as ${JSON.stringify(name)}`]);
      return;
    }
    this.k.inContext(p, () => fn(...args));
  }
}

function bad(from: NodeId, what: string): void {
  log.warn(`node port: refused malformed ${what} request from ${from}`, 'malformed-request');
}

export { describeError };
