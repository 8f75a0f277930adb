/**
 * A child AbortSignal per process set: startChild adds an abort listener
 * to the signal it gets and never removes it, so a figure that starts many
 * processes on the figure's own signal trips Node's MaxListeners warning.
 */

export interface LinkedSignal {
  /** Aborted when the parent is. */
  signal: AbortSignal;
  /** Detach from the parent (call once the processes using `signal` are gone). */
  done(): void;
}

/** A signal that follows `parent` (if any) until done() is called. */
export function linkedSignal(parent: AbortSignal | undefined): LinkedSignal {
  const ac = new AbortController();
  if (parent === undefined) return { signal: ac.signal, done: () => {} };
  const onAbort = (): void => ac.abort();
  if (parent.aborted) ac.abort();
  else parent.addEventListener('abort', onAbort, { once: true });
  return { signal: ac.signal, done: () => parent.removeEventListener('abort', onAbort) };
}
