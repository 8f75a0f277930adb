/**
 * WebRTC for Node: `@roamhq/wrtc` injected into the isomorphic rtc link.
 *
 * `@roamhq/wrtc` 0.10 can crash (SIGSEGV) in its native teardown when a
 * process that had peer connections ends by running out of work, after a
 * connection was closed while it was still being set up (node-webrtc#636,
 * WonderInventions/node-webrtc#7, #35; lib/links/rtc.ts avoids closing in
 * the worst window, but the peer's side or ICE can still do it). Ending
 * through process.exit() skips that teardown. So once a connection has
 * been created here, the process's 'exit' event ends the process through
 * process.exit(code) — after every other 'exit' listener has run, with the
 * same exit code. Nothing else changes: 'exit' only fires once all work is
 * done (or process.exit was called anyway).
 */
import wrtc from '@roamhq/wrtc';
import { createRtcLink } from '../lib/links/rtc.ts';
import type { RtcLinkHandle, RtcLinkOptions } from '../lib/links/rtc.ts';

type Ctor = new (...args: unknown[]) => object;
const NativePC = (wrtc as unknown as { RTCPeerConnection: Ctor }).RTCPeerConnection;

let guarded = false;

function exitGuard(code: number): void {
  // Run the listeners after this one ourselves: process.exit() does not return.
  const all = process.listeners('exit');
  for (const l of all.slice(all.indexOf(exitGuard) + 1)) {
    try {
      l.call(process, code);
    } catch {
      // as if the listener had run in the normal order and thrown: carry on exiting
    }
  }
  process.exit(typeof process.exitCode === 'number' ? process.exitCode : code);
}

/** RTCPeerConnection that arms the exit guard the first time one is made. */
function RTCPeerConnection(this: unknown, ...args: unknown[]): object {
  if (!guarded) {
    guarded = true;
    process.on('exit', exitGuard);
  }
  return new NativePC(...args);
}
RTCPeerConnection.prototype = NativePC.prototype;
Object.setPrototypeOf(RTCPeerConnection, NativePC);

/** The RTCPeerConnection implementation for Node (simple-peer's `wrtc` option). */
export const nodeWrtc: object = { ...(wrtc as object), RTCPeerConnection };

/** createRtcLink with Node's WebRTC implementation. */
export function createNodeRtcLink(opts: Omit<RtcLinkOptions, 'wrtc'>): RtcLinkHandle {
  return createRtcLink({ ...opts, wrtc: nodeWrtc });
}
