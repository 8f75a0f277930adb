/**
 * MpNode: one aemp node, with AEMP's functions as methods. The default
 * node behind the plain functions (api.ts) is one of these; tests and
 * simulations create more with createNode().
 */
import type { Clock, Random } from './clock.ts';
import { systemClock, systemRandom } from './clock.ts';
import { BadArgumentError } from './errors.ts';
import { nodeOf, resolveNodeId, type NodeId, type PortId } from './ids.ts';
import { type Guard, type Handler, Kernel, type Message, isNormal, describeError } from './kernel.ts';
import { Mailbox } from './mailbox.ts';
import { Remote, type InitFn } from './remote.ts';
import { cal, call, type CallOptions } from './rpc.ts';
import type { Network, LinkInfo } from './network.ts';
import { logger } from './log.ts';
import { NodeGroups, type GroupMonitor } from './groups/node-groups.ts';

const log = logger('node');

export interface PortContext {
  self: PortId;
  get(tag?: string, timeoutMs?: number): Promise<Message | undefined>;
  getCond(pred: (...msg: any[]) => boolean, timeoutMs?: number): Promise<Message | undefined>;
}

declare global {
  interface SymbolConstructor {
    /** Explicit resource management's Symbol.dispose, declared so aemp's types need no esnext lib (as @types/node does). */
    readonly dispose: unique symbol;
  }
}

export interface Disposable {
  [Symbol.dispose](): void;
}

const disposeSym: symbol = (Symbol as { dispose?: symbol }).dispose ?? Symbol.for('Symbol.dispose');

export interface NodeOptions {
  nodeid?: string;
  clock?: Clock;
  /** Jitter and IDs that need no secrecy (default Math.random). */
  random?: Random;
}

export class MpNode {
  readonly kernel: Kernel;
  readonly remote: Remote;
  readonly clock: Clock;
  readonly random: Random;
  /** The network this node talks through (in-process hub or mesh). */
  net: Network | undefined;
  /** cal/call waiting for a reply now, and the most allowed at once (rpc.ts; createNode's maxPendingCalls). */
  pendingCalls = 0;
  maxPendingCalls = 100_000;

  constructor(opts: NodeOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? systemRandom;
    this.kernel = new Kernel(resolveNodeId(opts.nodeid), this.clock);
    this.remote = new Remote(this.kernel);
  }

  get NODE(): NodeId {
    return this.kernel.nodeId;
  }
  node(): NodeId {
    return this.kernel.nodeId;
  }
  nodeOf(id: PortId | NodeId): NodeId {
    return nodeOf(id);
  }
  self(): PortId | undefined {
    return this.kernel.current?.id;
  }
  portIsLocal(port: PortId): boolean {
    return this.kernel.isLocalNode(nodeOf(port));
  }

  // --- ports ---------------------------------------------------------------

  /** Create a port; with a callback, it receives every message not taken by a tag handler. */
  port(cb?: Handler): PortId {
    const p = this.kernel.createPort();
    if (cb !== undefined) {
      if (typeof cb !== 'function') throw new BadArgumentError('port: callback must be a function');
      p.def = cb;
    }
    return p.id;
  }

  /** Set the default callback, a tag callback (undefined removes it), or a map of tag callbacks. */
  rcv(port: PortId, a: Handler | string | Record<string, Handler | undefined>, cb?: Handler): PortId {
    const p = this.kernel.localPort(port, 'rcv');
    if (p.inbox) throw new BadArgumentError(`rcv: ${port} is an async port; use ctx.get`);
    if (typeof a === 'function') p.def = a;
    else if (typeof a === 'string') setTag(p, a, cb);
    else if (a && typeof a === 'object') for (const k of Object.keys(a)) setTag(p, k, a[k]);
    else throw new BadArgumentError('rcv: expected a callback, a tag and callback, or a map of tag callbacks');
    return port;
  }

  /** Send a message to a port, local or remote. Never blocks, never re-enters. */
  snd(port: PortId, ...msg: Message): void {
    this.kernel.snd(port, msg);
  }

