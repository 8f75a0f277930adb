/**
 * Direct links: moving the messages between two nodes from the seed relay
 * to a WebRTC data channel of their own, and back, without losing or
 * reordering one. docs/protocol.md ("Direct links") has the protocol and
 * the state machine; in short:
 *
 * - Relayed traffic (either way) makes the node with the smaller ID offer
 *   a data channel; SDP and ICE candidates travel as node-port requests
 *   ['rtc', 'sig', …] through the seeds, which vouch for the sender.
 * - Once its channel is open, each side switches its own sending
 *   direction: it sends ['rtc', 'mark', cid] over the relay (in its
 *   message session, behind everything relayed before) and holds new
 *   messages until the peer confirms the marker over the channel
 *   (['sw', cid]); then they go out over the channel, numbered on.
 * - Each side keeps what it sent over the channel until the peer
 *   acknowledges it (['ack', sid, seq]); if the channel dies, that goes
 *   out again over the relay and the receiver drops the copies it has.
 *   With no relay to fall back on (or too much unconfirmed), the node
 *   counts as down: monitors fire.
 * - Between two secret holders where one listens (`binds` with `seed:
 *   false`), the listener invites the other to dial it (['rtc', 'ws', cid,
 *   urls]) and the link is a WebSocket instead (direct-ws.ts); the switch
 *   and fallback are the same. Pages always get WebRTC.
 */
import type { Sender } from '../caps.ts';
import { unrefTimer } from '../clock.ts';
import type { NodeId, PortId } from '../ids.ts';
import type { Message } from '../kernel.ts';
import { logger } from '../log.ts';
import { FrameDecoder, jsonFramingLoaded, loadJsonFraming, type Framing, type Packet } from '../protocol/codec.ts';
import type { Conn } from './conn.ts';
import { backoffMs } from './dial.ts';
import { Attempt } from './direct-attempt.ts';
import { DirectTx } from './direct-resend.ts';
import type { DirectHandlers } from './direct-ws.ts';
import type { WsAttempts, WsLinks } from './direct-ws-attempts.ts';
import { directConn } from './direct-conn.ts';
import type { DirectHost } from './hosts.ts';

const log = logger('direct');

const te = (text: string): unknown[] => ['transport_error', text];
/** Closes that mean the peer left on purpose: its monitors fire, no fallback. */

/** Per peer: the current attempt, how our messages travel, back-off. */
export interface PeerState {
  readonly node: NodeId;
  attempt?: Attempt;
  /** Our sending direction: over the relay, held during the switch, or over the channel. */
  tx: 'relay' | 'holding' | 'direct';
  held: Array<[PortId, Message]>;
  failures: number;
  retryAt: number;
  /** The peer's kind and caps as the seeds vouched for them on its last signal or relayed message (none seen: no rights). */
  vouched?: Sender;
  /** A direct WebSocket link with this peer failed or is refused: WebRTC (if any) from now on. */
  noWs?: boolean;
}

/** WsLinks: the members the direct WebSocket attempts (direct-ws-attempts.ts) use are not private. */
export class DirectLinks implements WsLinks {
  readonly peers = new Map<NodeId, PeerState>();
  readonly me: NodeId;
  /** Why this node takes no WebRTC links (undefined: it does). */
  private readonly off: string | undefined;
  /** Why this node takes no direct WebSocket links (undefined: it does). */
  private readonly offWs: string | undefined;
  /** Direct WebSocket links (listening, dialling, their attempts); undefined where the environment has none (a page). */
  readonly ws: WsAttempts | undefined;
  private readonly directConns = new WeakSet<Conn>();

  constructor(private readonly m: DirectHost) {
    this.me = m.nodeId;
    const o = m.o;
    this.off = !o.direct
      ? `direct links are turned off on ${this.me}`
      : o.wrtc === undefined
        ? `${this.me} has no WebRTC`
        : m.seed
          ? `${this.me} is a seed (seeds take no direct links)`
          : undefined;
    this.offWs = !o.direct
      ? `direct links are turned off on ${this.me}`
      : m.seed
        ? `${this.me} is a seed (seeds take no direct links)`
        : o.secret === undefined
          ? `${this.me} holds no mesh secret (direct WebSocket links are for secret holders)`
          : o.directWs === undefined
            ? `${this.me} takes no direct WebSocket links here (aemp/node does)`
            : undefined;
    this.ws = o.directWs?.(m, this);
    m.node.kernel.nodePort.set('rtc', (from, args, who) => this.onRequest(from, args, who));
  }

