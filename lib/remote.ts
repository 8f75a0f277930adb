/**
 * The node port's requests (AEMP's node-port functions): remote monitors,
 * remote kil, spawn and sndOn, both halves. Each request is a message to the
 * target's node port (its bare node ID); the kernel hands it over with the
 * sending node as authenticated by the link. Nothing here evaluates code
 * from the network: spawn only runs init functions registered by name.
 */
import { type Kernel, type Port, type Reason, type Guard, describeError } from './kernel.ts';
import { isPortId, nodeOf, type NodeId, type PortId } from './ids.ts';
import { logger } from './log.ts';

const log = logger('nodeport');

export type InitFn = (...args: any[]) => void;

export class Remote {
  /** Watcher side: monitors this node holds on ports of other nodes. */
  private watching = new Map<NodeId, Map<number, (r: Reason) => void>>();
  /** Target side: monitors other nodes hold on our ports, to cancel when they go. */
  private watchedBy = new Map<NodeId, Map<number, Guard>>();
  private seq = 0;
  readonly inits = new Map<string, InitFn>();

  constructor(private readonly k: Kernel) {
    const np = k.nodePort;
    np.set('mon', (from, a) => this.onMon(from, a));
    np.set('unmon', (from, a) => this.onUnmon(from, a));
    np.set('monfire', (from, a) => this.onMonfire(from, a));
    np.set('kil', (from, a) => this.onKil(from, a));
    np.set('spawn', (from, a) => this.onSpawn(from, a));
    np.set('snd', (from, a) => this.onSnd(from, a));
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
    if (w) for (const g of w.values()) g();
  }

  private onMon(from: NodeId, [port, id]: unknown[]): void {
    if (!isPortId(port) || typeof id !== 'number') return bad(from, 'mon');
    let w = this.watchedBy.get(from);
    if (!w) this.watchedBy.set(from, (w = new Map()));
    const ww = w;
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

  private onSnd(from: NodeId, [port, ...msg]: unknown[]): void {
    if (!isPortId(port)) return bad(from, 'snd');
    this.k.snd(port, msg);
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
