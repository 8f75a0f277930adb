/**
 * Node IDs and port IDs. A port ID is `${nodeId}#${name}`; a node's own node
 * port is the bare node ID. Names mix in a random per-start prefix so a port
 * ID is never reused, not even by a restarted node with the same node ID.
 */
import { BadArgumentError } from './errors.ts';

export type NodeId = string;
export type PortId = string;

const NODE_ID = /^[A-Za-z0-9_\-.:/]{1,256}$/;
const PORT_NAME = /^[A-Za-z0-9_\-.:/$]{1,256}$/;

/** The last string isNodeId accepted: every relayed packet names a node, mostly the same one as the packet before. */
let lastNodeId: string | undefined;

export function isNodeId(s: unknown): s is NodeId {
  if (typeof s !== 'string') return false;
  if (s === lastNodeId) return true;
  if (!NODE_ID.test(s)) return false;
  lastNodeId = s;
  return true;
}

/** True for `node#name` and for a bare node ID (the node port). */
export function isPortId(s: unknown): s is PortId {
  if (typeof s !== 'string') return false;
  const i = s.indexOf('#');
  if (i < 0) return NODE_ID.test(s);
  return NODE_ID.test(s.slice(0, i)) && PORT_NAME.test(s.slice(i + 1));
}

/** The node a port lives on (AEMP's node_of). */
export function nodeOf(id: PortId | NodeId): NodeId {
  if (typeof id !== 'string') throw new BadArgumentError(`nodeOf: not a port or node id: ${String(id)}`);
  const i = id.indexOf('#');
  return i < 0 ? id : id.slice(0, i);
}

export function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  globalThis.crypto.getRandomValues(b);
  return b;
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** A short random string of [a-z0-9], used for port-name prefixes and anon node IDs. */
export function randomId(len: number): string {
  const b = randomBytes(len);
  let s = '';
  for (let i = 0; i < len; i++) s += ALNUM[b[i]! % 36];
  return s;
}

/** "anon/" asks for a random node ID (AEMP's anon/ prefix). */
export function resolveNodeId(wanted: string | undefined): NodeId {
  const id = wanted === undefined || wanted === '' || wanted === 'anon/' ? `anon/${randomId(10)}` : wanted;
  if (!isNodeId(id)) throw new BadArgumentError(`invalid node id ${JSON.stringify(id)}: allowed are [A-Za-z0-9_-.:/], 1-256 chars`);
  return id;
}
