/**
 * The Link: one ordered, reliable, framed connection to one peer.
 *
 * The mesh only ever talks to this interface, so the same code runs over an
 * in-memory pair (tests), a WebSocket (node/ws, browser WebSocket) or a WebRTC
 * data channel. A link knows nothing about aemp's protocol: it carries whole
 * frames (bytes or text) in order and says when it is gone.
 *
 * Contract (checked by the link compliance suite, test/link-compliance.ts):
 * - frames arrive whole, in order, exactly once, while the link is open;
 * - frames that arrive before `setHandlers` is called are held, not dropped;
 * - `close()` is idempotent; the `close` handler runs exactly once, on both
 *   ends, whether the close was local, remote or an error;
 * - `send` after close is a no-op (the close handler already ran or will run);
 * - `maxFrameSize` is the largest frame the link carries in one piece; the
 *   codec above fragments anything larger;
 * - `bufferedAmount` is what the transport has accepted but not yet written;
 *   `drain` fires when it falls back under the link's low-water mark.
 * - `ping`, where a link has it, sends the transport's own heartbeat (a
 *   WebSocket ping frame), which the peer's transport answers by itself; a
 *   link with `ping` calls the `alive` handler for every heartbeat it hears
 *   (a ping or a pong: signs of life that carry no frame).
 */
export type Frame = Uint8Array | string;

export interface LinkHandlers {
  frame(data: Frame): void;
  close(reason: string): void;
  drain(): void;
  /** A heartbeat of the transport arrived (links with `ping` only). */
  alive(): void;
}

export interface Link {
  readonly kind: 'memory' | 'ws' | 'rtc';
  readonly maxFrameSize: number;
  readonly bufferedAmount: number;
  readonly isOpen: boolean;
  /** The peer's network address, on links a listener accepted (a seed's admission control counts by it). */
  readonly remoteAddress?: string;
  send(frame: Frame): void;
  /** send() copies a frame's bytes before it returns (Node's ws): the caller may hand it a buffer it reuses at once. */
  readonly copiesFrames?: boolean;
  close(reason?: string): void;
  setHandlers(h: Partial<LinkHandlers>): void;
  /**
   * Send the transport's own heartbeat, answered by the peer's transport
   * without its code being involved (browsers' WebSockets answer, but do
   * not tell the page): only on links whose transport has one (Node's ws).
   */
  ping?(): void;
}
