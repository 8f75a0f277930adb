/**
 * WebSocket links for Node (the `ws` package): wrap an open socket, listen
 * for incoming links next to an HTTP handler (wss:// with a certificate),
 * connect out (trusting extra CAs for wss://, e.g. a self-signed seed).
 *
 * Frames are WebSocket messages: binary → Uint8Array, text → string. The
 * close reason travels in the close frame, so the peer's close handler sees
 * the same text (cut to the 123 bytes a close frame holds).
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { WebSocket, WebSocketServer } from 'ws';
import type { RawData } from 'ws';
import { AbortedError, AempError } from '../lib/errors.ts';
import type { Frame, Link, LinkHandlers } from '../lib/link.ts';
import { logger } from '../lib/log.ts';
import { LinkEvents, errText } from '../lib/links/link-events.ts';
import { approxSize, checkFrameSize, plainBytes, truncateUtf8 } from '../lib/links/frame-size.ts';
import { closeCodeText } from '../lib/links/close-codes.ts';
import { connectAttempt, connectError } from '../lib/links/connect-attempt.ts';
import { ADMIT_DEFAULTS } from '../lib/mesh/admit-options.ts';
import { guardConnections } from './http-admission.ts';
import { MASKED_PING, OPCODE_BINARY, PING, wsFrame } from './ws-frame.ts';
import { readFramesFast, type FrameSink } from './ws-read.ts';

const log = logger('ws');

export const WS_DEFAULT_MAX_FRAME = 1024 * 1024;
const DEFAULT_LOW_WATER = 256 * 1024;

/**
 * How many reads `ws` may keep for one frame not yet complete, and how many fragments one
 * message may have. ws keeps each read as a Buffer of its own, ~250 bytes of heap however few
 * bytes it holds, and allows 262,144 of them (16,384 fragments) by default: a peer trickling
 * one frame a byte per read would hold ~65 MB of one link until its heartbeat runs out. Here a
 * frame of `maxFrameSize` still fits when it comes in reads of 256 bytes or more (a TCP segment
 * carries at least 536), so what waits costs about as much heap as the frame itself.
 * Past it, ws closes the link with 1008.
 */
export function wsReadLimits(maxFrameSize: number): { maxBufferedChunks: number; maxFragments: number } {
  const n = Math.max(1024, Math.ceil(maxFrameSize / 256));
  return { maxBufferedChunks: n, maxFragments: n };
}

export interface WsLinkOptions {
  /** Largest frame in either direction, bytes. Default 1 MiB. */
  maxFrameSize?: number;
  /** `drain` fires when bufferedAmount falls to this. Default 256 KiB. */
  lowWaterMark?: number;
  /** For log lines. */
  name?: string;
  /** The peer's address (accepted links). */
  remoteAddress?: string;
}

/** The link of each socket, for the listeners all sockets share (wsMessage etc.). */
const linkOf = new WeakMap<WebSocket, WsLink>();

// One function per event for all sockets, not closures per link (a seed holds
// thousands): `ws` calls a listener with the socket as `this`.
function wsMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  linkOf.get(this)?.onMessage(data, isBinary);
}
function wsPing(this: WebSocket, data: Buffer): void {
  linkOf.get(this)?.onPing(data);
}
function wsPong(this: WebSocket): void {
  linkOf.get(this)?.alive();
}

function wsError(this: WebSocket, err: Error & { code?: string }): void {
  linkOf.get(this)?.onError(err);
}
function wsClose(this: WebSocket, code: number, reason: Buffer): void {
  linkOf.get(this)?.onClose(code, reason.toString());
}

/**
 * Pings answered per link at most one per this long. ws would answer every
 * ping at once (autoPong, off here): a peer flooding pings — which count
 * against no quota, being no frames — would cost a write each. Honest peers
 * ping once per 0.8 × monitor_timeout (≥ 80 ms).
 */
const MIN_PONG_GAP_MS = 10;

