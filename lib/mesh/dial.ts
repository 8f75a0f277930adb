/**
 * Running the handshake over a fresh link, with a timeout, and the
 * connect-with-back-off loop that keeps a link to a seed URL.
 */
import type { Clock } from '../clock.ts';
import { unrefTimer } from '../clock.ts';
import { AempError } from '../errors.ts';
import type { Frame, Link } from '../link.ts';
import { Handshake, parseRefusal, refusalFrame, type HandshakeOptions, type HandshakeResult } from '../protocol/handshake.ts';

export interface Handshaken {
  result: HandshakeResult;
  /** Hand codec frames that arrived right behind the handshake (now and later, in order) to fn. */
  attach(fn: (f: Frame) => void): void;
}

/** Run one side of the handshake on `link`; rejects (and closes the link) on refusal or timeout. */
export function runHandshake(link: Link, opts: HandshakeOptions, timeoutMs: number, clock: Clock): Promise<Handshaken> {
  return new Promise((resolve, reject) => {
    const hs = new Handshake(opts);
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
        () => fail(new AempError('AEMP_ERR_HANDSHAKE_TIMEOUT', `handshake did not finish within ${timeoutMs} ms`), true),
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
            const err = e instanceof AempError ? e : new AempError('AEMP_ERR_HANDSHAKE', String(e));
            fail(err, err.code !== 'AEMP_ERR_REFUSED_BY_PEER' && parseRefusal(f) === undefined);
          }
        });
      },
      close: (reason) => {
        if (!done) fail(new AempError('AEMP_ERR_LINK_CLOSED', `link closed during handshake: ${reason}`), false);
      },
    });
    link.send(hs.greeting());
  });
}

/** Connect-interval back-off: doubles per failure up to 8x, ±25% jitter so seeds don't dial in lockstep. */
export function backoffMs(baseMs: number, failures: number, random: () => number = Math.random): number {
  const f = Math.min(8, 2 ** Math.max(0, failures - 1));
  return Math.round(baseMs * f * (0.75 + random() * 0.5));
}
