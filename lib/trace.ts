/**
 * Node-port requests for looking at a running node from outside (`aemp
 * trace`, `aemp nodes`):
 *
 *   [nodeId, 'trace', replyPort, filterPort?]  report every SND/RCV of this
 *     node (or only those of filterPort, a local port) to replyPort as
 *     ['SND', port, msg] / ['RCV', port, msg, fromNode], after an
 *     ['on', nodeId, filterPort | null] acknowledgement; until replyPort dies.
 *   [nodeId, 'nodes', replyPort]  reply [upNodes, knownNodes].
 *
 * The reply port must live on the node that asked (the link authenticated
 * it), so a node cannot have reports sprayed at a third one. Reports are
 * plain copies of the messages: a local message may hold functions or class
 * instances that no codec can carry.
 */
import { isPortId, nodeOf, type NodeId, type PortId } from './ids.ts';
import type { Guard, Message } from './kernel.ts';
import { logger } from './log.ts';
import type { MpNode } from './node.ts';

const log = logger('trace');

export interface TraceOptions {
  /** Most trace subscriptions at once; more are refused with ['refused', text]. Default 8. */
  maxTracers?: number;
  /** Nesting depth copied into a report; deeper values become '<...>'. Default 32. */
  maxDepth?: number;
}

const installed = new WeakSet<MpNode>();

/** Register the 'trace' and 'nodes' node-port requests on `node` (idempotent). */
export function installTrace(node: MpNode, opts: TraceOptions = {}): void {
  if (installed.has(node)) return;
  installed.add(node);
  const maxTracers = opts.maxTracers ?? 8;
  const maxDepth = opts.maxDepth ?? 32;
  const k = node.kernel;
  const subs = new Map<PortId, { filter: PortId | undefined; stop: Guard }>();
  let reporting = false;

  const dispatch = (ev: 'SND' | 'RCV', port: PortId, msg: Message, from?: NodeId): void => {
    // Never trace the reports themselves (nor anything sent while reporting).
    if (reporting || subs.has(port)) return;
    reporting = true;
    try {
      let copy: unknown;
      for (const [reply, s] of subs) {
        if (s.filter !== undefined && s.filter !== port) continue;
        copy ??= plain(msg, maxDepth);
        if (from === undefined) node.snd(reply, ev, port, copy);
        else node.snd(reply, ev, port, copy, from);
      }
    } finally {
      reporting = false;
    }
  };

  const stop = (reply: PortId): void => {
    const s = subs.get(reply);
    if (!s) return;
    subs.delete(reply);
    s.stop();
    if (subs.size === 0 && k.tracer === dispatch) k.tracer = undefined;
    log.info(`stopped tracing for ${reply}`);
  };

  k.nodePort.set('trace', (from, [reply, filter]) => {
    if (!isPortId(reply) || nodeOf(reply) !== from) return bad(from, 'trace (reply port must be on the asking node)');
    if (filter !== undefined && filter !== null && !(isPortId(filter) && k.isLocalNode(nodeOf(filter))))
      return bad(from, 'trace (filter must be a port of this node)');
    if (subs.has(reply)) return;
    if (subs.size >= maxTracers) {
      node.snd(reply, 'refused', `node ${node.NODE} is already traced by ${subs.size} ports (limit ${maxTracers})`);
      return;
    }
    subs.set(reply, { filter: (filter ?? undefined) as PortId | undefined, stop: () => {} });
    // Stop when the asking port dies or its node goes away.
    subs.get(reply)!.stop = node.mon(reply, () => stop(reply));
    k.tracer = dispatch;
    log.info(`tracing ${filter ?? 'all ports'} for ${reply}`);
    node.snd(reply, 'on', node.NODE, filter ?? null);
  });

  k.nodePort.set('nodes', (from, [reply]) => {
    if (!isPortId(reply) || nodeOf(reply) !== from) return bad(from, 'nodes (reply port must be on the asking node)');
    node.snd(reply, node.upNodes(), node.knownNodes());
  });
}

function bad(from: NodeId, what: string): void {
  log.warn(`node port: refused malformed ${what} request from ${from}`, 'malformed-request');
}

/** A copy any codec carries: plain data as is, anything else as a '<Type>' string. */
export function plain(v: unknown, depth: number): unknown {
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'boolean':
      return v;
    case 'undefined':
      return null;
    case 'bigint':
      return `${v}n`;
    case 'function':
      return '<function>';
    case 'symbol':
      return '<symbol>';
  }
  if (v === null || v instanceof Uint8Array) return v;
  if (depth <= 0) return '<...>';
  if (Array.isArray(v)) return v.map((x) => plain(x, depth - 1));
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return `<${(proto?.constructor as { name?: string } | undefined)?.name || 'object'}>`;
  const out: Record<string, unknown> = {};
  for (const [key, x] of Object.entries(v as object)) out[key] = plain(x, depth - 1);
  return out;
}
