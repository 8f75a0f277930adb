/**
 * The chat of AnyEvent::MP's Intro, as both clients run it (the browser page
 * and `npm run chat`); isomorphic, over the default node's AEMP functions.
 *
 * Protocol (the Intro's, plus a few tags):
 *   client → server  ['join', clientPort, nick]   ['privmsg', nick, text]   ['nick', clientPort, nick]
 *   server → client  ['welcome', serverPort]   ['msg', nick, text]   ['notice', text]   ['nicks', {port: nick}]
 *   anyone → port    ['ping', replyPort, t]  answered by  ['pong', port, t]
 *
 * The client finds the server through the group `eg_chat_server`, makes a
 * port that dies with the server (`mon(server, …)`), registers it in
 * `eg_chat_clients` (the live member list is grpMon of that group) and
 * joins. A supervisor — a monitor on the client's own port — notices its
 * death, says so, and starts over a second later: the server, the seed or
 * the client's link may die and come back in any order.
 */
import {
  after, defaultNode, grpGet, grpMon, grpReg, kil, linkInfo, mon, monGuard, nodeOf, port, rcv, snd,
  type Guard, type LinkInfo, type NodeId, type PortId,
} from '../index.ts';

/** Round-trip times by the default node's clock (lib/ takes time from the injected Clock). */
const now = (): number => defaultNode().clock.now();

export const SERVER_GROUP = 'eg_chat_server';
export const CLIENT_GROUP = 'eg_chat_clients';
/** Longest nick and line the server relays (longer ones are cut). */
export const MAX_NICK = 32;
export const MAX_TEXT = 2000;

export type ChatLine =
  | { kind: 'msg'; nick: string; text: string }
  /** From the server: joins, quits, nick changes. */
  | { kind: 'notice'; text: string }
  /** From this client: lost the server, found it again. */
  | { kind: 'status'; text: string };

export interface Member {
  port: PortId;
  node: NodeId;
  nick: string | undefined;
  self: boolean;
  /** How messages to the member's node travel now (linkInfo). */
  path: LinkInfo['path'] | undefined;
  /** Round trip of the last ping/pong between the two client ports. */
  rttMs: number | undefined;
}

/**
 * 'looking': no server found yet; 'joining': join sent to `server`, no welcome yet;
 * 'joined': in the room; 'lost': the server (or the link to it) died and no
 * server has welcomed us since (looking, or joining, again).
 */
export type ChatState = 'looking' | 'joining' | 'joined' | 'lost';

export interface ChatClientOptions {
  nick: string;
  onLine(line: ChatLine): void;
  onState?(state: ChatState, server: PortId | undefined): void;
  onMembers?(members: Member[]): void;
  /** Pause before looking for the server again. Default 1000 ms. */
  retryMs?: number;
  /** How often members and the server are pinged (RTT, and traffic that lets direct links form). Default 2000 ms. */
  pingMs?: number;
}

/** Answer ['ping', replyPort, t] on port p with ['pong', p, t]. */
export function answerPings(p: PortId): void {
  rcv(p, 'ping', (reply: unknown, t: unknown) => {
    if (typeof reply === 'string') snd(reply, 'pong', p, t);
  });
}

export const cleanNick = (s: string): string => s.replace(/\s+/g, ' ').trim().slice(0, MAX_NICK);

export class ChatClient {
  nick: string;
  state: ChatState = 'looking';
  server: PortId | undefined;
  me: PortId | undefined;
  private stopped = false;
  /** Lost the server since the last welcome: 'lost' lasts until the next welcome. */
  private lost = false;
  /** Server ports known to be dead (never reused, so never picked again). */
  private gone = new Set<PortId>();
  private retry: Guard | undefined;
  private members: PortId[] = [];
  private nicks: Record<PortId, string> = {};
  private rtt = new Map<PortId, number>();
  private serverRtt: number | undefined;
  private pinger: Guard | undefined;
  private groupGuard: Guard | undefined;

  constructor(private readonly o: ChatClientOptions) {
    this.nick = cleanNick(o.nick) || 'anonymous';
  }

  /** Look for the server and join; keeps doing so whenever the server is lost. */
  start(): void {
    this.groupGuard = grpMon(CLIENT_GROUP, (ports, _added, removed) => {
      this.members = ports;
      for (const p of removed) this.rtt.delete(p);
      this.emitMembers();
    });
    this.connect();
    this.schedulePing();
  }

  /** Send a line to the room; false when there is no server right now. */
  say(text: string): boolean {
    if (this.state !== 'joined' || !this.server) return false;
    snd(this.server, 'privmsg', this.nick, text.slice(0, MAX_TEXT));
    return true;
  }

  /** Change the nick (the server announces it). */
  setNick(nick: string): void {
    const n = cleanNick(nick);
    if (!n || n === this.nick) return;
    this.nick = n;
    if (this.state === 'joined' && this.server && this.me) snd(this.server, 'nick', this.me, n);
  }

