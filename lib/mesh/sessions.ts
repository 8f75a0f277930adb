/**
 * Message sessions between two nodes: the sender numbers its messages to
 * each peer (a random session id plus a sequence number); the receiver
 * accepts them only in sequence. A missing number means a message was lost
 * on the way (a relay died, a link broke): from then on everything in that
 * session is dropped and the sender is told, so it fires its monitors —
 * the AEMP guarantee, whatever path (seed, relay, direct) the messages took.
 */
import type { NodeId } from '../ids.ts';

export interface TxSession {
  sid: number;
  seq: number;
  /** The link these messages went out on last (a Conn), to know what a link loss affects. */
  via: unknown;
}

/**
 * A TxSession that counts, per link, the sessions going over it: a seed has
 * one session per attached node, each over that node's own link, and a link
 * lost (10,000 of them when a client process dies) must not walk them all
 * to find the none that went over it.
 */
class Tx implements TxSession {
  seq = 0;
  private v: unknown = undefined;

  constructor(
    readonly sid: number,
    private readonly counts: Map<unknown, number>,
  ) {}

  get via(): unknown {
    return this.v;
  }

  set via(v: unknown) {
    if (v === this.v) return;
    this.count(-1);
    this.v = v;
    this.count(1);
  }

  /** Dropped from its Sessions: counted no more (a caller may still hold it and set via). */
  drop(): void {
    this.count(-1);
    this.dropped = true;
  }

  private dropped = false;

  private count(d: number): void {
    if (this.v === undefined || this.dropped) return;
    const n = (this.counts.get(this.v) ?? 0) + d;
    if (n > 0) this.counts.set(this.v, n);
    else this.counts.delete(this.v);
  }
}

interface RxSession {
  sid: number;
  next: number;
  broken: boolean;
}

/** 'dup': an earlier number again (a direct link's unacknowledged messages resent over the relay); dropped quietly. */
export type RxVerdict = 'ok' | 'gap' | 'drop' | 'dup';

export class Sessions {
  private tx = new Map<NodeId, Tx>();
  /** Sessions per `via` (Tx keeps it). */
  private viaCounts = new Map<unknown, number>();
  private rx = new Map<NodeId, RxSession>();

  constructor(private readonly random: () => number) {}

  /** The session for messages to `node`, started if there is none. */
  txFor(node: NodeId): TxSession {
    let s = this.tx.get(node);
    if (s === undefined) {
      s = new Tx(1 + Math.floor(this.random() * 0x7ffffffe), this.viaCounts);
      this.tx.set(node, s);
    }
    return s;
  }

  txSid(node: NodeId): number | undefined {
    return this.tx.get(node)?.sid;
  }

  /** The session for messages to `node`, if one is running (never starts one). */
  txIf(node: NodeId): TxSession | undefined {
    return this.tx.get(node);
  }

  /**
   * Check an incoming message; 'gap' once when a loss is first seen, then
   * 'drop'. A number already accepted is a resent copy ('dup'): a sender
   * falling back from a direct link resends what the link did not confirm,
   * so either copy may arrive first; both paths are in order, so no hole.
   */
  accept(from: NodeId, sid: number, seq: number): RxVerdict {
    let r = this.rx.get(from);
    if (r === undefined || r.sid !== sid) {
      // A new session starts at 0; anything else means its start was lost.
      r = { sid, next: 0, broken: seq !== 0 };
      this.rx.set(from, r);
      if (r.broken) return 'gap';
    }
    if (r.broken) return 'drop';
    if (seq < r.next && seq >= 0) return 'dup';
    if (seq !== r.next) {
      r.broken = true;
      return 'gap';
    }
    r.next++;
    return 'ok';
  }

  /** Nodes other than `except` whose outgoing messages last went over `via`. */
  txVia(via: unknown, except?: NodeId): NodeId[] {
    const n = this.viaCounts.get(via) ?? 0;
    // The common case on a seed: a node's link carried only that node's own session.
    if (n === 0 || (n === 1 && except !== undefined && this.tx.get(except)?.via === via)) return [];
    const out: NodeId[] = [];
    for (const [node, s] of this.tx) if (s.via === via && node !== except) out.push(node);
    return out;
  }

  peers(): NodeId[] {
    return [...new Set([...this.tx.keys(), ...this.rx.keys()])];
  }

  has(node: NodeId): boolean {
    return this.tx.has(node) || this.rx.has(node);
  }

  /** Forget both directions (the node went down; the next message starts afresh). */
  drop(node: NodeId): void {
    this.tx.get(node)?.drop();
    this.tx.delete(node);
    this.rx.delete(node);
  }
}