  /** Kill a port; no reason is a normal kill. */
  kil(port: PortId, ...reason: unknown[]): void {
    const k = this.kernel;
    const p = k.ports.get(port);
    if (p) return k.kill(p, reason);
    const node = nodeOf(port);
    if (!k.isLocalNode(node)) k.snd(node, ['kil', port, ...reason]);
  }

  /**
   * Monitor a port: mon(port, cb) calls cb(...reason); mon(port, rcvPort)
   * kills rcvPort with the same reason unless the kill was normal;
   * mon(port) uses self(); mon(port, rcvPort, ...msg) sends msg + reason.
   */
  mon(port: PortId, a?: Handler | PortId, ...msg: Message): Guard {
    if (typeof port !== 'string') throw new BadArgumentError('mon: port must be a port id');
    let rcvPort: PortId | undefined;
    if (typeof a !== 'function') {
      rcvPort = a ?? this.self();
      if (rcvPort === undefined) throw new BadArgumentError('mon: no receiving port given and no self()');
    }
    // Hot path (every cal/call sets one): few closures, no named arrows.
    let removeFromRcv: Guard | undefined;
    const guard = (this.portIsLocal(port) ? this.kernel.monLocal : this.remote.mon).call(
      this.portIsLocal(port) ? this.kernel : this.remote,
      port,
      (r: unknown[]) => {
        if (removeFromRcv !== undefined) removeFromRcv();
        if (typeof a === 'function') a(...r);
        else if (msg.length > 0) this.snd(rcvPort!, ...msg, ...r);
        else if (!isNormal(r)) this.kil(rcvPort!, ...r);
      },
    );
    if (rcvPort === undefined || !this.portIsLocal(rcvPort)) return guard;
    // A monitor that would message a dead port is pointless: drop it with that port.
    removeFromRcv = this.kernel.addGuard(rcvPort, guard);
    return () => {
      removeFromRcv!();
      guard();
    };
  }

  /** Dispose the given guards (or Disposables) exactly once when the port dies. */
  monGuard(port: PortId, ...things: Array<Guard | Disposable>): Guard {
    return this.mon(port, () => {
      for (const t of things) {
        try {
          if (typeof t === 'function') t();
          else (t as unknown as Record<symbol, () => void>)[disposeSym]!();
        } catch (e) {
          log.error(`monGuard: disposing failed: ${describeError(e)}`);
        }
      }
    });
  }

  // --- port context ----------------------------------------------------------

  /** Bind fn to self()'s port: when called later, it runs in that context and a throw kills the port. */
  psub<F extends (...a: any[]) => any>(fn: F): F {
    const p = this.kernel.current;
    if (!p) throw new BadArgumentError('psub: can only be called inside a port callback');
    return ((...a: unknown[]) => this.kernel.inContext(p, () => fn(...a))) as F;
  }

  /** Run fn in the context of a local port (a throw kills that port and returns undefined). */
  peval<R>(port: PortId, fn: (...a: any[]) => R, ...args: unknown[]): R {
    const p = this.kernel.localPort(port, 'peval');
    return this.kernel.inContext(p, () => fn(...args)) as R;
  }

  /** After ms, call cb or send a message; returns a guard that cancels. */
  after(ms: number, a: (() => void) | PortId, ...msg: Message): Guard {
    const k = this.kernel;
    const t = this.clock.setTimeout(
      typeof a === 'function' ? () => k.inContext(undefined, a) : () => this.snd(a, ...msg),
      ms,
    );
    return () => this.clock.clearTimeout(t);
  }

  // --- spawn and rpc -----------------------------------------------------------

  /** Make fn spawnable under name, on this node, from anywhere in the mesh. */
  registerInit(name: string, fn: InitFn): void {
    if (typeof name !== 'string' || typeof fn !== 'function') throw new BadArgumentError('registerInit(name, fn)');
    this.remote.inits.set(name, fn);
  }

