/**
 * The kernel: one node's ports, the run queue that delivers messages to
 * them, port contexts (AEMP's $SELF), kil and the local half of monitors.
 *
 * Delivery is never re-entrant: snd only appends to the run queue, which is
 * drained from a microtask. One FIFO for all ports keeps messages in order
 * per sender and port. Messages to other nodes go to the injected Transport;
 * messages arriving from other nodes come in through `receive`.
 */
import type { Clock } from './clock.ts';
import { macrotask, microtask, systemClock } from './clock.ts';
import { denial, TRUSTED, type Sender } from './caps.ts';
import { BadArgumentError } from './errors.ts';
import { type NodeId, type PortId, randomId } from './ids.ts';
import { logger, trace, traceOn } from './log.ts';

export type Message = unknown[];
export type Reason = unknown[];
export type Handler = (...args: any[]) => void;
export type Guard = () => void;

const log = logger('kernel');

/** What the kernel needs from the network: carry a message to another node. */
export interface Transport {
  send(from: NodeId, node: NodeId, port: PortId, msg: Message): void;
}

/** A port's mailbox hook (async ports); see mailbox.ts. */
export interface Inbox {
  push(msg: Message): void;
  die(reason: Reason): void;
}

export type MonFn = (reason: Reason) => void;

export class Port {
  def: Handler | undefined = undefined;
  tags: Map<string, Handler> | undefined = undefined;
  /**
   * Monitors on this port, called with the reason when it dies (one
   * function, or several: a Set, so removing one of many is O(1) — a node
   * may hold 100,000s of other nodes' monitors on one port).
   */
  mons: MonFn | Set<MonFn> | undefined = undefined;
  /** Things to dispose when the port dies (monGuard, monitors it set up). */
  guards: Set<Guard> | undefined = undefined;
  inbox: Inbox | undefined = undefined;
  dead = false;
  constructor(readonly id: PortId) {}
}

/** Run-queue entries are pairs; a function in the first slot is a task. */
type Task = (arg: unknown) => void;

/**
 * Node-port request handler: `from` is the authenticated sending node, `who`
 * its kind and capabilities (the kernel has checked them: caps.ts).
 */
export type NodePortHandler = (from: NodeId, args: unknown[], who: Sender) => void;

export function isNormal(reason: Reason): boolean {
  return reason.length === 0;
}

