/**
 * Error classes of the core, each with a stable `code`. Callers compare
 * codes, never message text.
 */
export class AempError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A port died while we waited on it (call); `reason` is its kill reason. */
export class PortDiedError extends AempError {
  readonly reason: unknown[];
  constructor(reason: unknown[], message?: string) {
    super('AEMP_ERR_PORT_DIED', message ?? `port died: ${JSON.stringify(reason)}`);
    this.reason = reason;
  }
}

export class TimeoutError extends AempError {
  constructor(message: string) {
    super('AEMP_ERR_TIMEOUT', message);
  }
}

export class AbortedError extends AempError {
  constructor(message = 'aborted', cause?: unknown) {
    super('AEMP_ERR_ABORTED', message, { cause });
  }
}

export class BadArgumentError extends AempError {
  constructor(message: string) {
    super('AEMP_ERR_BAD_ARGUMENT', message);
  }
}

export class NotConfiguredError extends AempError {
  constructor(message: string) {
    super('AEMP_ERR_NOT_CONFIGURED', message);
  }
}
