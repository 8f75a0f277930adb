/**
 * Limits of the global groups and the checks of group names and member
 * ports, shared by nodes (which refuse early, with an exception) and seeds
 * (which refuse what a bad node sends anyway). Every limit is an option:
 * `createNode({ groups: { maxGroups: 100 } })`.
 */
import { isPortId, nodeOf, type NodeId, type PortId } from '../ids.ts';
import { BadArgumentError } from '../errors.ts';
import { GroupError } from './errors.ts';

export interface GroupLimits {
  /** Longest group name, in characters. Default 128. */
  maxNameLength: number;
  /** Most groups one node may have ports registered in. Default 1000. */
  maxGroups: number;
  /** Most registrations (group, port) one node may hold, all groups together. Default 10,000. */
  maxMembers: number;
  /** Most groups one node may watch at once through its seed (grpMon and the grpGet cache). Default 1000. */
  maxSubscriptions: number;
  /**
   * Seeds: how long the entries of nodes whose seed was lost are kept, waiting
   * for those nodes to re-register through another seed (ms). Default
   * 2 × monitor_timeout + 2 × connect_interval.
   */
  graceMs: number | undefined;
}

export const GROUP_DEFAULTS: Readonly<GroupLimits> = {
  maxNameLength: 128,
  maxGroups: 1000,
  maxMembers: 10_000,
  maxSubscriptions: 1000,
  graceMs: undefined,
};

const NAME_CHARS = /^[A-Za-z0-9_\-.:/@+=~$]+$/;

/** Limits from `opts.groups` (createNode / configure); unknown or bad values are refused. */
export function groupLimits(given: unknown): GroupLimits {
  const out: GroupLimits = { ...GROUP_DEFAULTS };
  if (given === undefined || given === null) return out;
  if (typeof given !== 'object') throw new BadArgumentError('configure: groups must be an object of limits');
  for (const [k, v] of Object.entries(given as Record<string, unknown>)) {
    if (!(k in GROUP_DEFAULTS)) throw new BadArgumentError(`configure: unknown groups option ${JSON.stringify(k)}`);
    if (v === undefined) continue;
    if (typeof v !== 'number' || !(v > 0) || (k !== 'graceMs' && !Number.isInteger(v)))
      throw new BadArgumentError(`configure: groups.${k} must be a positive ${k === 'graceMs' ? 'number' : 'integer'}`);
    (out as unknown as Record<string, number>)[k] = v;
  }
  return out;
}

/** Why `group` is not a valid group name, or undefined if it is. */
export function badGroupName(group: unknown, limits: GroupLimits): string | undefined {
  if (typeof group !== 'string') return `a group name must be a string, not ${group === null ? 'null' : typeof group}`;
  if (group.length === 0) return 'a group name must not be empty';
  if (group.length > limits.maxNameLength)
    return `group name ${JSON.stringify(group.slice(0, 40))}… is ${group.length} characters long (limit ${limits.maxNameLength})`;
  if (!NAME_CHARS.test(group)) return `group name ${JSON.stringify(group)} has characters outside [A-Za-z0-9_-.:/@+=~$]`;
  return undefined;
}

/** Throws GroupError AEMP_ERR_GROUP_NAME unless `group` is a valid name. */
export function checkGroupName(what: string, group: unknown, limits: GroupLimits): asserts group is string {
  const bad = badGroupName(group, limits);
  if (bad !== undefined) throw new GroupError('AEMP_ERR_GROUP_NAME', `${what}: ${bad}`);
}

/** Why `port` may not be registered by node `owner`, or undefined if it may. */
export function badMemberPort(port: unknown, owner: NodeId): string | undefined {
  if (!isPortId(port) || !port.includes('#')) return `${JSON.stringify(port)?.slice(0, 80)} is not a port ID (node#name)`;
  if (nodeOf(port) !== owner) return `port ${port} is not on node ${owner}: a node registers only its own ports`;
  return undefined;
}

/** A group's members as the API returns them: sorted, or undefined when empty. */
export function memberList(ports: Iterable<PortId>): PortId[] | undefined {
  const a = [...ports];
  return a.length === 0 ? undefined : a.sort();
}
