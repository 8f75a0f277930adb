/**
 * Admission before a link exists: every TCP connection to a seed's port
 * must finish an HTTP request (a WebSocket upgrade, or a plain request for
 * the page the seed serves) within `timeoutMs`, else it is destroyed — a
 * client that connects and sends nothing, or half a request, or trickles
 * TLS, holds a file descriptor for a few seconds, not for ever. Between
 * keep-alive requests the clock runs again (Node itself closes an idle
 * keep-alive connection after 5 s). One address (IPv6: one /64) may have at
 * most `maxPerAddress` such unfinished connections at once; more are
 * destroyed on arrival.
 */
import type http from 'node:http';
import type { Socket } from 'node:net';
import { logger } from '../lib/log.ts';
import { addressKey } from '../lib/mesh/admission.ts';

const log = logger('ws');

export interface HttpAdmissionOptions {
  /** A connection must finish its request within this long, ms. */
  timeoutMs: number;
  /** Unfinished connections from one address at once. */
  maxPerAddress: number;
}

interface Pending {
  address: string;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** Enforce `o` on every connection `server` accepts. */
export function guardConnections(server: http.Server, o: HttpAdmissionOptions): void {
  const perAddress = new Map<string, number>();
  const pending = new WeakMap<Socket, Pending>();
  const release = (raw: Socket) => {
    const p = pending.get(raw);
    if (p?.timer === undefined) return;
    clearTimeout(p.timer);
    p.timer = undefined;
    // Nothing of an admitted connection stays here for its life (a seed holds thousands).
    pending.delete(raw);
    const n = (perAddress.get(p.address) ?? 1) - 1;
    if (n > 0) perAddress.set(p.address, n);
    else perAddress.delete(p.address);
  };
  const arm = (raw: Socket, address: string): boolean => {
    const n = perAddress.get(address) ?? 0;
    if (n >= o.maxPerAddress) {
      log.warn(`dropping a connection from ${address}: ${n} connections from there have not finished a request (limit ${o.maxPerAddress})`, 'busy-address');
      raw.destroy();
      return false;
    }
    perAddress.set(address, n + 1);
    const timer = setTimeout(() => {
      log.note(`dropping a connection from ${address}: no complete HTTP request within ${o.timeoutMs} ms`, 'admit-timeout');
      release(raw);
      raw.destroy();
    }, o.timeoutMs);
    timer.unref();
    pending.set(raw, { address, timer });
    return true;
  };
  // TLS: requests arrive on a TLSSocket wrapping the TCP socket 'connection' saw.
  const rawOf = (s: Socket): Socket => (s as Socket & { _parent?: Socket })._parent ?? s;
  // One close listener for all connections (the socket is `this`), not a closure and a once-wrapper each.
  function onClose(this: Socket): void {
    release(this);
  }
  server.on('connection', (raw: Socket) => {
    if (arm(raw, addressKey(raw.remoteAddress))) raw.on('close', onClose);
  });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const raw = rawOf(req.socket);
    const p = pending.get(raw);
    release(raw);
    // The next request on this connection gets the same time to arrive.
    const again = () => void (!raw.destroyed && arm(raw, p!.address));
    if (p) {
      if (res.writableFinished) again();
      else res.once('finish', again);
    }
  });
  server.on('upgrade', (req: http.IncomingMessage) => release(rawOf(req.socket)));
}