  // --- called by the mesh ---------------------------------------------------

  /**
   * A message to `node` is about to be relayed. True if it was taken
   * instead: held while our direction switches to the direct link.
   */
  relaying(node: NodeId, port: PortId, msg: Message): boolean {
    const st = this.peers.get(node);
    if (st !== undefined && st.tx === 'holding') {
      if (st.held.length < this.m.o.maxQueuedPackets) {
        st.held.push([port, msg]);
        return true;
      }
      // The peer does not confirm, and messages pile up: give up the switch (releases the held ones first).
      st.attempt?.conn?.close(`more than ${this.m.o.maxQueuedPackets} messages held during the switch`);
      return false;
    }
    this.traffic(node, st);
    return false;
  }

  /**
   * Traffic with `node` went over the relay (either way; `who`: the kind its
   * seed stamped on a message from it): maybe offer a direct link.
   */
  traffic(node: NodeId, st = this.peers.get(node), who?: Sender): void {
    if (this.off !== undefined && this.offWs !== undefined) return;
    if (st !== undefined) {
      if (who !== undefined) st.vouched = who;
      if (st.attempt !== undefined || this.m.clock.now() < st.retryAt) return;
    } else if (who !== undefined && who.kind !== 'secret') {
      // Remember a page as one: it is never invited to a direct WebSocket link.
      st = this.state(node);
      st.vouched = who;
    }
    if (this.m.conns.has(node) || this.m.signal.aborted || this.attempts() >= this.m.o.directMaxLinks) return;
    // A listening secret holder invites any peer not known to be a page, whichever ID is smaller.
    const kind = who?.kind ?? st?.vouched?.kind;
    if (this.offWs === undefined && this.ws?.listening === true && (kind === undefined || kind === 'secret') && st?.noWs !== true) {
      st ??= this.state(node);
      if (who !== undefined) st.vouched = who;
      this.ws!.invite(st, randomCid(this.m.node.random), this.me);
      return;
    }
    // Glare-free: only the smaller node ID offers.
    if (this.off !== undefined || !(this.me < node)) return;
    st ??= this.state(node);
    if (who !== undefined) st.vouched = who;
    this.start(st, randomCid(this.m.node.random), true, this.m.o.framing);
  }

  /** Listen for direct WebSocket links (a non-seed node with binds). */
  listen(binds: readonly string[]): Promise<void> {
    return this.ws!.listen(binds); // the mesh refuses binds where there is none
  }

  /** Whether `c` is a direct link (WebRTC or WebSocket) rather than a seed link. */
  isDirect(c: Conn): boolean {
    return this.directConns.has(c);
  }

  /** `node` is down (monitors fire): cut its direct link hard, drop what waited; a new session starts afresh. */
  nodeDown(node: NodeId): void {
    const st = this.peers.get(node);
    if (st === undefined) return;
    this.peers.delete(node);
    const a = st.attempt;
    st.attempt = undefined;
    st.tx = 'relay';
    st.held = [];
    a?.end(`node ${node} is down`, true);
  }

  /** Leaving: goodbye over links not (yet) in the mesh's conns, drop attempts. */
  shutdown(reason: string): void {
    for (const st of [...this.peers.values()]) {
      const a = st.attempt;
      if (a === undefined) continue;
      if (a.conn === undefined) {
        st.attempt = undefined;
        a.end(reason, false);
      } else if (this.m.conns.get(st.node) !== a.conn) a.conn.goodbye(reason);
    }
  }

  // --- attempts -------------------------------------------------------------

  state(node: NodeId): PeerState {
    const st: PeerState = { node, tx: 'relay', held: [], failures: 0, retryAt: 0 };
    this.peers.set(node, st);
    return st;
  }

  attempts(): number {
    let n = 0;
    for (const st of this.peers.values()) if (st.attempt !== undefined) n++;
    return n;
  }

  private start(st: PeerState, cid: number, initiator: boolean, framing: Framing): Attempt {
    const a = new Attempt(st.node, cid, initiator, framing, this.m.clock, this.me);
    st.attempt = a;
    log.info(`${initiator ? 'offering a direct link to' : 'answering a direct link from'} ${st.node}`);
    const o = this.m.o;
    a.connect(
      {
        wrtc: o.wrtc,
        config: { iceServers: o.iceServers, iceTransportPolicy: o.iceTransportPolicy },
        signal: (data) => this.m.node.kernel.snd(st.node, ['rtc', 'sig', cid, data, framing]),
        timeoutMs: o.directConnectTimeoutMs,
        dropCandidates: o.directDropCandidates,
        maxFrameSize: o.directMaxFrame,
        name: `rtc ${st.node}`,
      },
      () => this.opened(st, a),
      (why) => this.failed(st, a, why, true),
    );
    return a;
  }

