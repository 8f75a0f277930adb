/**
 * WebRTC for Node: `@roamhq/wrtc` injected into the isomorphic rtc link.
 * Kept apart from node/ws.ts so loading the native module costs only those
 * who use WebRTC.
 */
import wrtc from '@roamhq/wrtc';
import { createRtcLink } from '../lib/links/rtc.ts';
import type { RtcLinkHandle, RtcLinkOptions } from '../lib/links/rtc.ts';

/** The RTCPeerConnection implementation for Node. */
export const nodeWrtc: object = wrtc;

/** createRtcLink with Node's WebRTC implementation. */
export function createNodeRtcLink(opts: Omit<RtcLinkOptions, 'wrtc'>): RtcLinkHandle {
  return createRtcLink({ ...opts, wrtc: nodeWrtc });
}
