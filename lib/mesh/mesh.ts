/**
 * The mesh: how a node reaches other nodes. Every node keeps a link to a
 * seed (failing over between seeds); seeds keep links to each other and to
 * the nodes that joined them. A message to a node without a link of its own
 * is relayed by the seeds, which stamp the sender's authenticated node ID.
 * Sessions (sessions.ts) make a lost message fire monitors instead of
 * leaving a hole. Seed-only behaviour lives in seed.ts; direct WebRTC
 * links between nodes (the relay → direct upgrade) in direct.ts.
 */
import { stampedSender, TRUSTED, type Cap, type Sender } from '../caps.ts';
import type { Clock } from '../clock.ts';
import { AempError, BadArgumentError } from '../errors.ts';
import { unrefTimer } from '../clock.ts';
import { isNodeId, isPortId, randomBytes, type NodeId, type PortId } from '../ids.ts';
import type { Guard, Message } from '../kernel.ts';
import type { Link } from '../link.ts';
import { logger } from '../log.ts';
import type { LinkInfo, Network, NodeMonitor } from '../network.ts';
import type { MpNode } from '../node.ts';
import { loadJsonFraming, type Framing, type Packet } from '../protocol/codec.ts';
import type { HandshakeOptions } from '../protocol/handshake.ts';
import { REMOTE_DEFAULTS } from '../remote.ts';
import { Conn } from './conn.ts';
import { backoffMs, runHandshake } from './dial.ts';
import { DirectLinks } from './direct.ts';
import { DIRECT_DEFAULTS, type DirectOptions } from './direct-options.ts';
import { ADMIT_DEFAULTS, type AdmitOptions } from './admit-options.ts';
import { TURN_DEFAULTS, installIce, type TurnOptions } from './ice.ts';
import { peerKindOf, type PeerKind } from './peer-kind.ts';
import { BATCH_LIMIT_DEFAULTS, kindLimits, type BatchLimitOptions, type KindLimits } from './batch-limits.ts';
import { Sessions } from './sessions.ts';
import type { SeedRole } from './seed.ts';
import type { RelayRuns } from './relay-runs.ts';
import type { WsAttempts, WsLinks } from './direct-ws-attempts.ts';
import type { DirectWsHost } from './hosts.ts';
import { LinkRefusedError, MESH_CODES, type MeshCode } from './errors.ts';
import { meshUpstream, seedLinkOf } from './mesh-network.ts';
import type { Upstream } from '../groups/upstream.ts';

const log = logger('mesh');

/** What the environment (node/ or web/) provides. */
export interface MeshTransport {
  connect(url: string, opts: { signal?: AbortSignal; timeoutMs?: number }): Promise<Link>;
  /** Seeds only: listen on host:port and hand over every incoming link. */
  listen?(bind: { host: string; port: number }, onLink: (link: Link) => void, admit?: ListenAdmission): Promise<{ url: string; close(): Promise<void> }>;
}

/** What a listener enforces before a link exists (admit-options.ts). */
export type ListenAdmission = Pick<AdmitOptions, 'admitTimeoutMs' | 'maxPendingPerAddress'>;

export interface MeshOptions extends DirectOptions, TurnOptions, AdmitOptions, BatchLimitOptions {
  seeds: string[];
  binds: string[];
  /** false: a node with binds is no seed; it listens only for direct WebSocket links from secret holders (direct-ws.ts). */
  seed?: boolean;
  /** Makes this node a seed (binds, seed not false); the environment provides it (node/), so browsers bundle no seed code. */
  seedRole?: (m: Mesh) => SeedRole;
  /** Runs of relayed messages (relay-runs.ts); the environment provides them (node/): a page sends one 'r' per message. */
  relayRuns?: RelayRuns;
  /** Direct WebSocket links between secret holders (direct-ws.ts); the environment provides them (node/): pages have none. */
  directWs?: (m: DirectWsHost, links: WsLinks) => WsAttempts;
  secret?: string;
  /** A token, or a function called for a fresh one before every connect to a seed (a page outlives its tokens). */
  token?: string | TokenSource;
  monitorTimeoutMs: number;
  connectIntervalMs: number;
  framing: Framing;
  authOffer: string[];
  authAccept: string[];
  transport: MeshTransport;
  subtle: SubtleCrypto;
  handshakeTimeoutMs: number;
  maxBufferedBytes: number;
  maxQueuedPackets: number;
  maxPendingHandshakes: number;
  /** Monitors one secret-holding node may hold on this node's ports (remote.ts); more fire ['denied', 'AEMP_ERR_QUOTA: …']. */
  maxRemoteMonitors: number;
  /** The same for a page (a token or anonymous node). */
  pageMaxRemoteMonitors: number;
  /** URLs this seed tells others to reach it by (default: from binds). */
  advertise?: string[];
}

