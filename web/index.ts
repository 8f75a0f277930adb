/**
 * aemp/web: the core plus the browser's transports (native WebSocket and
 * RTCPeerConnection, WebCrypto).
 */
export * from '../lib/index.ts';
