/**
 * A hand-driven page (the harness's hostile client) that numbers its
 * relayed messages like a real node (one session per destination), so what
 * it sends is taken as a real node's message and only the capability rules
 * stand between it and the target.
 */
import type { RawNode } from '../fixtures/raw-client.ts';

export interface Relayed {
  src: string;
  port: string;
  msg: unknown[];
  /** The seed's stamp of the sender's kind ([] for a secret holder). */
  stamp: unknown[];
}

export class RawPage {
  private sessions = new Map<string, { sid: number; seq: number }>();
  constructor(readonly raw: RawNode) {}

  /** Send msg to `port` on node `dst` through the seed (['r', …]). */
  snd(dst: string, port: string, ...msg: unknown[]): void {
    this.sndMany(dst, [[port, msg]]);
  }

  /** Many messages in one frame. */
  sndMany(dst: string, items: Array<[string, unknown[]]>): void {
    let s = this.sessions.get(dst);
    if (!s) this.sessions.set(dst, (s = { sid: 1 + Math.floor(Math.random() * 0x7ffffffe), seq: 0 }));
    const ss = s;
    this.raw.send(items.map(([port, msg]) => ['r', dst, ss.sid, ss.seq++, port, msg]));
  }

  private parsed: Relayed[] = [];
  private scanned = 0;

  /** Messages to us so far, from the seed itself or relayed by it (parsed once each, so waiting on 100,000s stays linear). */
  all(): Relayed[] {
    const packets = this.raw.packets;
    for (; this.scanned < packets.length; this.scanned++) {
      const p = packets[this.scanned]!;
      // A secret holder's run, relayed: ['G', src, sid, seq0, port, msg, port, msg, …] (docs/protocol.md).
      if (p[0] === 'G') {
        for (let i = 4; i + 1 < p.length; i += 2) this.parsed.push({ src: p[1] as string, port: p[i] as string, msg: p[i + 1] as unknown[], stamp: [] });
        continue;
      }
      // The seed's own messages come as ['m', sid, seq, port, msg] or, in a run, ['n', port, msg]; others' as ['f', src, sid, seq, port, msg, …].
      const m =
        p[0] === 'm'
          ? { src: this.raw.result.peerNode, port: p[3] as string, msg: p[4] as unknown[], stamp: [] }
          : p[0] === 'n'
            ? { src: this.raw.result.peerNode, port: p[1] as string, msg: p[2] as unknown[], stamp: [] }
            : p[0] === 'f'
            ? { src: p[1] as string, port: p[4] as string, msg: p[5] as unknown[], stamp: p.slice(6) }
            : undefined;
      if (m !== undefined) this.parsed.push(m);
    }
    return this.parsed;
  }

  received(pred: (m: Relayed) => boolean = () => true): Relayed[] {
    return this.all().filter(pred);
  }

  /** Wait until pred holds for what was received (at most timeoutMs); pred sees the same, growing array each time. */
  async until(pred: (all: Relayed[]) => boolean, timeoutMs = 20_000, what = 'relayed messages'): Promise<Relayed[]> {
    if (pred(this.all())) return this.all();
    try {
      await this.raw.waitFrame(() => pred(this.all()), timeoutMs);
    } catch {
      throw new Error(`timed out waiting for ${what}; last received: ${JSON.stringify(this.all().slice(-5)).slice(0, 1000)}`);
    }
    return this.all();
  }
}
