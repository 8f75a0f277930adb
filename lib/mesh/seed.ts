/**
 * What makes a node a seed: it listens, links to every other seed it
 * learns of (full mesh), knows which seed each node is attached to, relays
 * messages between nodes, and tells its nodes when a node goes down.
 *
 * Seed packets: ['r', dst, sid, seq, port, msg] node → seed relay request;
 * ['f', src, ...] seed → node; ['F', src, dst, ...] seed → seed; both
 * end in [kind, caps] when src is a page (the seed it is attached to
 * stamps them from its handshake: docs/security.md), nothing otherwise;
 * runs of messages ['R', dst, sid, seq0, port, msg, …] node → seed,
 * ['G', src, sid, seq0, …] seed → node, ['Q', src, dst, sid, seq0, …]
 * seed → seed (relay-runs.ts; from secret holders only past the first seed);
 * ['fnack', src, dst, text]; ['att', node] / ['det', node, reason] /
 * ['dir', nodes] directory gossip among seeds; ['seeds', urls];
 * ['down', node, reason] and ['nack', dst, text] to nodes. The group
 * registry rides on node-port requests (groups/seed-groups.ts).
 */
import { denial, stampedSender, TRUSTED, type Cap } from '../caps.ts';
import type { PeerKind } from './peer-kind.ts';
import { isNodeId, type NodeId, type PortId } from '../ids.ts';
import type { Message } from '../kernel.ts';
import { logger } from '../log.ts';
import type { Packet } from '../protocol/codec.ts';
import { RawTail } from '../protocol/raw-tail.ts';
import { RELAY_CODEC, expandPacket, expandTail } from '../protocol/raw-tail-expand.ts';
import type { Conn } from './conn.ts';
import { parseBind } from './binds.ts';
import { backoffMs } from './dial.ts';
import type { SeedHost } from './hosts.ts';
import { Interest } from './interest.ts';
import type { TxSession } from './sessions.ts';
import { SeedGroups } from '../groups/seed-groups.ts';
import type { Frame, Link } from '../link.ts';
import { Admission } from './admission.ts';
import { RelayQuota } from './quota.ts';
import { MESH_CODES } from './errors.ts';
import { HANDSHAKE_CODES } from '../protocol/errors.ts';

const log = logger('seed');

/** What a seed appends to a relayed message: nothing for a secret holder, [kind, caps] for a page. */
export type Stamp = readonly [] | readonly [PeerKind, readonly Cap[]];
const NO_STAMP: Stamp = Object.freeze([]) as Stamp;

export class SeedRole {
  /** Nodes attached to other seeds: node → its seed. */
  readonly directory = new Map<NodeId, NodeId>();
  listening = false;
  private servers: Array<{ url: string; close(): Promise<void> }> = [];
  private dialling = new Set<string>();
  /** Handshakes in progress, in all and per address (admission.ts). */
  readonly admission: Admission;
  /** Relay quota of each incoming link's node (quota.ts); the last one looked up is cached (packets come in batches per link). */
  private quotas = new WeakMap<Link, RelayQuota>();
  private lastQuotaConn: Conn | undefined;
  private lastQuota: RelayQuota | undefined;
  /** Relayed packets (tests and benchmarks count relay traffic with it). */
  relayed = 0;
  /** Which local nodes hear of which node's `down` (interest.ts). */
  readonly interest = new Interest();
  /** The global group registry this seed holds (a replica; see groups/). */
  readonly groups: SeedGroups;
  /** How this seed's links read and write relayed bytes (raw-tail.ts): only seeds load that code. */
  readonly relayCodec = RELAY_CODEC;

  constructor(private readonly m: SeedHost) {
    this.groups = new SeedGroups(m);
    this.admission = new Admission({ total: m.o.maxPendingHandshakes, perAddress: m.o.maxPendingPerAddress });
  }

  /** Handshakes in progress (tests). */
  get pendingHandshakes(): number {
    return this.admission.pending;
  }

  /** Our own URLs, as told to others. */
  get urls(): string[] {
    return this.m.o.advertise ?? this.servers.map((s) => s.url);
  }