/** Called before every connect and reconnect to a seed; may fetch the token from the app's backend. */
export type TokenSource = () => string | Promise<string>;

export const MESH_DEFAULTS = {
  monitorTimeoutMs: 6000,
  connectIntervalMs: 2000,
  framing: 'msgpack' as Framing,
  handshakeTimeoutMs: 10_000,
  maxBufferedBytes: 64 * 1024 * 1024,
  maxQueuedPackets: 4_000_000,
  maxPendingHandshakes: 256,
  maxRemoteMonitors: REMOTE_DEFAULTS.maxRemoteMonitors,
  pageMaxRemoteMonitors: REMOTE_DEFAULTS.pageMaxRemoteMonitors,
  ...DIRECT_DEFAULTS,
  ...TURN_DEFAULTS,
  ...ADMIT_DEFAULTS,
  // maxMessageSize / pageMaxMessageSize, maxBatchPackets, maxBatchElements (and their page* twins): batch-limits.ts
  ...BATCH_LIMIT_DEFAULTS,
};

const te = (text: string): unknown[] => ['transport_error', text];

/**
 * Observers of the mesh (global groups, direct links): each method is
 * optional and called synchronously where the mesh's state changes.
 */
export interface MeshHooks {
  /** Non-seed node: the seed link changed (undefined: no seed link now). */
  seedLink?(seed: NodeId | undefined): void;
  /** A link (to a seed, from a node, direct) is up, after its handshake. */
  connUp?(c: Conn): void;
  /** A link closed; runs before the node-down it may cause. */
  connDown?(c: Conn, reason: string): void;
  /** `node` is unreachable now (called for every node-down, known or not). */
  nodeDown?(node: NodeId, reason: unknown[]): void;
}

export class Mesh implements Network {
  readonly conns = new Map<NodeId, Conn>();
  /** The links to seeds among `conns`: a seed has a few among thousands of nodes, and walks them per join and leave. */
  readonly seedConns = new Set<Conn>();
  readonly sessions: Sessions;
  readonly seed: SeedRole | undefined;
  /** The relay → WebRTC upgrade (direct.ts); answers peers' offers with 'no' where it is off. */
  readonly direct: DirectLinks;
  /** Non-seed nodes: the current seed link. */
  seedConn: Conn | undefined;
  readonly seedUrls: string[] = [];
  private watchers = new Set<NodeMonitor>();
  /** Observers (groups, direct links); see MeshHooks. */
  readonly hooks = new Set<MeshHooks>();
  private up = new Set<NodeId>();
  private known = new Set<NodeId>();
  /** The last node send() checked (isNodeId). */
  private lastNode = '';
  private stopping = new AbortController();
  private firstSeed: Promise<void>;
  private firstSeedDone!: () => void;
  readonly clock: Clock;
  /** Batch limits for Conns (batch-limits.ts); what this node sends is held to those of its own kind, which its peers apply. */
  readonly batchLimits: KindLimits;
  /** What the peer of a Conn may ask (its kind and its token's caps); pages only, secret holders are TRUSTED. */
  private readonly senders = new WeakMap<Conn, Sender>();

