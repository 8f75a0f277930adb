/**
 * The Intro's chat server, improved: a port in group `eg_chat_server` that
 * keeps the joined client ports, monitors each (a dead client is announced
 * as quitting) and relays every line to all of them, in one order. It also
 * tells clients everyone's nick (the member list itself is grpMon of
 * `eg_chat_clients`) and answers pings (the clients show the RTT).
 */
import { grpReg, mon, port, rcv, snd, type Guard, type PortId } from '../../lib/index.ts';
import { MAX_TEXT, SERVER_GROUP, answerPings, cleanNick, describe } from '../../lib/chat/protocol.ts';

export interface ChatServerOptions {
  /** Where "relaying: …" lines go (the Intro prints them). */
  say?: (line: string) => void;
  /** Most clients at once; joins beyond it are refused with a notice. Default 1000. */
  maxClients?: number;
}

export interface ChatServer {
  port: PortId;
  /** Joined clients: port → nick. */
  clients: Map<PortId, string>;
}

/** Start the chat server on the default node and register it in `eg_chat_server`. */
export function chatServer(o: ChatServerOptions = {}): ChatServer {
  const say = o.say ?? (() => {});
  const maxClients = o.maxClients ?? 1000;
  const server = port();
  const clients = new Map<PortId, string>();
  const watches = new Map<PortId, Guard>();

  const toAll = (...msg: unknown[]) => {
    for (const c of clients.keys()) snd(c, ...msg);
  };
  const notice = (text: string) => {
    say(`relaying: ${text}`);
    toAll('notice', text);
  };
  const directory = () => toAll('nicks', Object.fromEntries(clients));
  const isClientPort = (p: unknown): p is PortId => typeof p === 'string' && p.includes('#') && p.length <= 600;

  rcv(server, {
    join: (client: unknown, nick: unknown) => {
      if (!isClientPort(client)) return;
      const name = cleanNick(String(nick)) || 'anonymous';
      if (!clients.has(client) && clients.size >= maxClients) {
        snd(client, 'notice', `the room is full (${maxClients} clients)`);
        return;
      }
      const again = clients.get(client);
      clients.set(client, name);
      if (!watches.has(client)) {
        watches.set(
          client,
          mon(client, (...reason: unknown[]) => {
            const gone = clients.get(client);
            clients.delete(client);
            watches.delete(client);
            notice(`${gone} (quits, ${describe(reason)})`);
            directory();
          }),
        );
      }
      snd(client, 'welcome', server);
      if (again === undefined) notice(`${name} (joins)`);
      directory();
    },
    privmsg: (nick: unknown, text: unknown) => {
      const n = cleanNick(String(nick)) || 'anonymous';
      const t = String(text).slice(0, MAX_TEXT);
      say(`relaying: ${n}: ${t}`);
      toAll('msg', n, t);
    },
    nick: (client: unknown, nick: unknown) => {
      if (!isClientPort(client) || !clients.has(client)) return;
      const old = clients.get(client)!;
      const name = cleanNick(String(nick));
      if (!name || name === old) return;
      clients.set(client, name);
      notice(`${old} is now known as ${name}`);
      directory();
    },
  });
  answerPings(server);
  // Anything else is ignored: a message without a callback would kill the port.
  rcv(server, (...msg: unknown[]) => say(`ignoring ${JSON.stringify(msg).slice(0, 200)}`));
  grpReg(SERVER_GROUP, server);
  return { port: server, clients };
}