  async listen(): Promise<void> {
    const listen = this.m.o.transport.listen;
    if (!listen) throw new Error('this environment cannot listen: a seed needs binds and a server transport');
    for (const b of this.m.o.binds) {
      const admit = { admitTimeoutMs: this.m.o.admitTimeoutMs, maxPendingPerAddress: this.m.o.maxPendingPerAddress };
      const srv = await listen(parseBind(b), (link) => this.accept(link), admit);
      this.servers.push(srv);
      log.note(`seed ${this.m.nodeId} listening on ${srv.url}`);
    }
    this.listening = true;
  }

  private accept(link: Link): void {
    const ticket = this.admission.admit(link.remoteAddress, (why) => link.close(why));
    if (typeof ticket === 'string') {
      log.warn(`refusing a link from ${link.remoteAddress ?? 'an unknown address'}: ${ticket}`, 'busy');
      link.close(`${MESH_CODES.BUSY}: too many pending handshakes: ${ticket}`);
      return;
    }
    // Every byte the node sends counts against its relay quota (bytes/s), from the first frame on; a node
    // without limits loses its quota once its kind is known (quotaOf, from onConnUp), so holds none while idle.
    this.quotas.set(link, new RelayQuota(this.m.clock));
    chargeFrames(link, this.quotas);
    this.m.establish(link, false).then(
      () => ticket.done(),
      (e: Error & { code?: string }) => {
        ticket.done();
        log.warn(`refused an incoming link: ${e.code ?? ''} ${e.message}`, 'refused-link');
      },
    );
  }

  /** Keep a link to the seed at `url` (unless it is us, or already linked). */
  dial(url: string): void {
    if (this.dialling.has(url) || this.urls.includes(url)) return;
    this.dialling.add(url);
    void this.dialLoop(url);
  }