  constructor(
    readonly node: MpNode,
    readonly o: MeshOptions,
  ) {
    this.clock = node.clock;
    this.sessions = new Sessions(node.random);
    this.batchLimits = kindLimits(o, o.secret !== undefined ? 'secret' : o.token !== undefined ? 'token' : 'anon');
    node.remote.limits = { maxRemoteMonitors: o.maxRemoteMonitors, pageMaxRemoteMonitors: o.pageMaxRemoteMonitors };
    this.firstSeed = new Promise((r) => (this.firstSeedDone = r));
    for (const s of o.seeds) this.addSeedUrl(s);
    if (o.binds.length > 0) {
      // Injected (node/ passes them): a page's bundle carries no seed code and no direct WebSocket listener.
      if (!(o.seed === false ? o.directWs : o.seedRole)) throw new BadArgumentError('this environment cannot listen: binds need aemp/node');
      if (o.seed !== false) this.seed = o.seedRole!(this);
    }
    this.direct = new DirectLinks(this);
    installIce(this); // seeds hand out ICE servers with TURN credentials; nodes take them
    node.kernel.nodePort.set('gap', (from, [sid]) => {
      if (this.sessions.txSid(from) === sid) this.nodeDown(from, te(`messages to ${from} were lost on the way`));
    });
  }

  get nodeId(): NodeId {
    return this.node.NODE;
  }

  // --- what Network shows beyond links (mesh-network.ts) --------------------

  readonly seedLink = seedLinkOf(this);

  groupUpstream(node: MpNode, onServer: (server: NodeId | undefined) => void): Upstream {
    return meshUpstream(this, node, onServer);
  }

  groupGraceMs(): number {
    return 2 * this.o.monitorTimeoutMs + 2 * this.o.connectIntervalMs;
  }

  /** start() stops waiting for the first seed link. */
  stopWaitingForSeed(): void {
    this.firstSeedDone();
  }

  /** Listen (seeds), start dialling seeds; resolves once linked to a seed or after max(monitor_timeout, 5 s). */
  async start(): Promise<void> {
    // Direct links speak the offerer's framing (codec.ts loads json on first use).
    if (this.o.framing === 'json') await loadJsonFraming();
    if (this.seed) await this.seed.listen();
    else if (this.o.binds.length > 0) await this.direct.listen(this.o.binds);
    if (this.seed) {
      for (const url of this.seedUrls) this.seed.dial(url);
      return;
    }
    if (this.seedUrls.length === 0) return;
    void this.keepSeedLink();
    // Wait for the first seed link, but not forever: a node works locally without one.
    const t = this.clock.setTimeout(() => this.firstSeedDone(), Math.max(this.o.monitorTimeoutMs, 5000));
    await this.firstSeed;
    this.clock.clearTimeout(t);
  }

  addSeedUrl(url: string): void {
    const u = normalizeSeedUrl(url);
    if (!this.seedUrls.includes(u)) {
      this.seedUrls.push(u);
      if (this.seed && this.started) this.seed.dial(u);
    }
  }

  private get started(): boolean {
    return this.seed?.listening ?? false;
  }

  get signal(): AbortSignal {
    return this.stopping.signal;
  }

  // --- links ---------------------------------------------------------------

  handshakeOptions(token = typeof this.o.token === 'string' ? this.o.token : undefined): HandshakeOptions {
    const o = this.o;
    return {
      nodeId: this.nodeId,
      isSeed: !!this.seed,
      secret: o.secret,
      token,
      authOffer: o.authOffer,
      authAccept: o.authAccept,
      framings: o.framing === 'json' ? ['json', 'msgpack'] : ['msgpack', 'json'],
      nonce: randomBytes(16),
      subtle: o.subtle,
      now: () => this.clock.now(),
    };
  }

