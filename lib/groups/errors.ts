/**
 * Errors of the global groups, each with a stable `code` (callers compare
 * codes, never message text). A seed refusing a registration sends the same
 * codes back in a `grp_refused` message (docs/groups.md).
 */
import { AempError } from '../errors.ts';

export type GroupErrorCode =
  /** A group name that is not a string of allowed characters within the length limit. */
  | 'AEMP_ERR_GROUP_NAME'
  /** Not a live port of this node (or, at a seed: a port of another node). */
  | 'AEMP_ERR_GROUP_PORT'
  /** A per-node limit (groups, members, subscriptions) is reached. */
  | 'AEMP_ERR_GROUP_LIMIT'
  /** A seed got a group request from a node that is not attached to it. */
  | 'AEMP_ERR_GROUP_NOT_ATTACHED';

export class GroupError extends AempError {
  declare readonly code: GroupErrorCode;
  constructor(code: GroupErrorCode, message: string) {
    super(code, message);
  }
}
