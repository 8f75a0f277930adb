/**
 * Sending messages over a direct link: compactly, and kept until the peer
 * confirms them.
 *
 * Compact: a data channel carries fewer bytes per second than a local
 * WebSocket, so a message whose session number is the previous one's and
 * whose sequence number is the previous one's plus one travels as
 * ['n', port, msg] instead of ['m', sid, seq, port, msg]; the receiver
 * numbers it from the last 'm' or 'n' on the same link (links are ordered).
 *
 * Kept: the peer acknowledges what it took (['ack', sid, seq]); when the
 * link dies, what is still unconfirmed is resent over the relay with the
 * same numbers, so the receiver gets every message exactly once (it drops
 * copies it has) and no hole opens. What is kept is the encoded frames the
 * link was given (a few large buffers, cheap for the garbage collector at
 * a million messages a second), decoded again only for a resend; messages
 * not yet encoded are kept as they are. Past `limit` unconfirmed messages
 * the buffer gives up (the link can then no longer fall back; losing it
 * fires monitors) until the peer has confirmed everything sent so far.
 */
import type { Frame } from '../link.ts';
import type { Packet } from '../protocol/codec.ts';

/** Frames holding `count` messages, numbered (firstSid, firstSeq) to (sid, seq), and maybe control packets. */
interface Sent {
  firstSid: number;
  firstSeq: number;
  sid: number;
  seq: number;
  count: number;
  frames: Frame[];
}

export class DirectTx {
  private sent: Sent[] = [];
  private head = 0;
  /** Messages given to the link but not encoded yet (it encodes once per tick). */
  private pending: Packet[] = [];
  private pendingSid = -1;
  private pendingSeq = -1;
  private kept = 0;
  /** Numbers of the last message sent, and of the last one the peer confirmed. */
  private sid = -1;
  private seq = -1;
  private ackSid = -1;
  private ackSeq = -1;
  /** Past the limit: the last seq sent while giving up; intact again once it is confirmed. */
  private gaveUpAt = -1;
  /** Messages sent, ever (idle detection counts them). */
  pushed = 0;

  constructor(
    private readonly out: { send(p: Packet): void },
    private readonly limit: number,
    private readonly decode: (frames: Frame[]) => Packet[],
  ) {}

  /** Unconfirmed messages held. */
  get size(): number {
    return this.kept + this.pending.length;
  }

  /** True if every unconfirmed message is still here, so it can be resent. */
  get intact(): boolean {
    return this.gaveUpAt < 0;
  }

  /** Send message `seq` of session `sid` to `port`. */
  send(sid: number, seq: number, port: string, msg: unknown[]): void {
    const p: Packet = sid === this.sid && seq === this.seq + 1 ? ['n', port, msg] : ['m', sid, seq, port, msg];
    this.sid = sid;
    this.seq = seq;
    this.pushed++;
    this.out.send(p);
    if (this.gaveUpAt >= 0) {
      this.gaveUpAt = seq;
      return;
    }
    if (this.pending.length === 0) {
      this.pendingSid = sid;
      this.pendingSeq = seq;
    }
    this.pending.push(p);
  }

  /** The link encoded everything it was given so far into `frames`. */
  encoded(frames: Frame[]): void {
    const n = this.pending.length;
    if (n === 0) return;
    this.pending = [];
    this.sent.push({ firstSid: this.pendingSid, firstSeq: this.pendingSeq, sid: this.sid, seq: this.seq, count: n, frames });
    this.kept += n;
    if (this.kept > this.limit) {
      this.sent = [];
      this.head = 0;
      this.kept = 0;
      this.gaveUpAt = this.seq;
    }
  }

  /** The peer has every message of session `sid` up to `seq`. */
  ack(sid: unknown, seq: unknown): void {
    if (typeof sid !== 'number' || typeof seq !== 'number') return;
    this.ackSid = sid;
    this.ackSeq = seq;
    if (this.gaveUpAt >= 0) {
      if (sid === this.sid && seq >= this.gaveUpAt) this.gaveUpAt = -1;
      return;
    }
    const s = this.sent;
    let h = this.head;
    while (h < s.length && s[h]!.sid === sid && s[h]!.seq <= seq) {
      this.kept -= s[h]!.count;
      s[h++] = DONE;
    }
    if (h === s.length) {
      this.sent = [];
      this.head = 0;
    } else if (h > 64 && h * 2 > s.length) {
      this.sent = s.slice(h);
      this.head = 0;
    } else this.head = h;
  }

  /** Take the unconfirmed messages as ['m', sid, seq, port, msg], oldest first; undefined if some were given up. */
  take(): Packet[] | undefined {
    let out: Packet[] | undefined;
    if (this.intact) {
      out = [];
      for (let i = this.head; i < this.sent.length; i++) {
        const e = this.sent[i]!;
        this.unpack(this.decode(e.frames), e.firstSid, e.firstSeq, out);
      }
      this.unpack(this.pending, this.pendingSid, this.pendingSeq, out);
    }
    this.sent = [];
    this.head = 0;
    this.kept = 0;
    this.pending = [];
    return out;
  }

  /** The unconfirmed messages among `packets` (the first numbered sid/seq), written out as 'm' packets. */
  private unpack(packets: Packet[], sid: number, seq: number, out: Packet[]): void {
    let first = true;
    for (const p of packets) {
      if (p[0] === 'm') {
        sid = p[1] as number;
        seq = p[2] as number;
      } else if (p[0] === 'n') {
        if (!first) seq++;
      } else continue;
      first = false;
      if (sid !== this.ackSid || seq > this.ackSeq) out.push(p[0] === 'm' ? p : ['m', sid, seq, p[1], p[2]]);
    }
  }
}

const DONE: Sent = { firstSid: -1, firstSeq: -1, sid: -1, seq: -1, count: 0, frames: [] };
