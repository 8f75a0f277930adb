/**
 * Direct WebSocket links between secret holders (docs/protocol.md,
 * "Direct links"). A non-seed node with `binds` and `seed: false` listens;
 * another secret-holding node it talks with over the relay dials it there
 * instead of opening a WebRTC channel, as AEMP's nodes connect to each other
 * directly. The switch onto the link, the resending and the fallback are
 * the ones WebRTC links use (direct.ts); this file holds only the listening
 * and dialling.
 *
 * - The URL travels in the signalling (['rtc', 'ws', cid, urls], a
 *   node-port request the seeds relay and stamp with its sender's kind), and
 *   a node dials only what a secret holder invited it to.
 * - The listener takes only verified secret holders: the peer's kind comes
 *   from the handshake, so a page (token or anonymous) is refused with
 *   AEMP_ERR_DIRECT_REFUSED and its reason, whatever it says about itself.
 * - The first packet on a fresh link is ['dws', cid]: it names the attempt
 *   (the invitation) the link belongs to; a link for no attempt is closed.
 *
 * Pages never listen nor dial here: node/ injects the attempts that use
 * this class (direct-ws-attempts.ts; Environment.directWs, as it does the
 * seed role), so a page's bundle carries none of it.
 */
import type { Link } from '../link.ts';
import { logger } from '../log.ts';
import type { Framing, Packet } from '../protocol/codec.ts';
import { refusalFrame } from '../protocol/handshake.ts';
import { Admission } from './admission.ts';
import type { Conn } from './conn.ts';
import { directConn } from './direct-conn.ts';
import { runHandshake, type Handshaken } from './dial.ts';
import type { DirectWsHost } from './hosts.ts';
import { peerKindOf } from './peer-kind.ts';
import { parseBind } from './binds.ts';

const log = logger('direct-ws');

/** Where packets and the close of a bound direct link go. */
export interface DirectHandlers {
  onPacket(p: Packet, c: Conn): void;
  onClose(reason: string, c: Conn): void;
}

/** Invitations carry at most this many URLs, each at most this long. */
const MAX_URLS = 8;
const MAX_URL_LENGTH = 300;

/** The ws:// and wss:// URLs of an invitation, or undefined if it is malformed. */
function inviteUrls(v: unknown): string[] | undefined {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_URLS) return undefined;
  for (const u of v) if (typeof u !== 'string' || u.length > MAX_URL_LENGTH || !/^wss?:\/\/[^\s]+$/i.test(u)) return undefined;
  return v as string[];
}

/** Why a node that completed the handshake may not have a direct WebSocket link here (undefined: it may). */
export function directRefusal(me: string, hs: Handshaken['result']): string | undefined {
  if (hs.peerNode === me) return 'this is a link to myself';
  if (hs.peerIsSeed) return 'seeds take no direct links';
  if (peerKindOf(hs.auth) !== 'secret' || !hs.verified)
    return `direct WebSocket links are for holders of the mesh secret; ${hs.peerNode} joined with ${hs.auth === 'token' ? 'a token' : 'no credentials'} and reaches ${me} through the seeds (or WebRTC)`;
  return undefined;
}

/** An accepted link named attempt `cid`: its handlers, or why it is refused. */
export type DirectWsBind = (c: Conn, cid: unknown, framing: Framing) => DirectHandlers | string;

export class DirectWs {
  /** The URLs this node invites peers to (empty: it does not listen). */
  urls: string[] = [];
  private servers: Array<{ url: string; close(): Promise<void> }> = [];
  /** Handshakes in progress, capped in all and per address as at a seed (admission.ts). */
  private readonly admission: Admission;
  /** Accepted links that have not named their attempt yet. */
  private unbound = new Set<Conn>();

  constructor(
    private readonly m: DirectWsHost,
    private readonly bind: DirectWsBind,
  ) {
    this.admission = new Admission({ total: m.o.maxPendingHandshakes, perAddress: m.o.maxPendingPerAddress });
  }

  /** The URLs of an invitation (['rtc', 'ws', cid, urls]), or undefined if it is malformed. */
  invitation(v: unknown): string[] | undefined {
    return inviteUrls(v);
  }

  /** The Conn of a link this node dialled (dial()) for an invitation. */
  dialled(link: Link, hs: Handshaken, h: DirectHandlers): Conn {
    return wsConn(this.m, link, hs, true, h);
  }

  get listening(): boolean {
    return this.urls.length > 0;
  }

