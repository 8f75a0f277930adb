/**
 * One connect attempt of a WebSocket transport (node/ws.ts, web/ws.ts): it
 * settles once — with the link, or with AEMP_ERR_CONNECT naming the URL —
 * on the socket's events, its timeout or the abort signal, and then drops
 * what is left (the timer, the abort listener, the socket's listeners).
 */
import { systemClock, type Clock } from '../clock.ts';
import { AbortedError, AempError } from '../errors.ts';
import type { Link } from '../link.ts';

/** The error of a connect to url: AEMP_ERR_CONNECT, `connect URL: why`. */
export const connectError = (url: string) => (why: string, cause?: unknown): AempError =>
  new AempError('AEMP_ERR_CONNECT', `connect ${url}: ${why}`, cause === undefined ? undefined : { cause });

/** What the transport does when the attempt settles. */
export interface ConnectSocket {
  /** Remove the listeners the attempt put on the socket (both outcomes). */
  detach(): void;
  /** Success: the link over the open socket. */
  open(): Link;
  /** Failure: close the socket, quietly. */
  abandon(): void;
}

export interface ConnectAttempt {
  fail(why: string, cause?: unknown): AempError;
  /** Settle: no argument for success, else the error. Later calls do nothing. */
  finish(err?: AempError): void;
}

/** Starts the timeout and abort watch of a connect to url whose socket exists now (the caller checked signal.aborted before making it). */
export function connectAttempt(
  url: string,
  o: { timeoutMs?: number; signal?: AbortSignal; clock?: Clock },
  settle: { resolve(l: Link): void; reject(e: AempError): void },
  socket: ConnectSocket,
): ConnectAttempt {
  const clock = o.clock ?? systemClock;
  const timeoutMs = o.timeoutMs ?? 10_000;
  const fail = connectError(url);
  let done = false;
  const finish = (err?: AempError): void => {
    if (done) return;
    done = true;
    clock.clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
    socket.detach();
    if (err) {
      socket.abandon();
      settle.reject(err);
    } else settle.resolve(socket.open());
  };
  const onAbort = () => finish(fail('aborted', new AbortedError('aborted', o.signal?.reason)));
  const timer = clock.setTimeout(() => finish(fail(`timed out after ${timeoutMs} ms`)), timeoutMs);
  o.signal?.addEventListener('abort', onAbort, { once: true });
  return { fail, finish };
}