  /** Authenticate a fresh link and turn it into a Conn (or refuse it). */
  async establish(link: Link, outbound: boolean, token?: string): Promise<Conn> {
    const hs = await runHandshake(link, this.handshakeOptions(token), this.o.handshakeTimeoutMs, this.clock);
    const { peerNode, peerIsSeed, framing } = hs.result;
    const refuse = (code: MeshCode, why: string): never => {
      log.warn(`refusing link ${outbound ? 'to' : 'from'} ${peerNode}: ${why}`, 'refused-link');
      link.send(JSON.stringify({ refused: code, reason: why }));
      link.close(`${code}: ${why}`);
      throw new LinkRefusedError(code, why, peerNode);
    };
    if (peerNode === this.nodeId) refuse(MESH_CODES.SELF, 'this is a link to myself');
    if (this.stopping.signal.aborted) refuse(MESH_CODES.SHUTDOWN, 'node is shutting down');
    const old = this.conns.get(peerNode);
    if (old && old.isOpen) refuse(MESH_CODES.DUPLICATE_NODE, `node ${peerNode} is already connected; the newer connection loses`);
    const c = new Conn({
      link,
      framing,
      peer: peerNode,
      peerIsSeed,
      kind: peerKindOf(hs.result.auth),
      outbound,
      clock: this.clock,
      monitorTimeoutMs: this.o.monitorTimeoutMs,
      maxBufferedBytes: this.o.maxBufferedBytes,
      maxQueuedPackets: this.o.maxQueuedPackets,
      maxMessageSize: this.o.maxMessageSize,
      limits: this.batchLimits,
      relay: this.seed?.relayCodec ?? this.o.relayRuns?.codec,
      onPacket: this.connPacket,
      onClose: this.connClose,
      attach: hs.attach,
      peerHearsPings: hs.result.peerHearsPings,
    });
    this.vouch(c, hs.result.caps ?? []);
    this.conns.set(peerNode, c);
    if (peerIsSeed) this.seedConns.add(c);
    log.info(`linked ${outbound ? 'to' : 'from'} ${peerIsSeed ? 'seed ' : ''}${peerNode}`);
    this.markUp(peerNode);
    this.seed?.onConnUp(c);
    for (const h of this.hooks) h.connUp?.(c);
    return c;
  }

  // One pair of callbacks for all conns (they are told which conn), not two closures per link.
  private readonly connPacket = this.handlePacket.bind(this);
  private readonly connClose = (reason: string, c: Conn): void => this.onConnClose(reason, c);

  /** Non-seed nodes: keep one seed link, rotating through known seeds with back-off. */
  private async keepSeedLink(): Promise<void> {
    let failures = 0;
    let i = 0;
    while (!this.stopping.signal.aborted) {
      const url = this.seedUrls[i++ % this.seedUrls.length]!;
      try {
        const token = await this.freshToken();
        const link = await this.o.transport.connect(url, { signal: this.stopping.signal, timeoutMs: this.o.monitorTimeoutMs });
        const c = await this.establish(link, true, token);
        if (!c.peerIsSeed) {
          c.close('expected a seed at ' + url);
          throw new Error(`${url} is not a seed`);
        }
        // The link counts once the seed's first packet (its seed list) came:
        // a seed that refuses us (e.g. a duplicate node ID) closes before that.
        this.pendingSeed = c;
        await new Promise<void>((r) => this.closeWaiters.set(c, r));
        if (this.promoted.has(c)) {
          failures = 0;
          i--; // it worked: retry the same seed first
        } else {
          failures++;
          log.warn(`seed ${url} closed the link before accepting this node`, 'seed-closed');
        }
      } catch (e) {
        if (this.stopping.signal.aborted) return;
        failures++;
        // (fix from test/mesh.test.ts: the refusal's stable code belongs in the log line too)
        log.note(`cannot link to seed ${url}: ${(e as { code?: string }).code ?? 'error'}: ${(e as Error).message}`, 'seed-unreachable');
      }
      if (this.stopping.signal.aborted) return;
      // Only wait once every listed seed failed in a row.
      if (failures > 0 && failures % this.seedUrls.length === 0)
        await this.sleep(backoffMs(this.o.connectIntervalMs, failures / this.seedUrls.length, this.node.random));
      else if (failures === 0) await this.sleep(Math.min(250, this.o.connectIntervalMs));
    }
  }

