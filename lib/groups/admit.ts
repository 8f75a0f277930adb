/**
 * What a seed accepts of a node's full registration list (grp_hello): the
 * valid entries within the node's limits, in order; everything else becomes
 * a refusal for grp_refused. Pure.
 */
import type { NodeId, PortId } from '../ids.ts';
import type { GroupErrorCode } from './errors.ts';
import { badGroupName, badMemberPort, type GroupLimits } from './options.ts';
import type { Entries } from './registry.ts';

/** [group, port, code, text] as sent in grp_refused (port null: a watch was refused). */
export type Refusal = [string | null, string | null, GroupErrorCode, string];

/** The valid part of `from`'s entries, within `limits`; refusals are appended to `refusals`. */
export function admitEntries(from: NodeId, regs: unknown[], limits: GroupLimits, refusals: Refusal[]): Entries {
  const out = new Map<string, Set<PortId>>();
  let count = 0;
  for (const e of regs) {
    if (!Array.isArray(e) || !Array.isArray(e[1])) {
      refusals.push([null, null, 'AEMP_ERR_GROUP_NAME', 'malformed registration entry']);
      continue;
    }
    const g = e[0] as unknown;
    const bad = badGroupName(g, limits);
    if (bad !== undefined) {
      refusals.push([typeof g === 'string' ? g : null, null, 'AEMP_ERR_GROUP_NAME', bad]);
      continue;
    }
    const group = g as string;
    for (const p of e[1] as unknown[]) {
      const badPort = badMemberPort(p, from);
      let refusal: [GroupErrorCode, string] | undefined;
      if (badPort !== undefined) refusal = ['AEMP_ERR_GROUP_PORT', badPort];
      else if (out.get(group)?.has(p as PortId)) continue;
      else if (!out.has(group) && out.size >= limits.maxGroups)
        refusal = ['AEMP_ERR_GROUP_LIMIT', `node ${from} has ports in ${limits.maxGroups} groups already (limit)`];
      else if (count >= limits.maxMembers) refusal = ['AEMP_ERR_GROUP_LIMIT', `node ${from} has ${limits.maxMembers} registrations already (limit)`];
      if (refusal) {
        refusals.push([group, typeof p === 'string' ? p : null, ...refusal]);
        continue;
      }
      let s = out.get(group);
      if (!s) out.set(group, (s = new Set()));
      s.add(p as PortId);
      count++;
    }
  }
  return [...out].map(([g, s]) => [g, [...s]]);
}