class WsLink implements Link, FrameSink {
  readonly kind = 'ws';
  readonly maxFrameSize: number;
  readonly remoteAddress: string | undefined;
  private readonly lowWaterMark: number;
  private readonly events: LinkEvents;
  private readonly givenName: string | undefined;
  private closed = false;
  private overMark = false;
  private error: string | undefined = undefined;
  /** The TCP (or TLS) socket under the WebSocket: binary frames are written to it whole (ws-frame.ts). */
  private readonly raw: Duplex;
  /** This side dialled: its frames are masked (with a zero key). */
  private readonly masked: boolean;
  /** ws does not answer pings on this socket (autoPong off): onPing does. */
  private readonly answersPings: boolean;
  /** When this link last answered a ping (performance.now()). */
  private pongAt = -MIN_PONG_GAP_MS;
  /** Made when first needed: only a link over its low-water mark tracks its writes. */
  private onWritten: (() => void) | undefined = undefined;
  /** The listener's set of open links (accepted links): left on close. */
  private readonly registry: Set<WsLink> | undefined;

  constructor(
    private readonly socket: WebSocket,
    opts: WsLinkOptions,
    registry?: Set<WsLink>,
  ) {
    this.maxFrameSize = opts.maxFrameSize ?? WS_DEFAULT_MAX_FRAME;
    this.remoteAddress = opts.remoteAddress;
    this.lowWaterMark = opts.lowWaterMark ?? DEFAULT_LOW_WATER;
    this.givenName = opts.name;
    this.events = new LinkEvents(this);
    // What `ws` keeps on the socket (undocumented; _isServer and _socket unchanged since ws 1): a frame
    // written around its sender needs the TCP socket and the side; only data frames and our pings go that way.
    const inner = socket as unknown as { _isServer: boolean; _socket: Duplex; _autoPong: boolean; _receiver?: { _bufferedBytes?: number } };
    this.masked = !inner._isServer;
    this.raw = inner._socket;
    // Our listener and dialler turn ws's own answers off (onPing answers); a socket made elsewhere may not.
    this.answersPings = !inner._autoPong;
    this.registry = registry;
    registry?.add(this);
    socket.binaryType = 'nodebuffer';
    linkOf.set(socket, this);
    socket.on('message', wsMessage);
    socket.on('error', wsError);
    socket.on('close', wsClose);
    // Heartbeats (Link.ping): a ping or a pong is a sign of life; pings are answered by onPing.
    socket.on('ping', wsPing);
    socket.on('pong', wsPong);
    if (socket.readyState !== WebSocket.OPEN) this.fail(1011, `ws: socket not open (readyState ${socket.readyState})`);
    // A link just open or accepted (ws has read nothing yet) reads its frames itself (ws-read.ts); a client's are masked.
    else if (this.answersPings && inner._receiver?._bufferedBytes === 0) readFramesFast(this.raw, this.maxFrameSize, this, inner._isServer);
  }

  /** For log lines ("ws 127.0.0.1", "ws ws://host:port/"): made when one is written, not kept per link. */
  get name(): string {
    return this.givenName ?? `ws ${this.remoteAddress ?? (this.socket.url || 'incoming')}`;
  }

  /** The name, for LinkEvents' log lines. */
  toString(): string {
    return this.name;
  }

  /** A frame or drain handler threw (LinkEvents). */
  handlerThrew(reason: string): void {
    this.fail(1011, reason);
  }

  onError(err: Error & { code?: string }): void {
    this.error =
      err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
        ? `ws: frame from peer exceeds maxFrameSize ${this.maxFrameSize}`
        : err.code === 'WS_ERR_TOO_MANY_BUFFERED_PARTS' // reads waiting for one frame, or a message's fragments
          ? `ws: ${err.message} (more than ${wsReadLimits(this.maxFrameSize).maxBufferedChunks})`
          : `ws: ${err.message}`;
    log.warn(`${this.name}: ${this.error}`, 'socket-error');
  }

  // ws's bufferedAmount is this plus what its sender queues while it compresses or
  // reads a Blob, which no link here does (perMessageDeflate is off): one object
  // fewer to touch per send on a seed that writes to thousands of sockets at once.
  get bufferedAmount(): number {
    return this.raw.writableLength;
  }
  /** A binary frame is copied into its WebSocket frame (wsFrame) before send() returns. */
  get copiesFrames(): boolean {
    return true;
  }
  get isOpen(): boolean {
    return !this.closed && this.socket.readyState === WebSocket.OPEN;
  }