  /** The token for the next connect: a token function is asked every time (a long-lived page's token expires). */
  private async freshToken(): Promise<string | undefined> {
    const t = this.o.token;
    if (typeof t !== 'function') return t;
    let v: unknown;
    let timer: ReturnType<Clock['setTimeout']> | undefined;
    // Bounded like a connect: a token fetch that hangs (a backend going down) must not stall reconnecting for good.
    const ms = this.o.monitorTimeoutMs;
    const late = new Promise<never>((_, reject) => {
      timer = this.clock.setTimeout(() => reject(new AempError(MESH_CODES.TOKEN_SOURCE, `the token function did not answer within ${ms} ms`)), ms);
    });
    try {
      v = await Promise.race([t(), late]);
    } catch (e) {
      if ((e as AempError)?.code === MESH_CODES.TOKEN_SOURCE) throw e;
      throw new AempError(MESH_CODES.TOKEN_SOURCE, `the token function failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    } finally {
      this.clock.clearTimeout(timer!);
    }
    if (typeof v !== 'string' || v === '') throw new AempError(MESH_CODES.TOKEN_SOURCE, 'the token function returned no token (a non-empty string)');
    return v;
  }

  readonly closeWaiters = new Map<Conn, () => void>();
  private pendingSeed: Conn | undefined;
  /** Seed URL → the seed node that listens there (learned from 'seeds'). */
  readonly urlOwner = new Map<string, NodeId>();
  private promoted = new WeakSet<Conn>();

  sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      // The abort listener goes when the sleep ends: a node retrying a busy seed sleeps many times.
      const onAbort = () => (this.clock.clearTimeout(t), r());
      const t = unrefTimer(this.clock.setTimeout(() => (this.stopping.signal.removeEventListener('abort', onAbort), r()), ms));
      this.stopping.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private onConnClose(reason: string, c: Conn): void {
    this.connClosed(c, reason);
    const why = `link to ${c.peer} lost: ${reason}`;
    if (c === this.seedConn) {
      this.seedConn = undefined;
      for (const h of this.hooks) h.seedLink?.(undefined);
      // Whatever went through this seed may be lost: every relayed peer is down.
      for (const n of this.relayedPeers()) this.nodeDown(n, te(`link to seed ${c.peer} lost: ${reason}`));
    }
    for (const n of this.sessions.txVia(c, c.peer)) this.nodeDown(n, te(why));
    this.seed?.onConnDown(c, reason);
    this.nodeDown(c.peer, te(c.end === 'goodbye' ? `node ${c.peer} shut down` : why));
  }

  /** Record what the peer of `c` may ask: its kind (c.kind) and, for a page, its caps. */
  vouch(c: Conn, caps: readonly Cap[]): void {
    if (c.kind !== 'secret') this.senders.set(c, { kind: c.kind, caps });
  }

  /** The peer of `c` as a Sender (caps.ts). */
  senderOf(c: Conn): Sender {
    if (c.kind === 'secret') return TRUSTED;
    return this.senders.get(c) ?? { kind: c.kind, caps: [] };
  }

  /** A direct link's Conn is up (direct.ts): the peer is up, observers hear of it. */
  connOpened(c: Conn): void {
    this.markUp(c.peer);
    for (const h of this.hooks) h.connUp?.(c);
  }

  /** A Conn closed: forget it and tell observers (for a direct link, direct.ts decides what it means for the peer). */
  connClosed(c: Conn, reason: string): void {
    if (this.conns.get(c.peer) === c) this.conns.delete(c.peer);
    this.seedConns.delete(c);
    this.closeWaiters.get(c)?.();
    this.closeWaiters.delete(c);
    for (const h of this.hooks) h.connDown?.(c, reason);
  }

  /** Peers we talk to without a link of their own. */
  private relayedPeers(): NodeId[] {
    const out = new Set<NodeId>();
    for (const n of this.sessions.peers()) if (!this.conns.has(n)) out.add(n);
    for (const n of this.up) if (!this.conns.has(n)) out.add(n);
    return [...out];
  }

  // --- packets ---------------------------------------------------------------

  /** A packet from the peer of `c` (direct.ts hands over what it does not handle itself). */
  handlePacket(p: Packet, c: Conn): void {
    switch (p[0]) {
      case 'm':
        if (typeof p[1] === 'number' && typeof p[2] === 'number') {
          c.rxSid = p[1];
          c.rxSeq = p[2];
        }
        // A seed's own ports take a node's messages within its relay quota (seed.ts admitOwn); one dropped
        // keeps its number, so the next one delivered shows the gap.
        if (this.seed !== undefined && !this.seed.admitOwn(c, p[1])) return;
        return this.deliver(c.peer, p[1], p[2], p[3], p[4], this.senderOf(c));
      case 'n':
        // The next message after the last 'm' or 'n' on this link (links are ordered).
        if (c.rxSeq < 0) return this.bad(c, p);
        const seq = ++c.rxSeq;
        if (this.seed !== undefined && !this.seed.admitOwn(c, c.rxSid)) return;
        return this.deliver(c.peer, c.rxSid, seq, p[1], p[2], this.senderOf(c));
      case 'f':
      case 'G': {
        // A message relayed by our seed ('G': a run of them from a secret holder, numbered on from p[3]); the seed
        // vouches for the sender, and for its kind (an 'f''s p[6], p[7]: none for a secret holder).
        if (!c.peerIsSeed || !isNodeId(p[1])) return this.bad(c, p);
        const f = p[0] === 'f';
        if (!f && (typeof p[3] !== 'number' || p.length < 6 || p.length % 2 !== 0)) return this.bad(c, p);
        const who = f ? stampedSender(p[6], p[7]) : TRUSTED;
        this.direct.traffic(p[1], undefined, who);
        for (let i = 4, seq = p[3]; i < (f ? 6 : p.length); i += 2, seq = (seq as number) + 1) this.deliver(p[1], p[2], seq, p[i], p[i + 1], who);
        return;
      }
      case 'nack':
        if (!c.peerIsSeed || !isNodeId(p[1])) return this.bad(c, p);
        return this.nodeDown(p[1], te(String(p[2] ?? `node ${p[1]} is not reachable`)));
      case 'down':
        if (!c.peerIsSeed || !isNodeId(p[1])) return this.bad(c, p);
        return this.nodeDown(p[1], Array.isArray(p[2]) ? (p[2] as unknown[]) : te(`node ${p[1]} is down`));
      case 'seeds':
        if (!c.peerIsSeed || !Array.isArray(p[1])) return this.bad(c, p);
        if (c === this.pendingSeed && c.isOpen) {
          this.pendingSeed = undefined;
          this.promoted.add(c);
          this.seedConn = c;
          for (const h of this.hooks) h.seedLink?.(c.peer);
          this.firstSeedDone();
        }
        for (const u of p[1]) if (typeof u === 'string' && u.length < 300) this.addSeedUrl(u);
        // p[2]: the URLs the peer seed itself listens on (so we need not dial them while linked).
        if (Array.isArray(p[2])) for (const u of p[2]) if (typeof u === 'string' && u.length < 300) this.urlOwner.set(normalizeSeedUrl(u), c.peer);
        return;
      case 'bye':
        c.end = 'goodbye';
        c.close(`bye: ${String(p[1]).slice(0, 200)}`);
        return;
      default:
        if (this.seed && this.seed.onPacket(p, c)) return;
        return this.bad(c, p);
    }
  }

  bad(c: Conn, p: Packet): void {
    c.close(`bad packet ${JSON.stringify(String(p[0])).slice(0, 40)} from ${c.peer}`);
  }

  /** A message for a port here, from node `from` (of kind `who`), checked against its session. */
  deliver(from: NodeId, sid: unknown, seq: unknown, port: unknown, msg: unknown, who: Sender): void {
    if (typeof sid !== 'number' || typeof seq !== 'number' || typeof port !== 'string' || !Array.isArray(msg)) {
      log.warn(`dropping malformed message from ${from}`, 'malformed-message');
      return;
    }
    const v = this.sessions.accept(from, sid, seq);
    if (v === 'ok') {
      if (!this.up.has(from)) this.markUp(from);
      this.node.kernel.receive(from, port, msg, who, true);
    } else if (v === 'gap') {
      log.note(`message from ${from} lost (session ${sid} seq ${seq}); dropping the rest of the session`, 'message-lost');
      this.send(this.nodeId, from, from, ['gap', sid]);
    }
  }

  // --- sending (Transport) -------------------------------------------------

  send(_from: NodeId, node: NodeId, port: PortId, msg: Message): void {
    if (node !== this.lastNode) {
      if (!isNodeId(node)) return;
      // Checked once per run of messages to one node, not once per message.
      this.lastNode = node;
    }
    const s = this.sessions.txFor(node);
    const direct = this.conns.get(node);
    if (direct !== undefined) {
      s.via = direct;
      if (direct.messages !== undefined) direct.messages.send(s.sid, s.seq++, port, msg);
      else {
        direct.send(direct.txSid === s.sid && direct.txSeq + 1 === s.seq ? ['n', port, msg] : ['m', s.sid, s.seq, port, msg]);
        direct.txSid = s.sid;
        direct.txSeq = s.seq++;
      }
      return;
    }
    if (this.seed) return this.seed.relayOwn(node, s, port, msg);
    // Held while our direction switches to a direct link (or a reason to offer one).
    if (this.direct.relaying(node, port, msg)) return;
    const sc = this.seedConn;
    if (sc === undefined) {
      // No path at all: the message is lost, so monitors must fire.
      this.sessions.drop(node);
      this.lost(node, `no link to any seed, cannot reach ${node}`);
      return;
    }
    s.via = sc;
    // Node processes send runs of messages (relay-runs.ts: node/ injects it); a page one 'r' per message.
    if (this.o.relayRuns !== undefined) this.o.relayRuns.send(sc, node, s, port, msg);
    else sc.send(['r', node, s.sid, s.seq++, port, msg]);
    if (!this.up.has(node)) this.markUp(node);
  }

  /** Fire node-down soon (not inside snd). */
  lost(node: NodeId, text: string): void {
    queueMicrotask(() => this.nodeDown(node, te(text)));
  }

  // --- node status -----------------------------------------------------------

  markUp(node: NodeId): void {
    this.known.add(node);
    if (this.up.has(node)) return;
    this.up.add(node);
    for (const w of this.watchers) w(node, true);
  }

  /** `node` is unreachable: its monitors fire, sessions restart; it may come back. */
  nodeDown(node: NodeId, reason: unknown[]): void {
    if (node === this.nodeId) return;
    for (const h of this.hooks) h.nodeDown?.(node, reason);
    this.direct.nodeDown(node);
    const hadState = this.sessions.has(node) || this.up.has(node) || this.node.remote.watchCount(node) > 0;
    this.sessions.drop(node);
    this.node.remote.nodeDown(node, reason);
    if (this.up.delete(node)) for (const w of this.watchers) w(node, false, ...reason);
    if (hadState) log.info(`node ${node} down: ${JSON.stringify(reason)}`);
  }

  nodeIsUp(node: NodeId): boolean | undefined {
    if (this.up.has(node)) return true;
    return this.known.has(node) ? false : undefined;
  }
  upNodes(): NodeId[] {
    return [...this.up];
  }
  knownNodes(): NodeId[] {
    return [...this.known];
  }
  monNodes(cb: NodeMonitor): Guard {
    this.watchers.add(cb);
    return () => void this.watchers.delete(cb);
  }
  linkInfo(node: NodeId): LinkInfo | undefined {
    const c = this.conns.get(node);
    if (c) return { path: this.direct.isDirect(c) ? 'direct' : 'seed', rttMs: c.rttMs };
    if (this.up.has(node)) return { path: 'relay', rttMs: this.seedConn?.rttMs };
    return undefined;
  }

  async shutdown(): Promise<void> {
    this.stopping.abort();
    for (const c of [...this.conns.values()]) c.goodbye(`node ${this.nodeId} shut down`);
    this.direct.shutdown(`node ${this.nodeId} shut down`);
    await this.seed?.close();
    await this.direct.ws?.close();
    for (const n of [...this.up, ...this.sessions.peers()]) this.nodeDown(n, te(`this node (${this.nodeId}) shut down`));
  }
}

/** "host:port" → ws://host:port/ ; ws:// and wss:// URLs pass through. */
export function normalizeSeedUrl(s: string): string {
  if (/^wss?:\/\//i.test(s)) return s;
  return `ws://${s}/`;
}

export { isPortId };