  /** The current member list (as given to onMembers). */
  memberList(): Member[] {
    return this.members.map((p) => {
      const node = nodeOf(p);
      const info = linkInfo(node);
      return { port: p, node, nick: this.nicks[p], self: p === this.me, path: info?.path, rttMs: p === this.me ? 0 : this.rtt.get(p) };
    });
  }

  /** How the server's node is reached, and the last ping round trip to the server. */
  serverLink(): { node: NodeId; path: LinkInfo['path'] | undefined; rttMs: number | undefined } | undefined {
    if (!this.server) return undefined;
    const node = nodeOf(this.server);
    return { node, path: linkInfo(node)?.path, rttMs: this.serverRtt };
  }

  /** Leave the room: the client port dies normally, nothing restarts. */
  stop(): void {
    this.stopped = true;
    this.retry?.();
    this.pinger?.();
    this.groupGuard?.();
    if (this.me) kil(this.me);
  }

  /** Remember a server port as gone for good (the last 64). */
  private forget(server: PortId): void {
    this.gone.add(server);
    if (this.gone.size > 64) this.gone.delete(this.gone.values().next().value!);
  }

  private setState(s: ChatState): void {
    this.state = s;
    this.o.onState?.(s, this.server);
  }

  /** The Intro's connect step: find a server, or try again in a second. */
  private connect(): void {
    this.retry = undefined;
    if (this.stopped) return;
    // Every client picks the same one when there are several; a port known to be gone
    // may still be listed for a moment (a stale view), and would be picked again and again.
    const server = grpGet(SERVER_GROUP)?.filter((p) => !this.gone.has(p)).sort()[0];
    if (server === undefined) {
      this.retry = after(this.o.retryMs ?? 1000, () => this.connect());
      return;
    }
    const me = port();
    this.me = me;
    this.server = server;
    this.nicks = {};
    rcv(me, {
      welcome: () => {
        this.setState('joined');
        if (this.lost) this.o.onLine({ kind: 'status', text: 'found the chat server again' });
        this.lost = false;
      },
      msg: (nick: unknown, text: unknown) => this.o.onLine({ kind: 'msg', nick: String(nick), text: String(text) }),
      notice: (text: unknown) => this.o.onLine({ kind: 'notice', text: String(text) }),
      nicks: (dir: unknown) => {
        if (dir && typeof dir === 'object') this.nicks = dir as Record<PortId, string>;
        this.emitMembers();
      },
      pong: (from: unknown, t: unknown) => {
        if (typeof t !== 'number') return;
        if (from === this.server) this.serverRtt = now() - t;
        else if (typeof from === 'string') this.rtt.set(from, now() - t);
      },
    });
    answerPings(me);
    rcv(me, () => {}); // unknown tags are ignored rather than killing the client port
    // The client port dies with the server (whatever the reason), and takes its registration along.
    monGuard(
      me,
      mon(server, (...reason: unknown[]) => {
        // Port IDs are never reused: a port that does not exist (or was killed) stays gone.
        // A transport error says nothing about the port, only about the way to it.
        if (reason[0] !== 'transport_error') this.forget(server);
        kil(me, ...(reason.length ? reason : ['server_gone', 'the chat server left']));
      }),
    );
    monGuard(me, grpReg(CLIENT_GROUP, me));
    // The supervisor: when the client port dies, say so and start over.
    mon(me, (...reason: unknown[]) => {
      if (this.me === me) this.me = undefined;
      if (this.stopped) return;
      const wasJoined = this.state === 'joined';
      this.server = undefined;
      // A server that died before it welcomed us (a stale group entry) is no news.
      if (wasJoined) {
        this.lost = true;
        this.o.onLine({ kind: 'status', text: `lost the chat server (${describe(reason)}); looking for it again` });
      }
      this.setState(this.lost ? 'lost' : 'looking');
      this.retry = after(this.o.retryMs ?? 1000, () => this.connect());
    });
    snd(server, 'join', me, this.nick);
    this.setState(this.lost ? 'lost' : 'joining');
    this.ping();
  }

  private schedulePing(): void {
    this.pinger = after(this.o.pingMs ?? 2000, () => {
      this.ping();
      this.emitMembers();
      if (!this.stopped) this.schedulePing();
    });
  }

  private ping(): void {
    const me = this.me;
    if (!me) return;
    const t = now();
    if (this.server) snd(this.server, 'ping', me, t);
    for (const p of this.members) if (p !== me) snd(p, 'ping', me, t);
  }

  private emitMembers(): void {
    this.o.onMembers?.(this.memberList());
  }
}

/** A kill reason as a short text. */
export function describe(reason: unknown[]): string {
  if (reason.length === 0) return 'normal exit';
  return reason.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join(': ');
}