  send(frame: Frame): void {
    if (this.closed || this.socket.readyState !== WebSocket.OPEN) return;
    checkFrameSize(frame, this.maxFrameSize, 'ws');
    // While over the low-water mark every write reports back, so the write
    // that brings the buffer down fires `drain` (ws has no event for it).
    const track = this.overMark || this.raw.writableLength + approxSize(frame) > this.lowWaterMark;
    const done = track ? (this.onWritten ??= this.checkDrain.bind(this)) : undefined;
    // A binary frame is one buffer, one write (ws-frame.ts); it is a copy, so a caller may reuse its buffer.
    if (typeof frame !== 'string') this.raw.write(wsFrame(frame, OPCODE_BINARY, this.masked), done);
    else if (done) this.socket.send(frame, { binary: false }, done);
    else this.socket.send(frame, { binary: false });
    if (track && this.raw.writableLength > this.lowWaterMark) this.overMark = true;
  }

  close(reason = 'closed'): void {
    if (this.closed) return;
    this.closed = true;
    this.events.close(reason, true);
    try {
      this.socket.close(1000, truncateUtf8(reason, 123));
    } catch (err) {
      log.warn(`${this.name}: close failed: ${errText(err)}`, 'close-failed');
      this.socket.terminate();
    }
  }

  setHandlers(h: Partial<LinkHandlers>): void {
    this.events.set(h);
  }

  /** Close at once, telling the peer `code` (and `wireReason`) if the socket still can. */
  fail(code: number, reason: string, wireReason = reason): void {
    if (this.closed) return;
    this.closed = true;
    this.events.close(reason, true);
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close(code, truncateUtf8(wireReason, 123));
    else this.socket.terminate();
  }

  /** Drop the connection at once, no close handshake (listener shutdown): the peer sees 1006. */
  terminate(reason: string): void {
    if (!this.closed) {
      this.closed = true;
      this.events.close(reason, true);
    }
    this.socket.terminate();
  }

  /** A WebSocket ping frame with no payload, one buffer for every link (ws-frame.ts: masked from the dialling side). */
  ping(): void {
    if (this.closed || this.socket.readyState !== WebSocket.OPEN) return;
    this.raw.write(this.masked ? MASKED_PING : PING);
  }

  alive(): void {
    this.events.alive();
  }

  /** A ping from the peer: a sign of life, answered with its payload (RFC 6455 §5.5.3) unless one was answered just now. */
  onPing(data: Buffer): void {
    this.events.alive();
    const now = performance.now();
    if (!this.answersPings || now - this.pongAt < MIN_PONG_GAP_MS || this.closed || this.socket.readyState !== WebSocket.OPEN) return;
    this.pongAt = now;
    this.socket.pong(data);
  }

  /** A binary frame read by ws-read.ts (within maxFrameSize: larger ones go to ws). */
  onBinary(data: Buffer): void {
    this.events.frame(plainBytes(data));
  }

  /** A text frame read by ws-read.ts. */
  onText(text: string): void {
    this.events.frame(text);
  }

  onMessage(data: RawData, isBinary: boolean): void {
    // With binaryType 'nodebuffer' ws hands over one Buffer per message: a
    // view of the socket's read chunk or a fresh allocation, never reused
    // by ws afterwards, so it is safe to keep without copying.
    const buf = data as Buffer;
    if (buf.byteLength > this.maxFrameSize) {
      const reason = `ws: frame from peer exceeds maxFrameSize ${this.maxFrameSize}`;
      log.warn(`${this.name}: ${reason} (${buf.byteLength} bytes)`, 'frame-too-big');
      // Same as ws's own maxPayload check: 1009 without text.
      this.fail(1009, reason, '');
      return;
    }
    this.events.frame(isBinary ? plainBytes(buf) : buf.toString('utf8'));
  }

  onClose(code: number, reason: string): void {
    this.closed = true;
    this.registry?.delete(this);
    let text: string;
    if (this.error) text = this.error;
    else if (code === 1006) text = 'ws: connection lost (1006 abnormal closure, no close frame)';
    else if (reason) text = reason;
    else text = `ws: closed by peer (${code} ${closeCodeText(code)})`;
    this.events.close(text);
  }

  private checkDrain(): void {
    if (this.overMark && this.bufferedAmount <= this.lowWaterMark) {
      this.overMark = false;
      this.events.drain();
    }
  }
}

