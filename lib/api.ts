/**
 * AEMP's functions over the process's default node. Local ports work before
 * (and without) configure(); configure() gives the node its identity and
 * network.
 */
import type { NodeId, PortId } from './ids.ts';
import type { Guard, Handler, Message } from './kernel.ts';
import { MpNode, type PortContext, type Disposable } from './node.ts';
import { processHub } from './hub.ts';
import { joinNetwork, type ConfigureOptions } from './configure.ts';
import type { CallOptions } from './rpc.ts';
import type { LinkInfo } from './network.ts';

let dflt: MpNode | undefined;

/** The default node's ID (a live binding; node() returns the same). */
export let NODE: NodeId = '';

/** The default node, created on first use with a provisional anon/ ID. */
export function defaultNode(): MpNode {
  if (!dflt) {
    dflt = new MpNode();
    NODE = dflt.NODE;
    // Only the in-process hub here: the network (and any profile) is configure()'s job,
    // and a second, concurrent join would race it.
    dflt.net = processHub.join(dflt);
    dflt.kernel.transport = dflt.net;
  }
  return dflt;
}

/** Join the mesh: the default node takes its node ID, seeds, binds and secret from opts (or a profile). */
export async function configure(opts: ConfigureOptions | string = {}): Promise<NodeId> {
  const n = defaultNode();
  await joinNetwork(n, typeof opts === 'string' ? { profile: opts } : opts);
  NODE = n.NODE;
  return NODE;
}

export const node = (): NodeId => defaultNode().node();
export const nodeOf = (id: PortId | NodeId): NodeId => defaultNode().nodeOf(id);
export const self = (): PortId | undefined => defaultNode().self();
export const shutdown = (): Promise<void> => defaultNode().shutdown();
export const port = (cb?: Handler): PortId => defaultNode().port(cb);
export function rcv(port: PortId, cb: Handler): PortId;
export function rcv(port: PortId, tag: string, cb: Handler | undefined): PortId;
export function rcv(port: PortId, handlers: Record<string, Handler | undefined>): PortId;
export function rcv(port: PortId, a: any, cb?: Handler): PortId {
  return defaultNode().rcv(port, a, cb);
}
export const snd = (port: PortId, ...msg: Message): void => defaultNode().kernel.snd(port, msg);
export const kil = (port: PortId, ...reason: unknown[]): void => defaultNode().kil(port, ...reason);
export const psub = <F extends (...a: any[]) => any>(fn: F): F => defaultNode().psub(fn);
export const peval = <R>(port: PortId, fn: (...a: any[]) => R, ...args: unknown[]): R => defaultNode().peval(port, fn, ...args);
export function after(ms: number, cb: () => void): Guard;
export function after(ms: number, port: PortId, ...msg: Message): Guard;
export function after(ms: number, a: any, ...msg: Message): Guard {
  return defaultNode().after(ms, a, ...msg);
}
export function mon(port: PortId, cb: Handler): Guard;
export function mon(port: PortId, rcvPort?: PortId, ...msg: Message): Guard;
export function mon(port: PortId, a?: any, ...msg: Message): Guard {
  return defaultNode().mon(port, a, ...msg);
}
export const monGuard = (port: PortId, ...things: Array<Guard | Disposable>): Guard => defaultNode().monGuard(port, ...things);
export const registerInit = (name: string, fn: (...a: any[]) => void): void => defaultNode().registerInit(name, fn);
export const spawn = (node: NodeId | PortId, initName: string, ...args: unknown[]): PortId => defaultNode().spawn(node, initName, ...args);
export const cal = (port: PortId, ...msgThenCallback: unknown[]): PortId => defaultNode().cal(port, ...msgThenCallback);
export const call = (port: PortId, msg: Message, opts?: CallOptions): Promise<Message> => defaultNode().call(port, msg, opts);
export const portAsync = (body: (ctx: PortContext) => Promise<void>): PortId => defaultNode().portAsync(body);
export const portIsLocal = (port: PortId): boolean => defaultNode().portIsLocal(port);
export const nodeIsUp = (node: NodeId): boolean | undefined => defaultNode().nodeIsUp(node);
export const upNodes = (): NodeId[] => defaultNode().upNodes();
export const knownNodes = (): NodeId[] => defaultNode().knownNodes();
export const monNodes = (cb: (node: NodeId, isUp: boolean, ...reason: unknown[]) => void): Guard => defaultNode().monNodes(cb);
export const sndOn = (node: NodeId, ...msg: Message): void => defaultNode().sndOn(node, ...msg);
export const linkInfo = (node: NodeId): LinkInfo | undefined => defaultNode().linkInfo(node);
export const grpReg = (group: string, port: PortId): Guard => defaultNode().grpReg(group, port);
export const grpGet = (group: string): PortId[] | undefined => defaultNode().grpGet(group);
export const grpMon = (group: string, cb: (ports: PortId[], added: PortId[], removed: PortId[]) => void): Guard =>
  defaultNode().grpMon(group, cb);
