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
import { isPortId, nodeOf, type NodeId } from './ids.ts';
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

/**
 * Register the 'trace' and 'nodes' node-port requests on `node` (idempotent).
 * The tracing itself (trace-serve.ts) is loaded by the first 'trace'
 * request: a page's bundle need not carry it.
 */
export function installTrace(node: MpNode, opts: TraceOptions = {}): void {
  if (installed.has(node)) return;
  installed.add(node);
  const k = node.kernel;
  let serve: Promise<(from: NodeId, args: unknown[]) => void> | undefined;
  k.nodePort.set('trace', (from, args) => {
    // Every request waits on the same promise, so they are served in order.
    serve ??= import('./trace-serve.ts').then((m) => m.traceServer(node, opts));
    void serve.then((f) => f(from, args));
  });

  k.nodePort.set('nodes', (from, [reply]) => {
    if (!isPortId(reply) || nodeOf(reply) !== from) return bad(from, 'nodes (reply port must be on the asking node)');
    node.snd(reply, node.upNodes(), node.knownNodes());
  });
}

/** Log a malformed request (trace-serve.ts too). */
export function bad(from: NodeId, what: string): void {
  log.warn(`node port: refused malformed ${what} request from ${from}`, 'malformed-request');
}