/** A Link over an open `ws` WebSocket (client or server side). */
export function wsLink(socket: WebSocket, opts: WsLinkOptions = {}): Link {
  return new WsLink(socket, opts);
}

export interface ListenWsOptions {
  /** Address to bind: '127.0.0.1', '[::1]', '0.0.0.0', '*' (all interfaces). */
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Called once per accepted WebSocket, with the link already open. */
  onLink: (link: Link, info: { remoteAddress: string; url: string }) => void;
  /** Plain HTTP requests; without it they get 404. */
  onHttp?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  /** Certificate and private key (PEM): listen for wss:// (HTTPS) instead of ws://. */
  tls?: { cert: string; key: string };
  maxFrameSize?: number;
  lowWaterMark?: number;
  /** Aborting closes the listener. */
  signal?: AbortSignal;
  /** A connection must finish its HTTP request (upgrade or plain) within this long, ms (node/http-admission.ts). Default 5 s. */
  admitTimeoutMs?: number;
  /** Connections from one address that have not finished a request, at most. Default 4 x maxPendingPerAddress (lib/mesh/admit-options.ts). */
  maxUnfinishedPerAddress?: number;
}

export interface WsListener {
  /** The bound address ('127.0.0.1', '::1', '::', ...). */
  host: string;
  port: number;
  /** A ws:// (wss:// with tls) URL that reaches the listener from this host. */
  url: string;
  /** Stop listening and drop every connection. */
  close(): Promise<void>;
}

/** One HTTP server on host:port that turns WebSocket requests into links. */
export async function listenWs(opts: ListenWsOptions): Promise<WsListener> {
  const max = opts.maxFrameSize ?? WS_DEFAULT_MAX_FRAME;
  if (opts.signal?.aborted) throw new AbortedError('listenWs aborted', opts.signal.reason);
  const links = new Set<WsLink>();
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!opts.onHttp) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    try {
      opts.onHttp(req, res);
    } catch (err) {
      log.error(`http handler threw: ${errText(err)}`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end();
    }
  };
  const server = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, onRequest) : http.createServer(onRequest);
  // A client that fails the TLS handshake (e.g. does not trust our cert) is its problem, not a server error.
  server.on('tlsClientError', (err) => log.info(`tls handshake with a client failed: ${err.message}`, 'tls-failed'));
  guardConnections(server, {
    timeoutMs: opts.admitTimeoutMs ?? ADMIT_DEFAULTS.admitTimeoutMs,
    maxPerAddress: opts.maxUnfinishedPerAddress ?? 4 * ADMIT_DEFAULTS.maxPendingPerAddress,
  });
  // No clientTracking: `links` tracks them (ws would add a close listener per socket for its own set).
  const wss = new WebSocketServer({ noServer: true, maxPayload: max, ...wsReadLimits(max), perMessageDeflate: false, clientTracking: false, autoPong: false });
  server.on('upgrade', (req, socket, head) => {
    // Read here, not in the callback: a closure that mentions `req` would keep the
    // request (headers and all) alive for the life of every link.
    const remoteAddress = req.socket.remoteAddress ?? '';
    const url = req.url ?? '/';
    wss.handleUpgrade(req, socket, head, (ws) => {
      const link = new WsLink(ws, { maxFrameSize: max, lowWaterMark: opts.lowWaterMark, remoteAddress }, links);
      try {
        opts.onLink(link, { remoteAddress, url });
      } catch (err) {
        log.error(`onLink threw: ${errText(err)}`);
        link.close(`onLink threw: ${errText(err)}`);
      }
    });
  });

  const bindHost = opts.host === '*' ? undefined : opts.host.replace(/^\[(.*)\]$/, '$1');
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      server.off('listening', onListening);
      reject(new AempError('AEMP_ERR_LISTEN', `listen ${opts.host}:${opts.port}: ${err.message}`, { cause: err }));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(opts.port, bindHost);
  });
  server.on('error', (err) => log.error(`server error: ${err.message}`));

  const addr = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= new Promise<void>((resolve) => {
      opts.signal?.removeEventListener('abort', onAbort);
      for (const link of links) link.terminate('ws: listener closed');
      links.clear();
      wss.close();
      server.close(() => resolve());
      server.closeAllConnections();
    }));
  const onAbort = () => void close();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) await close();

  const scheme = opts.tls ? 'wss' : 'ws';
  return { host: addr.address, port: addr.port, url: `${scheme}://${urlHost(addr.address)}:${addr.port}/`, close };
}

