/**
 * WebSocket links in the browser, over the native `WebSocket`; the same
 * shape as node/ws.ts. Binary messages arrive as ArrayBuffer and are handed
 * on as Uint8Array, text as string.
 *
 * The browser gives no event for a shrinking send buffer and no limit on
 * incoming message size, so `drain` is polled while over the low-water mark
 * and an oversized frame is checked after it arrived.
 */
import { AbortedError } from '../lib/errors.ts';
import type { Frame, Link, LinkHandlers } from '../lib/link.ts';
import { logger } from '../lib/log.ts';
import { LinkEvents, errText } from '../lib/links/link-events.ts';
import { approxSize, checkFrameSize, frameFits, truncateUtf8 } from '../lib/links/frame-size.ts';
import { closeCodeText } from '../lib/links/close-codes.ts';
import { connectAttempt, connectError } from '../lib/links/connect-attempt.ts';

const log = logger('ws');

export const WS_DEFAULT_MAX_FRAME = 1024 * 1024;
const DEFAULT_LOW_WATER = 256 * 1024;
/** A page may only send 1000 or 3000–4999; aemp's private "message too big". */
const CLOSE_TOO_BIG = 4009;

export interface WebWsLinkOptions {
  /** Largest frame in either direction, bytes. Default 1 MiB. */
  maxFrameSize?: number;
  /** `drain` fires when bufferedAmount falls to this. Default 256 KiB. */
  lowWaterMark?: number;
  /** How often bufferedAmount is checked while over the mark. Default 5 ms. */
  drainPollMs?: number;
  name?: string;
}

class WebWsLink implements Link {
  readonly kind = 'ws';
  readonly maxFrameSize: number;
  private readonly lowWaterMark: number;
  private readonly pollMs: number;
  private readonly events: LinkEvents;
  private readonly name: string;
  private closed = false;
  private polling: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly socket: WebSocket,
    opts: WebWsLinkOptions,
  ) {
    this.maxFrameSize = opts.maxFrameSize ?? WS_DEFAULT_MAX_FRAME;
    this.lowWaterMark = opts.lowWaterMark ?? DEFAULT_LOW_WATER;
    this.pollMs = opts.drainPollMs ?? 5;
    this.name = opts.name ?? `ws ${socket.url}`;
    this.events = new LinkEvents(this.name, (reason) => this.fail(1000, reason, reason));
    socket.binaryType = 'arraybuffer';
    socket.addEventListener('message', (ev) => this.onMessage(ev.data));
    socket.addEventListener('close', (ev) => this.onClose(ev.code, ev.reason));
    // The close event that follows carries what there is to know.
    socket.addEventListener('error', () => log.debug(`${this.name}: error event`));
    if (socket.readyState !== 1) this.fail(1000, `ws: socket not open (readyState ${socket.readyState})`, '');
  }

  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }
  get isOpen(): boolean {
    return !this.closed && this.socket.readyState === 1;
  }

  send(frame: Frame): void {
    if (this.closed || this.socket.readyState !== 1) return;
    checkFrameSize(frame, this.maxFrameSize, 'ws');
    // The DOM typings want an ArrayBuffer-backed view; any Uint8Array works.
    this.socket.send(frame as string | Uint8Array<ArrayBuffer>);
    if (this.polling === undefined && this.socket.bufferedAmount > this.lowWaterMark) this.pollDrain();
  }

  close(reason = 'closed'): void {
    this.fail(1000, reason, reason);
  }

  setHandlers(h: Partial<LinkHandlers>): void {
    this.events.set(h);
  }

  private fail(code: number, reason: string, wireReason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.stopPolling();
    this.events.close(reason, true);
    try {
      this.socket.close(code, truncateUtf8(wireReason, 123));
    } catch (err) {
      log.warn(`${this.name}: close failed: ${errText(err)}`);
    }
  }

  private onMessage(data: unknown): void {
    const frame: Frame = typeof data === 'string' ? data : new Uint8Array(data as ArrayBuffer);
    if (!frameFits(frame, this.maxFrameSize)) {
      const reason = `ws: frame from peer exceeds maxFrameSize ${this.maxFrameSize}`;
      log.warn(`${this.name}: ${reason} (${approxSize(frame)})`);
      this.fail(CLOSE_TOO_BIG, reason, '');
      return;
    }
    this.events.frame(frame);
  }

  private onClose(code: number, reason: string): void {
    this.closed = true;
    this.stopPolling();
    let text: string;
    if (code === 1006) text = 'ws: connection lost (1006 abnormal closure, no close frame)';
    else if (reason) text = reason;
    else text = `ws: closed by peer (${code} ${code === CLOSE_TOO_BIG ? 'message too big' : closeCodeText(code)})`;
    this.events.close(text);
  }

  private pollDrain(): void {
    this.polling = setTimeout(() => {
      this.polling = undefined;
      if (this.closed) return;
      if (this.socket.bufferedAmount <= this.lowWaterMark) this.events.drain();
      else this.pollDrain();
    }, this.pollMs);
  }

  private stopPolling(): void {
    if (this.polling !== undefined) clearTimeout(this.polling);
    this.polling = undefined;
  }
}

/** A Link over an open browser WebSocket. */
export function wsLink(socket: WebSocket, opts: WebWsLinkOptions = {}): Link {
  return new WebWsLink(socket, opts);
}

export interface ConnectWsOptions extends WebWsLinkOptions {
  signal?: AbortSignal;
  /** Give up after this long. Default 10 s. */
  timeoutMs?: number;
  /** The WebSocket class. Default: the global one. */
  WebSocket?: typeof WebSocket;
}

/** Open a WebSocket link to `url`; rejects with AEMP_ERR_CONNECT on failure, timeout or abort. */
export function connectWs(url: string, opts: ConnectWsOptions = {}): Promise<Link> {
  const fail = connectError(url);
  return new Promise<Link>((resolve, reject) => {
    if (opts.signal?.aborted) return reject(fail('aborted', new AbortedError('aborted', opts.signal.reason)));
    const Ctor = opts.WebSocket ?? globalThis.WebSocket;
    if (!Ctor) return reject(fail('no WebSocket in this environment'));
    let ws: WebSocket;
    try {
      ws = new Ctor(url);
    } catch (err) {
      return reject(fail(errText(err), err));
    }
    const a = connectAttempt(url, opts, { resolve, reject }, {
      detach: () => {
        ws.removeEventListener('open', onOpen);
        ws.removeEventListener('close', onClose);
      },
      open: () => {
        ws.removeEventListener('error', onError);
        return new WebWsLink(ws, { ...opts, name: `ws ${url}` });
      },
      // onError stays: closing a connecting socket reports an error late.
      abandon: () => {
        try {
          ws.close();
        } catch {
          // already closing
        }
      },
    });
    const onOpen = () => a.finish();
    // Browsers say nothing about why; the close event that follows has the code.
    const onError = () => {};
    const onClose = (ev: CloseEvent) => a.finish(fail(`connection failed (${ev.code} ${closeCodeText(ev.code)})`));
    ws.addEventListener('open', onOpen);
    ws.addEventListener('error', onError);
    ws.addEventListener('close', onClose);
  });
}
