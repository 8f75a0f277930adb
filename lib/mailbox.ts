/**
 * The mailbox of an async port (AEMP's Coro::MP): messages queue until the
 * port's body takes them with get/getCond, in arrival order, leaving the
 * ones it does not ask for in place (selective receive).
 */
import type { Clock, TimerId } from './clock.ts';
import { BadArgumentError, PortDiedError } from './errors.ts';
import type { Inbox, Message, Reason } from './kernel.ts';

interface Waiter {
  match: (m: Message) => boolean;
  resolve: (m: Message | undefined) => void;
  reject: (e: Error) => void;
  timer: TimerId | undefined;
}

export class Mailbox implements Inbox {
  private msgs: Message[] = [];
  private waiter: Waiter | undefined;
  private deadReason: Reason | undefined;

  constructor(private readonly clock: Clock) {}

  get size(): number {
    return this.msgs.length;
  }

  push(m: Message): void {
    const w = this.waiter;
    if (w && w.match(m)) {
      this.waiter = undefined;
      if (w.timer !== undefined) this.clock.clearTimeout(w.timer);
      w.resolve(m);
    } else {
      this.msgs.push(m);
    }
  }

  die(reason: Reason): void {
    this.deadReason = reason;
    this.msgs = [];
    const w = this.waiter;
    this.waiter = undefined;
    if (w) {
      if (w.timer !== undefined) this.clock.clearTimeout(w.timer);
      w.reject(new PortDiedError(reason));
    }
  }

  /** The first queued message that matches, waiting up to timeoutMs (undefined on timeout). */
  take(match: (m: Message) => boolean, timeoutMs?: number): Promise<Message | undefined> {
    if (this.deadReason) return Promise.reject(new PortDiedError(this.deadReason));
    if (this.waiter) return Promise.reject(new BadArgumentError('get: another get is already waiting on this port'));
    const i = this.msgs.findIndex(match);
    if (i >= 0) return Promise.resolve(this.msgs.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const w: Waiter = { match, resolve, reject, timer: undefined };
      if (timeoutMs !== undefined) {
        w.timer = this.clock.setTimeout(() => {
          if (this.waiter === w) this.waiter = undefined;
          resolve(undefined);
        }, timeoutMs);
      }
      this.waiter = w;
    });
  }
}
