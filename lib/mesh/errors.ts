/**
 * Errors of the mesh's rules about who may do what (docs/security.md).
 */
import { AempError } from '../errors.ts';

/** A request the sender's kind of node may not make (capabilities, lib/caps.ts). */
export class DeniedError extends AempError {
  constructor(message: string) {
    super('AEMP_ERR_DENIED', message);
  }
}

/** A per-node limit was reached (maxPendingCalls; remote monitors answer with a monitor reason instead). */
export class QuotaError extends AempError {
  constructor(message: string) {
    super('AEMP_ERR_QUOTA', message);
  }
}