  /** The attempt failed before its channel opened: the relay stays; retry later. */
  failed(st: PeerState, a: Attempt, why: string, tellPeer: boolean): void {
    if (st.attempt !== a) return;
    st.attempt = undefined;
    a.end(why, false);
    this.backoff(st, false);
    if (tellPeer) this.m.node.kernel.snd(st.node, ['rtc', 'no', a.cid, why.slice(0, 300)]);
    log.info(`no direct link with ${st.node} (${why}); messages stay on the relay`);
  }

  private backoff(st: PeerState, clean: boolean): void {
    if (clean) return;
    st.failures++;
    st.retryAt = this.m.clock.now() + backoffMs(this.m.o.directRetryMs, st.failures, this.m.node.random);
  }

  // --- the switch -------------------------------------------------------------

  /** The channel is open: it becomes a Conn, and our direction starts to switch. */
  private opened(st: PeerState, a: Attempt): void {
    if (st.attempt !== a || a.handle === undefined) return;
    const m = this.m;
    const c = directConn(m, {
      link: a.handle.link,
      framing: a.framing,
      peer: st.node,
      // The peer is who the seeds said it is when they relayed its signals (a direct link has no handshake of its own).
      kind: st.vouched?.kind ?? 'anon',
      outbound: a.initiator,
      onPacket: (p, conn) => this.onPacket(st, p, conn),
      onClose: (reason, conn) => this.onClose(st, conn, reason),
    });
    m.vouch(c, st.vouched?.caps ?? []);
    this.switchOver(st, a, c, a.framing);
  }

  /** A direct link (WebRTC or WebSocket) is up as `c`: our direction starts to switch. */
  switchOver(st: PeerState, a: Attempt, c: Conn, framing: Framing): void {
    const m = this.m;
    const o = m.o;
    a.conn = c;
    this.directConns.add(c);
    const dec = new FrameDecoder({ framing, maxFrameSize: c.link.maxFrameSize, maxMessageSize: o.maxMessageSize });
    a.tx = new DirectTx(c, o.directMaxResend, (frames) => frames.flatMap((f) => dec.decode(f)));
    c.messages = a.tx;
    m.connOpened(c);
    c.ping();
    // The marker travels behind everything we relayed to the peer; new messages wait for its confirmation.
    m.node.kernel.snd(st.node, ['rtc', 'mark', a.cid]);
    if (st.attempt !== a) return;
    st.tx = 'holding';
    a.switchTimer = unrefTimer(
      m.clock.setTimeout(() => {
        if (st.attempt === a && st.tx === 'holding')
          c.close(`${st.node} did not confirm the switch within ${o.directSwitchTimeoutMs} ms`);
      }, o.directSwitchTimeoutMs),
    );
    if (a.confirmOnOpen) c.send(['sw', a.cid]);
  }

  /** The peer got our marker: everything we relayed has arrived, so the held messages go direct. */
  private confirmed(st: PeerState, c: Conn, cid: unknown): void {
    const a = st.attempt;
    if (a === undefined || a.conn !== c || a.cid !== cid || st.tx !== 'holding') return;
    const m = this.m;
    if (a.switchTimer !== undefined) m.clock.clearTimeout(a.switchTimer);
    a.switchTimer = undefined;
    if (m.conns.has(st.node)) {
      c.close(`another link to ${st.node} came up meanwhile`);
      return;
    }
    st.tx = 'direct';
    st.failures = 0;
    m.conns.set(st.node, c);
    const held = st.held;
    st.held = [];
    for (const [port, msg] of held) m.send(this.me, st.node, port, msg);
    log.info(`messages to ${st.node} go over the direct link now (${held.length} waited for the switch)`);
    a.watchIdle(m.o.directIdleMs, (ms) => {
      // Tell the peer why, so neither side counts this as a failure.
      a.closingIdle = true;
      c.lastWord(['idle'], `idle for ${ms} ms`);
    });
  }

