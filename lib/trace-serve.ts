/**
 * The tracing behind a node's 'trace' requests (trace.ts has the protocol):
 * loaded by the first request, so a node never traced does not load it.
 */
import { isPortId, nodeOf, type NodeId, type PortId } from './ids.ts';
import type { Guard, Message } from './kernel.ts';
import { logger } from './log.ts';
import type { MpNode } from './node.ts';
import { bad, type TraceOptions } from './trace.ts';

const log = logger('trace');

/** The 'trace' request handler of `node`: subscriptions, reports, their end. */
export function traceServer(node: MpNode, opts: TraceOptions): (from: NodeId, args: unknown[]) => void {
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

  return (from, [reply, filter]) => {
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
  };
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