  /** Create a port on `node` running the registered init function; returns its ID at once. */
  spawn(node: NodeId | PortId, initName: string, ...args: unknown[]): PortId {
    const target = nodeOf(node);
    if (this.kernel.isLocalNode(target)) {
      const id = this.kernel.newPortId();
      this.remote.spawnHere(id, initName, args);
      return id;
    }
    const id = this.kernel.newRemoteName(target);
    this.kernel.snd(target, ['spawn', id, initName, ...args]);
    return id;
  }

  cal(port: PortId, ...msgThenCallback: unknown[]): PortId {
    return cal(this, port, msgThenCallback);
  }

  call(port: PortId, msg: Message, opts?: CallOptions): Promise<Message> {
    return call(this, port, msg, opts);
  }

  /** A port whose body takes messages with ctx.get / ctx.getCond (selective receive). */
  portAsync(body: (ctx: PortContext) => Promise<void>): PortId {
    const k = this.kernel;
    const p = k.createPort();
    const box = new Mailbox(this.clock);
    p.inbox = box;
    const ctx: PortContext = {
      self: p.id,
      get: (tag, timeoutMs) =>
        tag === undefined
          ? box.take(() => true, timeoutMs)
          : box.take((m) => m[0] === tag, timeoutMs).then((m) => m && m.slice(1)),
      getCond: (pred, timeoutMs) => box.take((m) => pred(...m), timeoutMs),
    };
    k.enqueueTask(() => {
      if (p.dead) return;
      let result: Promise<void> | undefined;
      k.inContext(p, () => {
        result = Promise.resolve(body(ctx));
      });
      result?.then(
        () => k.kill(p, []),
        (e) => {
          if (!p.dead) k.die(p, e);
        },
      );
    });
    return p.id;
  }

  // --- the network -------------------------------------------------------------

  nodeIsUp(node: NodeId): boolean | undefined {
    if (this.kernel.isLocalNode(node)) return true;
    return this.net?.nodeIsUp(node);
  }
  upNodes(): NodeId[] {
    return this.net?.upNodes() ?? [];
  }
  knownNodes(): NodeId[] {
    return this.net?.knownNodes() ?? [];
  }
  monNodes(cb: (node: NodeId, isUp: boolean, ...reason: unknown[]) => void): Guard {
    return this.net?.monNodes(cb) ?? (() => {});
  }
  /** Have `node` send msg (msg[0] is the port). */
  // --- global groups (lib/groups) ------------------------------------------

  private _groups: NodeGroups | undefined;
  /** This node's view of the global groups (created on first use). */
  get groups(): NodeGroups {
    return (this._groups ??= new NodeGroups(this));
  }
  /** Register local port `port` in `group`; the guard unregisters it (so does the port's death). */
  grpReg(group: string, port: PortId): Guard {
    return this.groups.reg(group, port);
  }
  /** The group's member ports, or undefined when empty or not yet known. */
  grpGet(group: string): PortId[] | undefined {
    return this.groups.get(group);
  }
  /** cb(ports, added, removed): once with the current members, then on every change. */
  grpMon(group: string, cb: GroupMonitor): Guard {
    return this.groups.mon(group, cb);
  }

  sndOn(node: NodeId, ...msg: Message): void {
    this.kernel.snd(nodeOf(node), ['snd', ...msg]);
  }
  linkInfo(node: NodeId): LinkInfo | undefined {
    if (this.kernel.isLocalNode(node)) return { path: 'self' };
    return this.net?.linkInfo(node);
  }

  /** Leave the mesh cleanly: peers' monitors fire at once. Local ports keep working. */
  async shutdown(): Promise<void> {
    const net = this.net;
    this.net = undefined;
    this.kernel.transport = undefined;
    await net?.shutdown();
  }
}

function setTag(p: { tags: Map<string, Handler> | undefined }, tag: string, cb: Handler | undefined): void {
  if (cb === undefined) {
    p.tags?.delete(tag);
    return;
  }
  if (typeof cb !== 'function') throw new BadArgumentError(`rcv: callback for tag ${JSON.stringify(tag)} must be a function`);
  (p.tags ??= new Map()).set(tag, cb);
}