  async listen(binds: readonly string[]): Promise<void> {
    const listen = this.m.o.transport.listen;
    if (!listen) throw new Error('this environment cannot listen: binds need a server transport');
    for (const b of binds) {
      const admit = { admitTimeoutMs: this.m.o.admitTimeoutMs, maxPendingPerAddress: this.m.o.maxPendingPerAddress };
      const srv = await listen(parseBind(b), (link) => this.accept(link), admit);
      this.servers.push(srv);
      log.note(`${this.m.nodeId} listening for direct links on ${srv.url}`);
    }
    this.urls = this.m.o.advertise ?? this.servers.map((s) => s.url);
  }

  async close(): Promise<void> {
    const s = this.servers;
    this.servers = [];
    this.urls = [];
    for (const c of this.unbound) c.close('node shutting down');
    await Promise.all(s.map((x) => x.close()));
  }

  private accept(link: Link): void {
    const m = this.m;
    if (m.signal.aborted) return link.close('node is shutting down');
    const ticket = this.admission.admit(link.remoteAddress, (why) => link.close(why));
    if (typeof ticket === 'string') {
      log.warn(`refusing a direct link from ${link.remoteAddress ?? 'an unknown address'}: ${ticket}`, 'busy');
      link.close(`AEMP_ERR_BUSY: too many pending handshakes: ${ticket}`);
      return;
    }
    runHandshake(link, m.handshakeOptions(), m.o.handshakeTimeoutMs, m.clock).then(
      (hs) => {
        ticket.done();
        this.admit(link, hs);
      },
      (e: Error & { code?: string }) => {
        ticket.done();
        log.info(`refused an incoming direct link: ${e.code ?? ''} ${e.message}`);
      },
    );
  }

  private admit(link: Link, hs: Handshaken): void {
    const m = this.m;
    const why = m.signal.aborted ? 'node is shutting down' : directRefusal(m.nodeId, hs.result);
    if (why !== undefined) {
      log.warn(`refusing a direct link from ${hs.result.peerNode}: ${why}`, 'direct-refused');
      link.send(refusalFrame('AEMP_ERR_DIRECT_REFUSED', why));
      link.close(`AEMP_ERR_DIRECT_REFUSED: ${why}`);
      return;
    }
    let h: DirectHandlers | undefined;
    const c = wsConn(m, link, hs, false, {
      onPacket: (p, conn) => {
        if (h !== undefined) return h.onPacket(p, conn);
        this.unbound.delete(conn);
        const r = p[0] === 'dws' ? this.bind(conn, p[1], hs.result.framing) : `expected ['dws', attempt] first, got ${JSON.stringify(String(p[0])).slice(0, 20)}`;
        if (typeof r === 'string') conn.close(r);
        else h = r;
      },
      onClose: (reason, conn) => {
        this.unbound.delete(conn);
        h?.onClose(reason, conn);
      },
    });
    this.unbound.add(c);
    // A secret holder that never names its attempt is not kept.
    m.clock.setTimeout(() => this.unbound.has(c) && c.close('no attempt named in time'), m.o.handshakeTimeoutMs);
  }

  /**
   * Dial `peer` at the first of `urls` that answers and authenticate it
   * (it must be `peer`, a secret holder, no seed).
   */
  async dial(urls: readonly string[], peer: string, signal: AbortSignal): Promise<{ link: Link; hs: Handshaken }> {
    const m = this.m;
    let last = 'no URL';
    for (const url of urls) {
      if (signal.aborted) break;
      let link: Link | undefined;
      try {
        link = await m.o.transport.connect(url, { signal, timeoutMs: m.o.directConnectTimeoutMs });
        const hs = await runHandshake(link, m.handshakeOptions(), m.o.handshakeTimeoutMs, m.clock);
        const r = hs.result;
        const why = r.peerNode !== peer ? `${url} is ${r.peerNode}, not ${peer}` : directRefusal(m.nodeId, r);
        if (why !== undefined) {
          link.close(why);
          last = why;
          continue;
        }
        if (signal.aborted) {
          link.close('direct link attempt ended');
          break;
        }
        return { link, hs };
      } catch (e) {
        link?.close('direct link attempt failed');
        last = `${url}: ${(e as { code?: string }).code ?? 'error'}: ${(e as Error).message}`;
      }
    }
    throw new Error(signal.aborted ? 'direct link attempt ended' : `cannot reach ${peer} directly (${last})`);
  }
}

/** A Conn over a direct WebSocket link that passed its handshake. */
function wsConn(m: DirectWsHost, link: Link, hs: Handshaken, outbound: boolean, h: DirectHandlers): Conn {
  return directConn(m, {
    link,
    framing: hs.result.framing,
    peer: hs.result.peerNode,
    kind: peerKindOf(hs.result.auth),
    outbound,
    onPacket: (p, c) => h.onPacket(p, c),
    onClose: (reason, c) => h.onClose(reason, c),
    attach: hs.attach,
    peerHearsPings: hs.result.peerHearsPings,
  });
}
