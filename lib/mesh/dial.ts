/**
 * Running the handshake over a fresh link, with a timeout, and the
 * connect-with-back-off loop that keeps a link to a seed URL.
 */
import type { Clock } from '../clock.ts';
import { unrefTimer } from '../clock.ts';
import { AempError } from '../errors.ts';
import { MESH_CODES } from './errors.ts';
import { HANDSHAKE_CODES } from '../protocol/errors.ts';
import type { Frame, Link, LinkHandlers } from '../link.ts';
import { Handshake, parseRefusal, refusalFrame, type HandshakeOptions, type HandshakeResult } from '../protocol/handshake.ts';

export interface Handshaken {
  result: HandshakeResult;
  /** Hand codec frames that arrived right behind the handshake (now and later, in order) to fn. */
  attach(fn: (f: Frame) => void): void;
}

/** Run one side of the handshake on `link`; rejects (and closes the link) on refusal or timeout. */
export function runHandshake(link: Link, opts: HandshakeOptions, timeoutMs: number, clock: Clock): Promise<Handshaken> {
  return new Promise((resolve, reject) => {
    // A link with heartbeats of its own says so: the peer may use them (conn.ts), unless the caller says otherwise.
    const hs = new Handshake({ hearsPings: link.ping !== undefined, ...opts });
    let done: HandshakeResult | undefined;
    let failed = false;
    let early: Frame[] = [];
    let forward: ((f: Frame) => void) | undefined;
    const attach = (fn: (f: Frame) => void) => {
      forward = fn;
      const e = early;
      early = [];
      for (const f of e) fn(f);
    };
    let chain = Promise.resolve();
    const fail = (e: AempError, tellPeer: boolean) => {
      if (failed || done) return;
      failed = true;
      clock.clearTimeout(timer);
      if (tellPeer) link.send(refusalFrame(e.code, e.message));
      link.close(`${e.code}: ${e.message}`);
      reject(e);
    };
    const timer = unrefTimer(
      clock.setTimeout(
        () => fail(new AempError(MESH_CODES.HANDSHAKE_TIMEOUT, `handshake did not finish within ${timeoutMs} ms`), true),
        timeoutMs,
      ),
    );
    link.setHandlers({
      frame: (f) => {
        if (done) {
          if (forward) forward(f);
          else early.push(f);
          return;
        }
        // Handshake steps are async (WebCrypto); keep them in order.
        chain = chain.then(async () => {
          if (failed) return;
          if (done) {
            if (forward) forward(f);
            else early.push(f);
            return;
          }
          try {
            const step = await hs.receive(f);
            for (const out of step.send) link.send(out);
            if (step.done) {
              done = step.done;
              clock.clearTimeout(timer);
              resolve({ result: done, attach });
            }
          } catch (e) {
            const err = e instanceof AempError ? e : new AempError(HANDSHAKE_CODES.HANDSHAKE, String(e));
            fail(err, err.code !== HANDSHAKE_CODES.REFUSED_BY_PEER && parseRefusal(f) === undefined);
          }
        });
      },
      // In order behind the steps already queued: the frames before the close may
      // hold the peer's refusal (its code is the better error) or its last auth
      // frame (then the handshake succeeded and the close is the new owner's).
      close: (reason) => {
        const handOver = closeHandOver(link);
        chain = chain.then(() => {
          if (failed) return handOver.cancel();
          if (!done) {
            handOver.cancel();
            return fail(new AempError(MESH_CODES.LINK_CLOSED, `link closed during handshake: ${reason}`), false);
          }
          handOver.deliver(reason);
        });
      },
    });
    link.send(hs.greeting());
  });
}

/**
 * A link reports its close once, and this one went to the handshake. If it
 * turns out to belong to the link's next owner (the Conn: a step queued
 * before the close finished the handshake), deliver() passes it to the next
 * close handler set on the link, in a microtask, so after that owner took
 * the frames held for it (attach).
 */
function closeHandOver(link: Link): { deliver(reason: string): void; cancel(): void } {
  const set = link.setHandlers;
  const own = Object.hasOwn(link, 'setHandlers'); // a wrapper of the transport's (node/transport.ts)
  let ownerClose: ((reason: string) => void) | undefined;
  let reason: string | undefined;
  const restore = () => {
    if (link.setHandlers !== wrapped) return;
    if (own) link.setHandlers = set;
    else Reflect.deleteProperty(link, 'setHandlers');
  };
  const fire = () => {
    restore();
    const fn = ownerClose!;
    const why = reason!;
    queueMicrotask(() => fn(why));
  };
  const wrapped = (h: Partial<LinkHandlers>) => {
    set.call(link, h);
    if (!h.close) return;
    ownerClose = h.close;
    if (reason !== undefined) fire();
  };
  link.setHandlers = wrapped;
  return {
    deliver(why) {
      reason = why;
      if (ownerClose) fire();
    },
    cancel: restore,
  };
}

/** Connect-interval back-off: doubles per failure up to 8x, ±25% jitter so seeds don't dial in lockstep. */
export function backoffMs(baseMs: number, failures: number, random: () => number): number {
  const f = Math.min(8, 2 ** Math.max(0, failures - 1));
  return Math.round(baseMs * f * (0.75 + random() * 0.5));
}