export function describeError(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class Kernel {
  readonly ports = new Map<PortId, Port>();
  /** The port whose code runs now (AEMP's $SELF). */
  current: Port | undefined = undefined;
  transport: Transport | undefined = undefined;
  readonly nodePort = new Map<string, NodePortHandler>();
  /** A node-port request was refused for the sender's kind: tell the requester (remote.ts sets it). */
  onDenied: ((from: NodeId, req: string, args: unknown[], why: string) => void) | undefined = undefined;
  /** Remote tracing (aemp trace): called for every local SND/RCV while set. */
  tracer: ((ev: 'SND' | 'RCV', port: PortId, msg: Message, from?: NodeId) => void) | undefined = undefined;
  private prefix: string;
  private seq = 0;
  private q = new RunQueue();
  /** The last remote port sent to and its node (snd). */
  private lastPort = '';
  private lastNode: NodeId = '';
  private scheduled = false;
  /** Messages delivered per drain before yielding to I/O. */
  private readonly budget = 100_000;
  /** Node IDs that are this node (the first one a provisional ID, if configure renamed us). */
  private aliases = new Set<NodeId>();

  constructor(
    public nodeId: NodeId,
    readonly clock: Clock = systemClock,
  ) {
    this.prefix = `${nodeId}#${randomId(6)}.`;
    this.aliases.add(nodeId);
  }

  /** Take a new node ID (configure). Ports made before keep their IDs and stay reachable locally. */
  rename(nodeId: NodeId): void {
    this.nodeId = nodeId;
    this.aliases.add(nodeId);
    this.prefix = `${nodeId}#${randomId(6)}.`;
  }

  isLocalNode(node: NodeId): boolean {
    return this.aliases.has(node);
  }

  /** A fresh, never reused port ID on this node. */
  newPortId(): PortId {
    return this.prefix + (++this.seq).toString(36);
  }

  /** A fresh port name for a port on another node (spawn): the caller picks it, as in AEMP. */
  newRemoteName(node: NodeId): PortId {
    return `${node}#${this.prefix.slice(this.prefix.indexOf('#') + 1)}${(++this.seq).toString(36)}`;
  }

  createPort(id: PortId = this.newPortId()): Port {
    if (this.ports.has(id)) throw new BadArgumentError(`port ${id} exists already`);
    const p = new Port(id);
    this.ports.set(id, p);
    return p;
  }

  localPort(id: PortId, what: string): Port {
    const p = this.ports.get(id);
    if (!p) throw new BadArgumentError(`${what}: ${id} is not a live local port`);
    return p;
  }

  // --- sending -----------------------------------------------------------

  snd(port: PortId, msg: Message): void {
    const p = this.ports.get(port);
    if (traceOn()) trace('kernel', `SND ${port} <- ${safeJson(msg)}`);
    if (this.tracer !== undefined) this.tracer('SND', port, msg);
    if (p !== undefined) {
      this.q.push(p, msg);
      if (!this.scheduled) this.schedule();
      return;
    }
    if (typeof port !== 'string') throw new BadArgumentError(`snd: port must be a string, got ${typeof port}`);
    let node: NodeId;
    const i = port.indexOf('#');
    // A stream of messages to one port: the same node string object each time, so the
    // mesh's map lookups find its hash cached instead of hashing a new slice per message.
    if (port === this.lastPort) node = this.lastNode;
    else {
      node = i < 0 ? port : port.slice(0, i);
      this.lastPort = port;
      this.lastNode = node;
    }
    if (this.aliases.has(node)) {
      if (i < 0) this.enqueueTask(this.nodePortTask, [this.nodeId, msg]);
      // else: a dead or unknown local port; messages to dead ports vanish (AEMP).
      return;
    }
    if (this.transport) this.transport.send(this.nodeId, node, port, msg);
    else log.debug(`no transport: dropping message to ${port}`);
  }

  /**
   * A message from another node (already authenticated as `from`; `who`: its
   * kind, as the mesh knows it). `fromLink`: read off a link, in the link's
   * own I/O callback (mesh.ts) — never inside a caller, so a request to the
   * node port may run at once (nodePortNow).
   */
  receive(from: NodeId, port: PortId, msg: Message, who: Sender = TRUSTED, fromLink = false): void {
    const p = this.ports.get(port);
    if (traceOn()) trace('kernel', `RCV ${port} <- ${from} ${safeJson(msg)}`);
    if (this.tracer !== undefined) this.tracer('RCV', port, msg, from);
    if (p !== undefined) {
      this.q.push(p, msg);
      if (!this.scheduled) this.schedule();
    } else if (this.aliases.has(port)) {
      if (fromLink && !this.scheduled) this.nodePortNow(from, msg, who);
      else this.enqueueTask(this.nodePortTask, [from, msg, who]);
    } else {
      // Not (yet) here: a spawn request queued before it may create it.
      this.enqueueTask(this.lateTask, [port, msg]);
    }
  }

  private lateTask: Task = (a) => {
    const [port, msg] = a as [PortId, Message];
    const p = this.ports.get(port);
    if (p !== undefined) this.deliver(p, msg);
  };

  /** Run fn(arg) from the run queue, after everything queued before it. */
  enqueueTask(fn: Task, arg?: unknown): void {
    this.q.push(fn, arg);
    if (!this.scheduled) this.schedule();
  }

  private nodePortTask: Task = (a) => {
    const [from, msg, who] = a as [NodeId, Message, Sender | undefined];
    this.nodePortRequest(from, msg, who ?? TRUSTED);
  };

  /**
   * A node-port request read off a link, in the link's own I/O callback
   * (mesh.ts), with nothing queued or running here: it runs now, as the run
   * queue would run it next — without a task, an array and a microtask per
   * request (a group's watcher gets one for every change). A throw is
   * logged as the run queue logs one; the link never sees it. What runs so,
   * back to back, is bounded by the frame it came in, as a drain is by its
   * budget.
   */
  private nodePortNow(from: NodeId, msg: Message, who: Sender): void {
    try {
      this.nodePortRequest(from, msg, who);
    } catch (e) {
      taskThrew(e);
    }
  }

  /** Run a node-port request now, if `who` may send it (caps.ts); else tell the requester. */
  nodePortRequest(from: NodeId, msg: Message, who: Sender): void {
    const req = msg[0];
    const h = typeof req === 'string' ? this.nodePort.get(req) : undefined;
    if (!h) {
      log.warn(`node port: refused unknown request ${safeJson(req)} from ${from}`, 'refused-request');
      return;
    }
    const why = denial(who, req as string);
    if (why !== undefined) {
      log.warn(`node port: denied ${req} from ${from}: ${why}`, 'denied-request');
      this.onDenied?.(from, req as string, msg.slice(1), why);
      return;
    }
    h(from, msg.slice(1), who);
  }

  private schedule(): void {
    this.scheduled = true;
    microtask(this.drain);
  }

  private drain = (): void => {
    for (;;) {
      try {
        this.run();
        return;
      } catch (e) {
        // A callback threw: kill its port (if any), log, and carry on draining.
        const p = this.current;
        this.current = undefined;
        if (p) this.die(p, e);
        else taskThrew(e);
      }
    }
  };

  private run(): void {
    const q = this.q;
    let n = 0;
    while (q.size > 0) {
      if (++n > this.budget) {
        // Let I/O and timers run; continue in a macrotask.
        macrotask(this.drain);
        return;
      }
      const target = q.shift();
      const payload = q.shift();
      if (typeof target === 'function') {
        this.current = undefined;
        (target as Task)(payload);
      } else {
        this.deliver(target as Port, payload as Message);
      }
    }
    this.scheduled = false;
    this.current = undefined;
  }

  private deliver(p: Port, msg: Message): void {
    if (p.dead) return;
    if (p.inbox) return p.inbox.push(msg);
    this.current = p;
    const tag = msg[0];
    if (p.tags !== undefined && typeof tag === 'string') {
      const h = p.tags.get(tag);
      if (h !== undefined) {
        switch (msg.length) {
          case 1: h(); break;
          case 2: h(msg[1]); break;
          case 3: h(msg[1], msg[2]); break;
          case 4: h(msg[1], msg[2], msg[3]); break;
          default: h(...msg.slice(1));
        }
        return;
      }
    }
    if (p.def !== undefined) {
      p.def(...msg);
      return;
    }
    this.kill(p, ['no_callback', `no callback found for message ${safeJson(msg).slice(0, 200)}`]);
  }

  /** The port of the running code died of an exception: AEMP's reason ['die', text]. */
  die(p: Port, e: unknown): void {
    log.error(`port ${p.id} died: ${describeError(e)}`);
    if (log.enabled(8)) log.debug(`port ${p.id} died at:${stackOf(e)}`);
    this.kill(p, ['die', describeError(e)]);
  }

  // --- contexts ----------------------------------------------------------

  /** Run fn with `p` as self(); a throw kills p. Returns fn's result, or undefined if it threw. */
  inContext<R>(p: Port | undefined, fn: () => R): R | undefined {
    return this.callIn(p, fn, undefined, undefined, undefined);
  }

  /** fn(a, b, c) as inContext runs fn: for calls made by the thousand, without a closure each. */
  callIn<R, A, B, C>(p: Port | undefined, fn: (a: A, b: B, c: C) => R, a: A, b: B, c: C): R | undefined {
    const saved = this.current;
    this.current = p;
    try {
      return fn(a, b, c);
    } catch (e) {
      if (p) this.die(p, e);
      else log.error(`uncaught error outside any port: ${describeError(e)}${stackOf(e)}`);
      return undefined;
    } finally {
      this.current = saved;
    }
  }

  // --- death ---------------------------------------------------------------

  /** Kill a local port now; its monitors and guards run from the run queue. */
  kill(p: Port, reason: Reason): void {
    if (p.dead) return;
    p.dead = true;
    this.ports.delete(p.id);
    if (traceOn()) trace('kernel', `KIL ${p.id} ${safeJson(reason)}`);
    const { mons, guards, inbox } = p;
    p.def = undefined;
    p.tags = undefined;
    p.mons = undefined;
    p.guards = undefined;
    p.inbox = undefined;
    if (inbox) inbox.die(reason);
    if (guards) for (const g of guards) this.enqueueTask(runGuard, g);
    if (typeof mons === 'function') this.enqueueTask(mons as Task, reason);
    else if (mons) for (const m of mons) this.enqueueTask(m as Task, reason);
  }

  /** Set a local monitor; fires (asynchronously) at once if the port is gone. */
  monLocal(port: PortId, fire: (reason: Reason) => void): Guard {
    const p = this.ports.get(port);
    if (!p) {
      let cancelled = false;
      this.enqueueTask(() => {
        if (!cancelled) fire(['no_such_port', `cannot monitor nonexistent port ${port}`]);
      });
      return () => {
        cancelled = true;
      };
    }
    // Distinct identity per monitor, so the same function may be set twice.
    const f: MonFn = (r) => fire(r);
    const m = p.mons;
    if (m === undefined) p.mons = f;
    else if (typeof m === 'function') p.mons = new Set([m, f]);
    else m.add(f);
    return () => {
      const cur = p.mons;
      if (cur === f) p.mons = undefined;
      else if (cur !== undefined && typeof cur !== 'function') cur.delete(f);
    };
  }

  /** Run `g` when the local port dies (or soon, if it is dead already). Returns a remover. */
  addGuard(port: PortId, g: Guard): Guard {
    const p = this.ports.get(port);
    if (!p) {
      this.enqueueTask(runGuard, g);
      return noop;
    }
    const set = (p.guards ??= new Set());
    set.add(g);
    return () => {
      set.delete(g);
    };
  }
}

/** A task (or a node-port request) with no port of its own threw: logged, and the queue goes on. */
function taskThrew(e: unknown): void {
  log.error(`uncaught error in a monitor or task: ${describeError(e)}${stackOf(e)}`);
}

/**
 * A FIFO of chunks: O(1) push and shift without ever copying a big array,
 * so a burst of millions of queued messages stays linear. The first chunk is
 * small: a process may hold thousands of nodes, most of them with a few
 * things queued at a time (a full chunk each would be 64 KiB per node).
 */
const FIRST_CHUNK = 32;
const CHUNK = 8192;
class RunQueue {
  private head: unknown[] = new Array(FIRST_CHUNK);
  private tail = this.head;
  private hi = 0;
  private ti = 0;
  private chunks: unknown[][] = [];
  size = 0;

  push(a: unknown, b: unknown): void {
    if (this.ti === this.tail.length) {
      this.tail = new Array(CHUNK);
      this.chunks.push(this.tail);
      this.ti = 0;
    }
    this.tail[this.ti++] = a;
    this.tail[this.ti++] = b;
    this.size += 2;
  }

  shift(): unknown {
    if (this.hi === this.head.length) {
      this.head = this.chunks.shift()!;
      this.hi = 0;
    }
    const v = this.head[this.hi];
    this.head[this.hi++] = undefined;
    if (--this.size === 0) {
      // Empty: rewind to the start of the current chunk.
      this.tail = this.head;
      this.hi = this.ti = 0;
      this.chunks.length = 0;
    }
    return v;
  }
}

const noop: Guard = () => {};
const runGuard: Task = (g) => (g as Guard)();

function stackOf(e: unknown): string {
  return e instanceof Error && e.stack ? `\n${e.stack}` : '';
}

export function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x) => (x instanceof Uint8Array ? `<${x.length} bytes>` : x)) ?? String(v);
  } catch {
    return String(v);
  }
}
