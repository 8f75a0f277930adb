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
 *
 * `@roamhq/wrtc` is an optional peer dependency (native, large): without it
 * Node nodes stay on the seeds' relay, and the first networked node says so
 * once at level note.
 */
import { createRtcLink } from '../lib/links/rtc.ts';
import type { RtcLinkHandle, RtcLinkOptions } from '../lib/links/rtc.ts';
import { logger } from '../lib/log.ts';

type Ctor = new (...args: unknown[]) => object;
let wrtc: object | undefined;
try {
  wrtc = ((await import('@roamhq/wrtc')) as { default: object }).default;
} catch (e) {
  const code = (e as { code?: string })?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw e; // installed but broken: say so loudly
}
const NativePC = (wrtc as { RTCPeerConnection: Ctor } | undefined)?.RTCPeerConnection;

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
  return new NativePC!(...args);
}
if (NativePC) {
  RTCPeerConnection.prototype = NativePC.prototype;
  Object.setPrototypeOf(RTCPeerConnection, NativePC);
}

/** The RTCPeerConnection implementation for Node (simple-peer's `wrtc` option); undefined without `@roamhq/wrtc`. */
export const nodeWrtc: object | undefined = wrtc && { ...wrtc, RTCPeerConnection };

let noted = false;

/** Called when a node joins a network: without `@roamhq/wrtc`, say once that it stays on the relay. */
export function noteRelayOnly(opts: { seeds?: unknown; binds?: unknown; direct?: unknown }): void {
  if (nodeWrtc || noted) return;
  const has = (v: unknown) => (Array.isArray(v) ? v.length > 0 : typeof v === 'string' && v !== '');
  if (!has(opts.seeds) && !has(opts.binds)) return;
  if (opts.direct === false || opts.direct === 'no') return;
  noted = true;
  logger('rtc').note('@roamhq/wrtc is not installed: this process takes no direct WebRTC links, its messages go through the seeds (npm install @roamhq/wrtc to enable them)');
}

/** createRtcLink with Node's WebRTC implementation (`@roamhq/wrtc` must be installed). */
export function createNodeRtcLink(opts: Omit<RtcLinkOptions, 'wrtc'>): RtcLinkHandle {
  if (!nodeWrtc) throw new Error('@roamhq/wrtc is not installed');
  return createRtcLink({ ...opts, wrtc: nodeWrtc });
}