  private onPacket(st: PeerState, p: Packet, c: Conn): void {
    const a = st.attempt;
    switch (p[0]) {
      case 'n':
        if (a === undefined || a.conn !== c) return;
        if (a.rxSeq < 0) return this.m.bad(c, p);
        this.m.deliver(c.peer, a.rxSid, ++a.rxSeq, p[1], p[2], this.m.senderOf(c));
        return a.received();
      case 'm':
        if (a === undefined || a.conn !== c) return;
        if (typeof p[1] !== 'number' || typeof p[2] !== 'number') return this.m.bad(c, p);
        a.rxSid = p[1];
        a.rxSeq = p[2];
        this.m.deliver(c.peer, p[1], p[2], p[3], p[4], this.m.senderOf(c));
        return a.received();
      case 'ack':
        if (a !== undefined && a.conn === c) a.tx!.ack(p[1], p[2]);
        return;
      case 'sw':
        return this.confirmed(st, c, p[1]);
      case 'idle':
        if (a !== undefined && a.conn === c) {
          a.closingIdle = true;
          c.close(`${c.peer} closed the idle link`);
        }
        return;
      default:
        return this.m.handlePacket(p, c);
    }
  }

  /** The channel closed: during the switch, stay on the relay; after it, fall back or fire monitors. */
  private onClose(st: PeerState, c: Conn, reason: string): void {
    this.m.connClosed(c, reason);
    const a = st.attempt;
    if (a === undefined || a.conn !== c) return;
    st.attempt = undefined;
    a.end(reason, false);
    const tx = st.tx;
    st.tx = 'relay';
    if (tx === 'holding') {
      // Nothing of ours went over the channel: what waited follows the marker over the relay.
      this.backoff(st, false);
      const held = st.held;
      st.held = [];
      for (const [port, msg] of held) this.m.send(this.me, st.node, port, msg);
      log.info(`direct link with ${st.node} closed during the switch (${reason}); staying on the relay`);
      return;
    }
    if (tx !== 'direct') return;
    if (c.end === 'goodbye') {
      this.m.nodeDown(st.node, te(`node ${st.node} shut down`));
      return;
    }
    this.backoff(st, a.closingIdle);
    this.fallBack(st, a, reason);
  }

  /** Resend what the peer did not confirm over the relay, same numbers; else the node is down. */
  private fallBack(st: PeerState, a: Attempt, reason: string): void {
    const m = this.m;
    const node = st.node;
    const sc = m.seedConn;
    const s = m.sessions.txIf(node);
    const unconfirmed = a.tx?.take();
    const why =
      sc === undefined || !sc.isOpen
        ? 'no seed link to fall back on'
        : unconfirmed === undefined
          ? `more than ${m.o.directMaxResend} messages were unconfirmed`
          : unconfirmed.length > 0 && (unconfirmed[0]![1] !== s?.sid || unconfirmed[unconfirmed.length - 1]![1] !== s?.sid)
            ? 'its message session ended'
            : undefined;
    if (why !== undefined) {
      m.nodeDown(node, te(`direct link to ${node} lost (${reason}); ${why}`));
      return;
    }
    for (const p of unconfirmed!) sc!.send(['r', node, p[1], p[2], p[3], p[4]]);
    if (s !== undefined) s.via = sc;
    const level = a.closingIdle ? 7 : 6;
    log.log(level, `direct link to ${node} closed (${reason}); back on the relay, ${unconfirmed!.length} unconfirmed messages resent`);
  }

  /** A secret holder invites us to dial it (['rtc', 'ws', cid, urls]): direct-ws-attempts.ts, where this node takes such links. */
  private onInvite(from: NodeId, cid: number, x: unknown, who: Sender): void {
    const no = (why: string): void => this.m.node.kernel.snd(from, ['rtc', 'no', cid, why, false, 'ws']);
    if (this.m.signal.aborted) return;
    // The seeds stamp the sender: only a secret holder's invitation is dialled (a page cannot listen anyway).
    if (who.kind !== 'secret') return no(`${this.me} takes direct WebSocket invitations from secret holders only`);
    if (this.offWs !== undefined) return no(this.offWs);
    this.ws!.onInvite(from, cid, x, who); // offWs is set where there is none
  }

  handlers(st: PeerState): DirectHandlers {
    return { onPacket: (p, conn) => this.onPacket(st, p, conn), onClose: (reason, conn) => this.onClose(st, conn, reason) };
  }

  // --- signalling (node-port requests) --------------------------------------

