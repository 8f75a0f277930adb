/**
 * Direct WebSocket links as attempts of DirectLinks (direct.ts): inviting
 * a peer to dial us, dialling an invitation, and binding an accepted link
 * to its invitation. The switch, the resending and the fallback are
 * direct.ts's, the listening and dialling direct-ws.ts's. Only secret
 * holders in Node take these links: node/ injects this class
 * (Environment.directWs, as it does the seed role), so a page's bundle
 * carries none of it.
 */
import type { Sender } from '../caps.ts';
import type { NodeId } from '../ids.ts';
import { logger } from '../log.ts';
import type { Framing } from '../protocol/codec.ts';
import type { Conn } from './conn.ts';
import { Attempt } from './direct-attempt.ts';
import type { PeerState } from './direct.ts';
import { DirectWs, type DirectHandlers } from './direct-ws.ts';
import type { DirectWsHost } from './hosts.ts';

const log = logger('direct');

/** What the WebSocket attempts use of DirectLinks (direct.ts). */
export interface WsLinks {
  readonly me: NodeId;
  readonly peers: ReadonlyMap<NodeId, PeerState>;
  state(node: NodeId): PeerState;
  attempts(): number;
  failed(st: PeerState, a: Attempt, why: string, tellPeer: boolean): void;
  switchOver(st: PeerState, a: Attempt, c: Conn, framing: Framing): void;
  handlers(st: PeerState): DirectHandlers;
}

export class WsAttempts {
  /** Listening for (and dialling) direct WebSocket links. */
  readonly ws: DirectWs;

  constructor(
    private readonly m: DirectWsHost,
    private readonly d: WsLinks,
  ) {
    this.ws = new DirectWs(m, (c, cid, framing) => this.bindInbound(c, cid, framing));
  }

  get listening(): boolean {
    return this.ws.listening;
  }

  /** The URLs this node invites peers to. */
  get urls(): readonly string[] {
    return this.ws.urls;
  }

  listen(binds: readonly string[]): Promise<void> {
    return this.ws.listen(binds);
  }

  close(): Promise<void> {
    return this.ws.close();
  }

  /** We listen: invite the peer to dial us (attempt `cid`, begun by `by`); the link must come within the connect timeout. */
  invite(st: PeerState, cid: number, by: NodeId): void {
    const a = new Attempt(st.node, cid, false, this.m.o.framing, this.m.clock);
    a.mode = 'ws';
    a.by = by;
    st.attempt = a;
    log.info(`inviting ${st.node} to a direct WebSocket link`);
    a.expect(this.m.o.directConnectTimeoutMs, () => {
      this.d.failed(st, a, `no direct WebSocket link from ${st.node} within ${this.m.o.directConnectTimeoutMs} ms`, true);
      st.noWs = true;
    });
    this.m.node.kernel.snd(st.node, ['rtc', 'ws', cid, this.ws.urls]);
  }

  /**
   * A secret holder offers WebRTC: if we listen, invite it to dial us
   * instead (same attempt; its offer wins any crossing). False: the offer
   * goes the WebRTC way.
   */
  offered(from: NodeId, cid: number, who: Sender): boolean {
    const d = this.d;
    if (!this.ws.listening || who.kind !== 'secret' || !(d.me > from) || d.peers.get(from)?.noWs === true) return false;
    const st = d.peers.get(from);
    const a = st?.attempt;
    if (st !== undefined && a !== undefined) {
      if (a.cid === cid) return true; // the offer's later signals: the invitation went out already
      if (a.conn !== undefined) a.conn.close('the peer offered a new direct link');
      else d.failed(st, a, 'the peer offered a new direct link', false);
    }
    if (d.attempts() >= this.m.o.directMaxLinks || this.m.conns.has(from)) {
      this.m.node.kernel.snd(from, ['rtc', 'no', cid, `${d.me} takes no more direct links now`]);
      return true;
    }
    const s = d.peers.get(from) ?? d.state(from);
    s.vouched = who;
    this.invite(s, cid, from);
    return true;
  }

  /** A secret holder invites us to dial it (direct.ts checked the sender): replaces a crossing attempt of ours if the peer's wins, then dials. */
  onInvite(from: NodeId, cid: number, x: unknown, who: Sender): void {
    const d = this.d;
    // 'ws': this node takes no direct WebSocket link from the peer (it falls back to WebRTC); else only this attempt ends.
    const no = (why: string, ws = true): void => this.m.node.kernel.snd(from, ['rtc', 'no', cid, why, false, ws ? 'ws' : undefined]);
    const urls = this.ws.invitation(x);
    if (urls === undefined) return no('malformed direct WebSocket invitation');
    let st = d.peers.get(from);
    const a = st?.attempt;
    if (st !== undefined && a !== undefined) {
      if (a.conn !== undefined) return no(`a direct link with ${from} is up already`, false);
      if (a.cid === cid && a.mode === 'ws') return; // the same invitation again
      if (a.cid !== cid) {
        // Two attempts crossed: the one begun by the smaller node ID wins, on both sides.
        if (a.by < from) return no('crossed with an attempt of mine', false);
        d.failed(st, a, `${from} invited a direct WebSocket link`, false);
      } else {
        // Our WebRTC offer, answered by an invitation: dial instead (no failure).
        st.attempt = undefined;
        a.end(`${from} invited a direct WebSocket link`, false);
      }
      st = d.peers.get(from);
    }
    if (this.m.conns.has(from) || (a === undefined && d.attempts() >= this.m.o.directMaxLinks)) return no(`${d.me} takes no more direct links now`, false);
    st ??= d.state(from);
    st.vouched = who;
    const b = new Attempt(from, cid, true, this.m.o.framing, this.m.clock);
    b.mode = 'ws';
    b.by = a?.cid === cid ? a.by : from;
    b.dialAbort = new AbortController();
    st.attempt = b;
    const s = st;
    log.info(`dialling ${from} for a direct WebSocket link`);
    this.ws.dial(urls, from, b.dialAbort.signal).then(
      ({ link, hs }) => {
        if (s.attempt !== b) return link.close('direct link attempt ended');
        const c = this.ws.dialled(link, hs, d.handlers(s));
        c.send(['dws', cid]);
        d.switchOver(s, b, c, hs.result.framing);
      },
      (e: Error) => {
        if (s.attempt !== b) return;
        d.failed(s, b, e.message, false);
        s.noWs = true;
        no(e.message);
      },
    );
  }

  /** An accepted direct WebSocket link named attempt `cid`: it must be our invitation to that very peer. */
  private bindInbound(c: Conn, cid: unknown, framing: Framing): DirectHandlers | string {
    const d = this.d;
    const st = d.peers.get(c.peer);
    const a = st?.attempt;
    if (st === undefined || a === undefined || a.cid !== cid || a.mode !== 'ws' || a.conn !== undefined || a.dialAbort !== undefined)
      return `no direct link attempt ${String(cid).slice(0, 20)} with ${c.peer} here`;
    // Synchronously: the peer's confirmation may follow in the same frame.
    d.switchOver(st, a, c, framing);
    return d.handlers(st);
  }
}