  private async dialLoop(url: string): Promise<void> {
    let failures = 0;
    const m = this.m;
    let peerAtUrl: string | undefined;
    while (!m.signal.aborted) {
      // Linked to that seed already (it dialled us): wait until that link goes.
      peerAtUrl ??= m.urlOwner.get(url);
      const existing = peerAtUrl !== undefined ? m.conns.get(peerAtUrl) : undefined;
      if (existing?.isOpen) {
        await new Promise<void>((r) => {
          const prev = m.closeWaiters.get(existing);
          m.closeWaiters.set(existing, () => (prev?.(), r()));
        });
        if (m.signal.aborted) return;
        await m.sleep(backoffMs(m.o.connectIntervalMs, 1, m.node.random));
        continue;
      }
      try {
        const link = await m.o.transport.connect(url, { signal: m.signal, timeoutMs: m.o.monitorTimeoutMs });
        const c = await m.establish(link, true);
        peerAtUrl = c.peer;
        failures = 0;
        await new Promise<void>((r) => m.closeWaiters.set(c, r));
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code === MESH_CODES.SELF || code === HANDSHAKE_CODES.SELF_CONNECT) {
          this.dialling.delete(url);
          return;
        }
        failures++;
        if (code !== MESH_CODES.DUPLICATE_NODE) log.note(`cannot link to seed ${url}: ${code ? `${code} ` : ''}${(e as Error).message}`);
      }
      if (m.signal.aborted) return;
      await m.sleep(backoffMs(m.o.connectIntervalMs, Math.max(1, failures), m.node.random));
    }
  }

  /** A link came up: tell seeds who is here, tell nodes which seeds exist. */
  onConnUp(c: Conn): void {
    const m = this.m;
    if (!c.peerIsSeed) this.quotaOf(c);
    const seedUrls = [...new Set([...this.urls, ...m.seedUrls])];
    c.send(['seeds', seedUrls, this.urls]);
    if (c.peerIsSeed) {
      c.send(['dir', this.localNodes()]);
    } else {
      this.directory.delete(c.peer);
      for (const s of this.seedConns()) s.send(['att', c.peer]);
    }
  }

  onConnDown(c: Conn, reason: string): void {
    if (this.lastQuotaConn === c) this.lastQuotaConn = this.lastQuota = undefined;
    const why = ['transport_error', `node ${c.peer} lost its link to seed ${this.m.nodeId}: ${reason}`];
    if (c.peerIsSeed) {
      // Everything routed through that seed may have lost messages.
      for (const [n, s] of [...this.directory]) {
        if (s !== c.peer) continue;
        this.directory.delete(n);
        this.tellNodesDown(n, ['transport_error', `lost the link to seed ${c.peer} (${reason})`]);
        this.m.nodeDown(n, ['transport_error', `lost the link to seed ${c.peer} (${reason})`]);
      }
      this.tellNodesDown(c.peer, why);
    } else {
      for (const s of this.seedConns()) s.send(['det', c.peer, why]);
      this.interest.forget(c.peer);
      this.tellNodesDown(c.peer, why);
    }
  }

  /** Tell the local nodes that talked with `node` (through this seed) that it is down. */
  private tellNodesDown(node: NodeId, reason: unknown[]): void {
    for (const n of this.interest.take(node)) {
      const c = this.m.conns.get(n);
      if (c !== undefined && !c.peerIsSeed && n !== node) c.send(['down', node, reason]);
    }
  }

  private localNodes(): NodeId[] {
    const out: NodeId[] = [];
    for (const c of this.m.conns.values()) if (!c.peerIsSeed) out.push(c.peer);
    return out;
  }

  private seedConns(): Conn[] {
    return [...this.m.seedConns];
  }

  /** Seed packets; false if `p` is not one. */
  onPacket(p: Packet, c: Conn): boolean {
    const m = this.m;
    switch (p[0]) {
      case 'r': {
        if (p[2] instanceof RawTail) {
          // A secret holder's request, decoded up to its destination: its bytes go on as they came.
          if (!isNodeId(p[1]) || p[2].count !== 4) return (m.bad(c, p), true);
          if (p[1] !== m.nodeId) return (this.forward(c.peer, p[1], p[2], c), true);
          p = expandPacket(p);
        }
        // Relay request from a node (or seed): the link's peer is the sender, whatever it claims.
        const [, dst, sid, seq, port, msg] = p;
        if (!isNodeId(dst)) return (m.bad(c, p), true);
        const stamp = this.stampOf(c);
        this.route(c.peer, dst, sid, seq, port, stamp.length === 0 ? msg : this.screen(c.peer, dst, port, msg, stamp), c, stamp);
        return true;
      }
      case 'R': {
        // A run of messages to dst numbered on from seq0 (mesh.ts send): ['R', dst, sid, seq0, port, msg, port, msg, …];
        // a secret holder's pairs stay bytes (a RawTail) and go on as one packet, a page's are screened one by one.
        const [, dst, sid, seq0, t] = p;
        const raw = t instanceof RawTail;
        const k = raw ? t.count : p.length - 4;
        if (!isNodeId(dst) || typeof sid !== 'number' || typeof seq0 !== 'number' || k < 2 || k % 2 !== 0 || (raw && p.length !== 5))
          return (m.bad(c, p), true);
        if (raw && dst !== m.nodeId) return (this.forward(c.peer, dst, t, c, [sid, seq0]), true);
        const v = raw ? expandPacket(p) : p;
        const stamp = this.stampOf(c);
        for (let i = 4; i < v.length; i += 2) {
          const port = v[i];
          const msg = stamp.length === 0 ? v[i + 1] : this.screen(c.peer, dst, port, v[i + 1], stamp);
          this.route(c.peer, dst, sid, seq0 + (i - 4) / 2, port, msg, c, stamp);
        }
        return true;
      }
      case 'Q': {
        // A run between seeds: ['Q', src, dst, sid, seq0, port, msg, …], from a secret holder (a page's runs are split at its seed).
        if (!c.peerIsSeed) return false;
        const [, s, d, sid, seq0, t] = p;
        const raw = t instanceof RawTail;
        const k = raw ? t.count : p.length - 5;
        if (!isNodeId(s) || !isNodeId(d) || typeof sid !== 'number' || typeof seq0 !== 'number' || k < 2 || k % 2 !== 0 || (raw && p.length !== 6))
          return (m.bad(c, p), true);
        const dn = m.conns.get(d);
        if (d !== m.nodeId && dn && !dn.peerIsSeed) {
          this.relayed += k / 2;
          this.interest.note(d, s);
          dn.send(raw ? ['G', s, sid, seq0, t] : ['G', s, ...p.slice(3)]);
        } else if (d === m.nodeId) {
          const v = raw ? expandPacket(p) : p;
          for (let i = 5; i < v.length; i += 2) m.deliver(s, sid, seq0 + (i - 5) / 2, v[i], v[i + 1], TRUSTED);
        } else c.send(['fnack', s, d, `node ${d} is not attached to seed ${m.nodeId}`]);
        return true;
      }
      case 'F': {
        if (!c.peerIsSeed) return false;
        if (p[3] instanceof RawTail) {
          const [, s, d, t] = p;
          if (!isNodeId(s) || !isNodeId(d) || (t.count !== 4 && t.count !== 6)) return (m.bad(c, p), true);
          const dn = m.conns.get(d);
          if (d !== m.nodeId && dn && !dn.peerIsSeed) {
            // The stamp of src's own seed, if any, is in the tail: the receiving node re-reads it (stampedSender).
            this.relayed++;
            this.interest.note(d, s);
            dn.send(['f', s, t]);
            return true;
          }
          p = expandPacket(p);
        }
        const [, src, dst, sid, seq, port, msg, kind, caps] = p;
        if (!isNodeId(src) || !isNodeId(dst)) return (m.bad(c, p), true);
        const to = m.conns.get(dst);
        // The stamp of src's own seed goes on with the message (re-read, so only a well-formed one).
        const who = stampedSender(kind, caps);
        if (dst === m.nodeId) m.deliver(src, sid, seq, port, msg, who);
        else if (to && !to.peerIsSeed) {
          this.relayed++;
          this.interest.note(dst, src);
          to.send(who.kind === 'secret' ? ['f', src, sid, seq, port, msg] : ['f', src, sid, seq, port, msg, who.kind, who.caps]);
        } else c.send(['fnack', src, dst, `node ${dst} is not attached to seed ${m.nodeId}`]);
        return true;
      }
      case 'fnack': {
        if (!c.peerIsSeed || !isNodeId(p[1]) || !isNodeId(p[2])) return false;
        const text = String(p[3]);
        if (p[1] === m.nodeId) m.nodeDown(p[2], ['transport_error', text]);
        else m.conns.get(p[1])?.send(['nack', p[2], text]);
        return true;
      }
      case 'att':
        if (!c.peerIsSeed || !isNodeId(p[1])) return false;
        if (!m.conns.has(p[1])) this.directory.set(p[1], c.peer);
        return true;
      case 'det': {
        if (!c.peerIsSeed || !isNodeId(p[1])) return false;
        if (this.directory.get(p[1]) === c.peer) this.directory.delete(p[1]);
        const reason = Array.isArray(p[2]) ? (p[2] as unknown[]) : ['transport_error', `node ${p[1]} is down`];
        this.tellNodesDown(p[1], reason);
        m.nodeDown(p[1], reason);
        return true;
      }
      case 'dir':
        if (!c.peerIsSeed || !Array.isArray(p[1])) return false;
        for (const n of p[1]) if (isNodeId(n) && !m.conns.has(n)) this.directory.set(n, c.peer);
        return true;
    }
    return false;
  }

  /** The stamp for relayed packets from the peer of `c`: none for secret holders, [kind, caps] for pages. */
  private stampOf(c: Conn): Stamp {
    if (c.kind === 'secret') return NO_STAMP;
    const s = this.m.senderOf(c);
    return [s.kind, s.caps];
  }

  /**
   * A page's relayed message to another node's node port with a request
   * the page may not make is not forwarded: in its place goes ['refused',
   * req, text, spawnId?], which keeps the page's message numbers to dst in
   * sequence (no gap that would cut its session) and lets dst answer the
   * page's monitors on a refused spawn; the page hears why from us.
   */
  private screen(src: NodeId, dst: NodeId, port: unknown, msg: unknown, stamp: Stamp): unknown {
    const m = this.m;
    if (dst === m.nodeId || typeof port !== 'string' || port.indexOf('#') >= 0 || !Array.isArray(msg) || typeof msg[0] !== 'string') return msg;
    const req = msg[0];
    const why = denial(stampedSender(stamp[0], stamp[1]), req);
    if (why === undefined) return msg;
    log.warn(`not relaying ${req.slice(0, 40)} from ${src} to ${dst}: ${why}`, 'not-relaying');
    // Told as if refused here (remote.ts): ['denied', …] to the page, ['refused', …] to a trace's reply port.
    m.node.kernel.onDenied?.(src, req, msg.slice(1), `${why} (refused by seed ${m.nodeId})`);
    return req === 'spawn' ? ['refused', req, why, msg[1]] : ['refused', req, why];
  }

  /** Forward a message from src (authenticated; `stamp`: its kind and caps if a page) to dst. */
  private route(src: NodeId, dst: NodeId, sid: unknown, seq: unknown, port: unknown, msg: unknown, from: Conn, stamp: Stamp): void {
    const m = this.m;
    if (!from.peerIsSeed) {
      const q = this.lastQuotaConn === from ? this.lastQuota : this.quotaOf(from);
      if (q !== undefined && !q.take()) return this.overQuota(from, q, dst, sid);
    }
    if (dst === m.nodeId) return m.deliver(src, sid, seq, port, msg, m.senderOf(from));
    const to = m.conns.get(dst);
    this.relayed++;
    if (!from.peerIsSeed) this.interest.note(src, dst);
    if (to) {
      if (!to.peerIsSeed) this.interest.note(dst, src);
      if (stamp.length === 0) to.send(to.peerIsSeed ? ['F', src, dst, sid, seq, port, msg] : ['f', src, sid, seq, port, msg]);
      else to.send(to.peerIsSeed ? ['F', src, dst, sid, seq, port, msg, ...stamp] : ['f', src, sid, seq, port, msg, ...stamp]);
      return;
    }
    const viaSeed = this.directory.get(dst);
    const sc = viaSeed !== undefined ? m.conns.get(viaSeed) : undefined;
    if (sc) {
      sc.send(stamp.length === 0 ? ['F', src, dst, sid, seq, port, msg] : ['F', src, dst, sid, seq, port, msg, ...stamp]);
      return;
    }
    this.relayed--;
    from.send(['nack', dst, `node ${dst} is not known to seed ${m.nodeId}`]);
  }

  /**
   * route() for a secret holder's message kept as bytes (raw-tail.ts): [sid, seq, port, msg] in `t`, no stamp;
   * or, given `run` ([sid, seq0]), a run's pairs [port, msg, …], which count as that many messages and go on
   * as one packet ('G' to a node, 'Q' to a seed): all of them within the quota, or the whole run dropped.
   */
  private forward(src: NodeId, dst: NodeId, t: RawTail, from: Conn, run?: readonly [number, number]): void {
    const m = this.m;
    const n = run === undefined ? 1 : t.count / 2;
    if (!from.peerIsSeed) {
      const q = this.lastQuotaConn === from ? this.lastQuota : this.quotaOf(from);
      if (q !== undefined && !q.take(n)) return this.overQuota(from, q, dst, run === undefined ? expandTail(t)[0] : run[0]);
    }
    const to = m.conns.get(dst);
    const sc = to ?? m.conns.get(this.directory.get(dst) ?? m.nodeId);
    if (sc === undefined) {
      from.send(['nack', dst, `node ${dst} is not known to seed ${m.nodeId}`]);
      return;
    }
    this.relayed += n;
    if (!from.peerIsSeed) this.interest.note(src, dst);
    if (to !== undefined && !to.peerIsSeed) {
      this.interest.note(dst, src);
      to.send(run === undefined ? ['f', src, t] : ['G', src, run[0], run[1], t]);
    } else sc.send(run === undefined ? ['F', src, dst, t] : ['Q', src, dst, run[0], run[1], t]);
  }

  /**
   * A message from the node on `from` for this seed's own ports ('m' on its
   * link): it counts against the node's relay quota like a relayed one, since
   * serving a node-port request (a monitor, a group registration, TURN
   * credentials: one HMAC each) costs the seed as much as relaying; without
   * this a page could flood the seed itself. False: dropped, and the sender
   * told as for a relayed message (its monitors on this seed fire).
   */
  admitOwn(from: Conn, sid: unknown): boolean {
    if (from.peerIsSeed) return true;
    const q = this.lastQuotaConn === from ? this.lastQuota : this.quotaOf(from);
    if (q === undefined || q.take()) return true;
    this.overQuota(from, q, this.m.nodeId, sid);
    return false;
  }

  /** The relay quota of the node on `c` (undefined: unlimited), configured from its kind on first use. */
  private quotaOf(c: Conn): RelayQuota | undefined {
    let q = this.quotas.get(c.link);
    if (q !== undefined && !q.configured) {
      const o = this.m.o;
      const page = c.kind !== 'secret';
      const limited = q.configure({
        messagesPerSec: page ? o.pageRelayMessagesPerSec : o.relayMessagesPerSec,
        bytesPerSec: page ? o.pageRelayBytesPerSec : o.relayBytesPerSec,
      });
      if (!limited) this.quotas.delete(c.link);
    }
    q = this.quotas.get(c.link);
    this.lastQuotaConn = c;
    this.lastQuota = q;
    return q;
  }

  /** A relay request over quota: dropped; the sender's monitors on dst fire (once per session), and a node over quota for long loses its link. */
  private overQuota(from: Conn, q: RelayQuota, dst: NodeId, sid: unknown): void {
    if (q.nackDue(dst, sid)) {
      const why = `${MESH_CODES.QUOTA}: node ${from.peer} is over its relay quota at seed ${this.m.nodeId} (${q.describe()}); messages to ${dst} dropped`;
      from.send(['nack', dst, why]);
      log.note(why, 'quota');
    }
    const closeMs = this.m.o.quotaCloseMs;
    if (closeMs > 0 && q.overMs >= closeMs) {
      const text = `${MESH_CODES.QUOTA}: node ${from.peer} stayed over its relay quota for ${Math.round(closeMs / 1000)} s (${q.dropped} messages dropped)`;
      log.warn(`closing the link: ${text}`, 'quota-close');
      from.close(text);
    }
  }

  /** This seed's own message to a node it has no link to. */
  relayOwn(node: NodeId, s: TxSession, port: PortId, msg: Message): void {
    const m = this.m;
    const viaSeed = this.directory.get(node);
    const sc = viaSeed !== undefined ? m.conns.get(viaSeed) : undefined;
    if (!sc) {
      m.sessions.drop(node);
      m.lost(node, `node ${node} is not known to seed ${m.nodeId}`);
      return;
    }
    s.via = sc;
    sc.send(['F', m.nodeId, node, s.sid, s.seq++, port, msg]);
    m.markUp(node);
  }

  async close(): Promise<void> {
    const s = this.servers;
    this.servers = [];
    await Promise.all(s.map((x) => x.close()));
  }
}

/**
 * Every frame from `link` charged to its quota before its handler sees it. Made
 * here, not in accept(): closures share their function's scope, so these would
 * keep the admission ticket (and its slot's closures) alive for the link's life.
 */
function chargeFrames(link: Link, quotas: WeakMap<Link, RelayQuota>): void {
  const set = link.setHandlers.bind(link);
  link.setHandlers = (h) => set(h.frame ? { ...h, frame: charging(link, quotas, h.frame) } : h);
}

function charging(link: Link, quotas: WeakMap<Link, RelayQuota>, frame: (f: Frame) => void): (f: Frame) => void {
  return (f) => (quotas.get(link)?.charge(typeof f === 'string' ? f.length : f.byteLength), frame(f));
}