function urlHost(address: string): string {
  if (address === '0.0.0.0') return '127.0.0.1';
  if (address === '::') return '[::1]';
  return address.includes(':') ? `[${address}]` : address;
}

export interface ConnectWsOptions {
  signal?: AbortSignal;
  /** Give up after this long. Default 10 s. */
  timeoutMs?: number;
  maxFrameSize?: number;
  lowWaterMark?: number;
  /**
   * wss:// only: PEM certificates trusted besides Node's default CAs (a
   * self-signed seed's own certificate pins it). The server's certificate is
   * always verified, host name included.
   */
  ca?: string | readonly string[];
}

const zeroMask = (mask: Uint8Array): void => {
  mask.fill(0);
};

/** Open a WebSocket link to `url`; rejects with AEMP_ERR_CONNECT on failure, timeout or abort (TLS failures included). */
export function connectWs(url: string, opts: ConnectWsOptions = {}): Promise<Link> {
  const max = opts.maxFrameSize ?? WS_DEFAULT_MAX_FRAME;
  const fail = connectError(url);
  return new Promise<Link>((resolve, reject) => {
    if (opts.signal?.aborted) return reject(fail('aborted', new AbortedError('aborted', opts.signal.reason)));
    let ws: WebSocket;
    try {
      // Node-to-node links skip client masking (an all-zero mask): masking guards
      // browsers against poisoning HTTP proxies, which a Node client does not
      // need, and it costs a full pass over every frame on both ends.
      const extra = typeof opts.ca === 'string' ? [opts.ca] : (opts.ca ?? []);
      const secure = extra.length > 0 && /^wss:/i.test(url) ? { secureContext: trustContext(extra) } : {};
      ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: max, ...wsReadLimits(max), generateMask: zeroMask, autoPong: false, ...secure });
    } catch (err) {
      return reject(fail(errText(err), err));
    }
    const a = connectAttempt(url, opts, { resolve, reject }, {
      detach: () => ws.off('open', onOpen).off('error', onError).off('unexpected-response', onResponse).off('close', onClose),
      open: () => new WsLink(ws, { maxFrameSize: max, lowWaterMark: opts.lowWaterMark }),
      abandon: () => {
        // terminate() during the handshake emits a late 'error'.
        ws.on('error', () => {});
        ws.terminate();
      },
    });
    const onOpen = () => a.finish();
    const onError = (err: Error) => a.finish(fail(err.message, err));
    const onResponse = (_req: http.ClientRequest, res: http.IncomingMessage) =>
      a.finish(fail(`server answered HTTP ${res.statusCode}`));
    const onClose = (code: number) => a.finish(fail(`closed during handshake (${code})`));
    ws.on('open', onOpen).on('error', onError).on('unexpected-response', onResponse).on('close', onClose);
  });
}

// ---- trust for wss:// ----

const trustCache = new Map<string, tls.SecureContext>();

/**
 * A TLS context trusting Node's default CAs plus `extra`. Passing `ca` to
 * tls.connect would replace the defaults, so they are listed again:
 * tls.getCACertificates('default') where Node has it (22.15+), else the
 * bundled roots and NODE_EXTRA_CA_CERTS. Cached: building one parses ~150
 * certificates.
 */
function trustContext(extra: readonly string[]): tls.SecureContext {
  const key = extra.join('\n');
  let sc = trustCache.get(key);
  if (!sc) {
    sc = tls.createSecureContext({ ca: [...defaultCas(), ...extra] });
    if (trustCache.size >= 16) trustCache.delete(trustCache.keys().next().value!);
    trustCache.set(key, sc);
  }
  return sc;
}

function defaultCas(): string[] {
  const get = (tls as { getCACertificates?: (which: string) => string[] }).getCACertificates;
  if (get) return get('default');
  const out = [...tls.rootCertificates];
  const file = process.env.NODE_EXTRA_CA_CERTS;
  if (file) {
    try {
      out.push(readFileSync(file, 'utf8'));
    } catch {
      // Node itself warns about an unreadable NODE_EXTRA_CA_CERTS at startup.
    }
  }
  return out;
}
