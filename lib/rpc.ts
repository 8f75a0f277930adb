/**
 * cal and call: send a message with a fresh reply port appended, and wait
 * for the reply. The target replies with snd(replyPort, ...reply).
 *
 * A node has at most `maxPendingCalls` of them waiting at once (each holds
 * a reply port, a monitor on the target — on another node, one of the
 * remote monitors it counts against our quota there — and maybe a timer):
 * past it, call rejects and cal throws QuotaError (AEMP_ERR_QUOTA), so a
 * runaway caller fails loudly instead of growing without bound.
 */
import { AbortedError, BadArgumentError, PortDiedError, TimeoutError } from './errors.ts';
import { QuotaError } from './mesh/errors.ts';
import type { Guard, Message } from './kernel.ts';
import type { PortId } from './ids.ts';
import type { MpNode } from './node.ts';

/**
 * AEMP's cal: the last function argument is the callback, an optional number
 * after it a timeout in ms. The callback gets the reply, or no arguments when
 * the timeout expired or the target died first. Returns the reply port.
 */
export function cal(n: MpNode, port: PortId, args: unknown[]): PortId {
  let timeoutMs: number | undefined;
  let end = args.length;
  if (typeof args[end - 1] === 'number') timeoutMs = args[--end] as number;
  const cb = args[end - 1];
  if (typeof cb !== 'function') throw new BadArgumentError('cal: the last argument (before an optional timeout) must be a callback');
  const msg = args.slice(0, end - 1);
  const quota = overQuota(n, port);
  if (quota) throw quota;
  n.pendingCalls++;
  let done = false;
  let timer: Guard | undefined;
  let monG: Guard | undefined;
  const finish = (reply: unknown[]) => {
    if (done) return;
    done = true;
    n.pendingCalls--;
    timer?.();
    monG?.();
    n.kil(replyPort);
    cb(...reply);
  };
  const replyPort = n.port((...reply) => finish(reply));
  if (timeoutMs !== undefined) timer = n.after(timeoutMs, () => finish([]));
  monG = n.mon(port, () => finish([]));
  n.snd(port, ...msg, replyPort);
  return replyPort;
}

export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Promise RPC: resolves with the reply; rejects on timeout, abort, or the target's death (with its kill reason). */
export function call(n: MpNode, port: PortId, msg: Message, opts: CallOptions = {}): Promise<Message> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(new AbortedError('call aborted before it started', opts.signal.reason));
    const quota = overQuota(n, port);
    if (quota) return reject(quota);
    n.pendingCalls++;
    let done = false;
    let timer: Guard | undefined;
    const settle = (ok: boolean, v: unknown) => {
      if (done) return;
      done = true;
      n.pendingCalls--;
      timer?.();
      monG();
      opts.signal?.removeEventListener('abort', onAbort);
      n.kil(replyPort);
      (ok ? resolve : reject)(v as never);
    };
    const onAbort = () => settle(false, new AbortedError(`call to ${port} aborted`, opts.signal?.reason));
    const replyPort = n.port((...reply) => settle(true, reply));
    const monG = n.mon(port, (...reason) =>
      settle(false, new PortDiedError(reason, `call to ${port}: the port died (${reason.length ? JSON.stringify(reason) : 'normal exit'}) before replying`)),
    );
    if (opts.timeoutMs !== undefined)
      timer = n.after(opts.timeoutMs, () => settle(false, new TimeoutError(`call to ${port} timed out after ${opts.timeoutMs} ms`)));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    n.snd(port, ...msg, replyPort);
  });
}

function overQuota(n: MpNode, port: PortId): QuotaError | undefined {
  if (n.pendingCalls < n.maxPendingCalls) return undefined;
  return new QuotaError(`call to ${port}: ${n.pendingCalls} calls of node ${n.NODE} wait for replies already (limit maxPendingCalls ${n.maxPendingCalls})`);
}