  private onRequest(from: NodeId, [op, cid, x, y, z]: unknown[], who: Sender): void {
    if (typeof cid !== 'number') {
      log.warn(`bad rtc request from ${from}: ${String(op).slice(0, 20)} without an attempt number`, 'bad-request');
      return;
    }
    switch (op) {
      case 'sig':
        return this.onSignal(from, cid, x, y, who);
      case 'ws':
        return this.onInvite(from, cid, x, who);
      case 'mark':
        return this.onMark(from, cid);
      case 'no': {
        const st = this.peers.get(from);
        const a = st?.attempt;
        if (st === undefined || a === undefined || a.cid !== cid) return;
        const text = `${from} said: ${String(x).slice(0, 300)}`;
        if (a.conn !== undefined) a.conn.close(text);
        else this.failed(st, a, text, false);
        if (z === 'ws' && a.mode === 'ws' && a.conn === undefined) {
          // No WebSocket link with this peer (it cannot dial us, or takes none): WebRTC, if any, at once.
          st.noWs = true;
          st.retryAt = 0;
          st.failures = Math.max(0, st.failures - 1);
          return this.traffic(from, st);
        }
        // A node that cannot take direct links at all is not asked again soon.
        if (y === true) st.retryAt = this.m.clock.now() + 8 * this.m.o.directRetryMs;
        return;
      }
      default:
        log.warn(`unknown rtc request ${JSON.stringify(String(op)).slice(0, 40)} from ${from}`, 'unknown-request');
    }
  }

  private onSignal(from: NodeId, cid: number, data: unknown, framing: unknown, who: Sender): void {
    if (data === null || typeof data !== 'object') {
      log.warn(`bad rtc signal from ${from}`, 'bad-signal');
      return;
    }
    const isOffer = (data as { type?: unknown }).type === 'offer';
    if (this.m.signal.aborted) return;
    // A secret holder offers WebRTC, and we listen: we invite it to dial us instead (direct-ws-attempts.ts).
    if (isOffer && this.offWs === undefined && this.ws?.offered(from, cid, who) === true) return;
    if (this.off !== undefined) {
      if (isOffer) this.m.node.kernel.snd(from, ['rtc', 'no', cid, this.off, true]);
      return;
    }
    let st = this.peers.get(from);
    const a = st?.attempt;
    if (a !== undefined && a.cid === cid) {
      st!.vouched = who;
      if (a.mode === 'ws') return; // we invited instead of answering: the offer's signals have nowhere to go
      return a.feed(data);
    }
    // We offer to nodes with larger IDs and never answer them; signals of attempts gone here are dropped.
    if (this.me < from || !isOffer) return;
    if (framing !== 'msgpack' && framing !== 'json') {
      this.m.node.kernel.snd(from, ['rtc', 'no', cid, `unknown framing ${String(framing).slice(0, 20)}`, true]);
      return;
    }
    if (framing === 'json' && !jsonFramingLoaded()) {
      // Rare (pages and nodes speak msgpack unless configured otherwise): load it, and take the next offer.
      void loadJsonFraming().catch((e: Error) => log.warn(`cannot load the json framing: ${e.message}`, 'json-framing'));
      this.m.node.kernel.snd(from, ['rtc', 'no', cid, `${this.me} is loading the json framing: offer again`]);
      return;
    }
    if (st !== undefined && a !== undefined) {
      // The peer gave up on the old attempt (or restarted): ours goes too.
      if (a.conn !== undefined) a.conn.close('the peer offered a new direct link');
      else this.failed(st, a, 'the peer offered a new direct link', false);
      st = this.peers.get(from);
    }
    if (this.attempts() >= this.m.o.directMaxLinks || this.m.conns.has(from)) {
      this.m.node.kernel.snd(from, ['rtc', 'no', cid, `${this.me} takes no more direct links now`]);
      return;
    }
    st ??= this.state(from);
    st.vouched = who;
    this.start(st, cid, false, framing).feed(data);
  }

  /** The peer's marker arrived over the relay: everything it relayed before is here; confirm over the channel. */
  private onMark(from: NodeId, cid: number): void {
    const a = this.peers.get(from)?.attempt;
    if (a !== undefined && a.cid === cid) {
      if (a.conn === undefined) a.confirmOnOpen = true;
      else a.conn.send(['sw', cid]);
      return;
    }
    // No such attempt here (it failed or was replaced): the peer must not wait for a confirmation.
    this.m.node.kernel.snd(from, ['rtc', 'no', cid, 'no such direct link here']);
  }
}

function randomCid(random: () => number): number {
  return 1 + Math.floor(random() * 0x7ffffffe);
}
