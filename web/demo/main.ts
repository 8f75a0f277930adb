/**
 * The chat page: joins the mesh through the seed that served it (with a
 * token from GET /token, or ?token=…&nodeid=…, or ?anon where the seed
 * allows it), runs the chat client and shows the room, the members with
 * their link path and RTT, and the connection state.
 *
 * URL parameters: nick, token + nodeid, anon, seed (a ws:// URL), relay
 * (direct links through TURN only: iceTransportPolicy 'relay').
 * `window.aempDemo` exposes the node's state to tests (linkInfo, members, …).
 */
import { configure, grpGet, linkInfo, monLinkFailures, monSeed, nodeOf, shutdown, upNodes, NODE } from '../index.ts';
import { ChatClient, SERVER_GROUP, type ChatLine, type ChatState, type Member } from '../../lib/chat/protocol.ts';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const NICK_KEY = 'aemp-chat-nick';

const ui = {
  conn: $('conn'),
  whoami: $('whoami'),
  error: $('error'),
  notice: $('notice'),
  log: $('log'),
  form: $<HTMLFormElement>('say'),
  nick: $<HTMLInputElement>('nick'),
  text: $<HTMLInputElement>('text'),
  send: $<HTMLButtonElement>('send'),
  members: $('members'),
  count: $('count'),
  server: $('server'),
};

// ---- the nickname: from ?nick=, else remembered, else made up ----------------

let storedNick: string | null = null;
try {
  storedNick = localStorage.getItem(NICK_KEY);
} catch {
  // storage may be disabled; the nick is then not remembered
}
const nick = params.get('nick') || storedNick || `guest-${Math.random().toString(36).slice(2, 6)}`;
const rememberNick = (n: string) => {
  try {
    localStorage.setItem(NICK_KEY, n);
  } catch {
    // as above
  }
};
rememberNick(nick);
ui.nick.value = nick;

// ---- the log ------------------------------------------------------------------

function addLine(l: ChatLine): void {
  const li = document.createElement('li');
  li.className = l.kind;
  const time = document.createElement('time');
  time.textContent = new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  li.append(time);
  if (l.kind === 'msg') {
    const who = document.createElement('span');
    who.className = 'nick';
    who.textContent = l.nick;
    li.dataset.nick = l.nick;
    li.append(who, document.createTextNode(l.text));
  } else {
    li.append(document.createTextNode(l.kind === 'notice' ? `* ${l.text}` : l.text));
  }
  const atBottom = ui.log.scrollTop + ui.log.clientHeight >= ui.log.scrollHeight - 4;
  ui.log.append(li);
  if (atBottom) ui.log.scrollTop = ui.log.scrollHeight;
}

function showBanner(el: HTMLElement, text: string | undefined): void {
  el.hidden = !text;
  el.textContent = text ?? '';
}

// ---- connection state -----------------------------------------------------------

let seedNode: string | undefined;
let everLinked = false;
let refused: string | undefined;
let chatState: ChatState = 'looking';

/** Nodes of the room (members, the chat server) this page reaches over a direct data channel. */
function directPeers(): string[] {
  const nodes = new Set((client?.memberList() ?? []).filter((m) => !m.self).map((m) => m.node));
  const s = client?.serverLink();
  if (s) nodes.add(s.node);
  return [...nodes].filter((n) => linkInfo(n)?.path === 'direct');
}

function renderConn(): void {
  let state: string;
  let text: string;
  if (refused) [state, text] = ['refused', 'refused by the seed'];
  else if (!seedNode) [state, text] = ['connecting', everLinked ? 'reconnecting…' : 'connecting…'];
  else {
    const direct = directPeers().length;
    const rtt = medianRtt(seedNode, linkInfo(seedNode)?.rttMs);
    [state, text] = direct
      ? ['direct', `connected · direct to ${direct} peer${direct === 1 ? '' : 's'}`]
      : ['seed', `connected via seed ${seedNode}${rtt !== undefined ? ` · ${rtt < 1 ? '<1' : Math.round(rtt)} ms` : ''}`];
  }
  ui.conn.dataset.state = state;
  ui.conn.textContent = text;
  let notice: string | undefined;
  if (!refused && everLinked && !seedNode) notice = 'Lost the link to the seed — reconnecting…';
  else if (!refused && chatState === 'lost') notice = 'The chat server went away — looking for it again…';
  showBanner(ui.notice, notice);
  const joined = chatState === 'joined' && !refused;
  ui.text.disabled = !joined;
  ui.send.disabled = !joined;
}

/** The last few RTTs measured per node (a new heartbeat reply changes linkInfo's rttMs). */
const RTT_SAMPLES = 5;
const rtts = new Map<string, number[]>();

/** The median of the last RTT_SAMPLES pings to `node`, with `rttMs` (the latest) taken in: one slow ping does not make the badge jump. */
function medianRtt(node: string, rttMs: number | undefined): number | undefined {
  if (rttMs === undefined) return undefined;
  let s = rtts.get(node);
  if (!s) rtts.set(node, (s = []));
  if (s.at(-1) !== rttMs) {
    s.push(rttMs);
    if (s.length > RTT_SAMPLES) s.shift();
  }
  const sorted = [...s].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function pathBadge(path: string | undefined, rttMs: number | undefined): HTMLElement {
  const span = document.createElement('span');
  const b = document.createElement('span');
  b.className = `path path-${path ?? 'unknown'}`;
  b.textContent = path ?? '…';
  span.append(b);
  if (rttMs !== undefined && path !== 'self') {
    const r = document.createElement('span');
    r.className = 'rtt';
    r.textContent = `${rttMs < 1 ? '<1' : Math.round(rttMs)} ms`;
    span.append(r);
  }
  return span;
}

function renderMembers(list: Member[]): void {
  const items = list
    .slice()
    .sort((a, b) => Number(b.self) - Number(a.self) || (a.nick ?? '').localeCompare(b.nick ?? ''))
    .map((m) => {
      const li = document.createElement('li');
      li.dataset.port = m.port;
      li.dataset.node = m.node;
      li.dataset.nick = m.nick ?? '';
      const who = document.createElement('span');
      who.className = 'who';
      who.textContent = `${m.nick ?? '…'}${m.self ? ' (you)' : ''}`;
      const node = document.createElement('span');
      node.className = 'node';
      node.textContent = m.node;
      const link = pathBadge(m.self ? 'self' : m.path, medianRtt(m.node, m.rttMs));
      link.className = 'link';
      li.append(who, link, node);
      return li;
    });
  ui.members.replaceChildren(...items);
  ui.count.textContent = `(${list.length})`;
}

function renderServer(): void {
  const s = client?.serverLink();
  if (!s || chatState !== 'joined') {
    ui.server.textContent = chatState === 'lost' ? 'lost; looking for it again…' : 'looking for it…';
    return;
  }
  ui.server.replaceChildren(document.createTextNode(`${s.node} `), pathBadge(s.path, medianRtt(s.node, s.rttMs)));
}

// ---- joining ----------------------------------------------------------------------

interface Credentials {
  nodeid: string;
  token?: string | (() => Promise<string>);
}

/** A new node ID and token; or, given the ID and its previous token, a fresh token for the same ID. */
async function fetchToken(renew?: { nodeid: string; token: string }): Promise<{ nodeid: string; token: string }> {
  // Bounded: a server going down may take the request and never answer.
  const res = await fetch(renew ? `token?nodeid=${encodeURIComponent(renew.nodeid)}` : 'token', {
    cache: 'no-store',
    signal: AbortSignal.timeout(10_000),
    headers: renew ? { authorization: `Bearer ${renew.token}` } : {},
  });
  if (!res.ok) throw new Error(`GET /token: HTTP ${res.status}`);
  return (await res.json()) as { nodeid: string; token: string };
}

/**
 * The page's node ID and token. From /token, the token is a function: the
 * mesh calls it before every connect and reconnect, so a page open longer
 * than a token lives gets a fresh one for the same node ID (the first
 * connect uses the one fetched with the ID).
 */
async function credentials(): Promise<Credentials> {
  if (params.has('anon')) return { nodeid: 'anon/' };
  const token = params.get('token');
  if (token) return { nodeid: params.get('nodeid') || 'web/' + Math.random().toString(36).slice(2, 12), token };
  const first = await fetchToken();
  let fresh: string | undefined = first.token;
  // The last token we had proves the ID is ours when we ask for the next one.
  let last = first.token;
  const source = async () => {
    const t = fresh ?? (await fetchToken({ nodeid: first.nodeid, token: last })).token;
    fresh = undefined;
    last = t;
    return t;
  };
  return { nodeid: first.nodeid, token: source };
}

/** "AEMP_ERR_REFUSED_BY_PEER: refused by peer: AEMP_ERR_TOKEN token expired: …" → the seed's words. */
function refusalText(why: string): string {
  const m = /(AEMP_ERR_(?:TOKEN|AUTH))\s+(.*)$/.exec(why);
  return m ? `${m[2]} (${m[1]})` : why;
}

let client: ChatClient | undefined;

async function start(): Promise<void> {
  // Tests may hold the start (e2e: getUserMedia, so Chromium offers host candidates on loopback-only machines).
  await (window as { aempBeforeJoin?: Promise<unknown> }).aempBeforeJoin;
  const seed = params.get('seed') || `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`;
  // A wrong or expired token will not get better by retrying: say so and stop.
  monLinkFailures((_url, why) => {
    if (refused || !/AEMP_ERR_(TOKEN|AUTH)\b/.test(why)) return;
    refused = refusalText(why);
    showBanner(ui.error, `The seed refused this page: ${refused}. Reload the page to try again.`);
    renderConn();
    void shutdown();
  });
  let cred: Credentials;
  try {
    cred = await credentials();
  } catch (e) {
    refused = (e as Error).message;
    showBanner(ui.error, `Cannot get a token: ${refused}`);
    renderConn();
    return;
  }
  await configure({
    seeds: [seed],
    nodeid: cred.nodeid,
    token: cred.token,
    monitor_timeout: 3000,
    connect_interval: 1000,
    // ?relay: direct links only through TURN relays (the seed hands out the TURN servers; tests use it).
    ...(params.has('relay') ? { iceTransportPolicy: 'relay' } : {}),
  });
  if (refused) return;
  ui.whoami.textContent = NODE;
  monSeed((s) => {
    if (s === seedNode) return;
    if (s && everLinked) addLine({ kind: 'status', text: `linked to seed ${s} again` });
    else if (!s && seedNode) addLine({ kind: 'status', text: `lost the link to seed ${seedNode}; reconnecting…` });
    seedNode = s;
    if (s) everLinked = true;
    renderConn();
  });
  client = new ChatClient({
    nick,
    onLine: addLine,
    onState: (s) => {
      chatState = s;
      renderConn();
      renderServer();
    },
    onMembers: renderMembers,
  });
  client.start();
  setInterval(() => {
    renderConn();
    renderServer();
    if (client) renderMembers(client.memberList());
  }, 1000);
}

ui.form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = ui.text.value.trim();
  if (text && client?.say(text)) ui.text.value = '';
});
ui.nick.addEventListener('change', () => {
  const n = ui.nick.value.trim();
  if (!n) return void (ui.nick.value = client?.nick ?? nick);
  rememberNick(n);
  client?.setNick(n);
});

// For tests and the curious (devtools): the page's node and chat state.
Object.assign(window, {
  aempDemo: {
    node: () => NODE,
    nodeOf,
    linkInfo,
    upNodes,
    state: () => chatState,
    seed: () => seedNode,
    refused: () => refused,
    server: () => client?.server,
    servers: () => grpGet(SERVER_GROUP),
    members: () => client?.memberList() ?? [],
    rttSamples: (node: string) => rtts.get(node) ?? [],
    say: (text: string) => client?.say(text) ?? false,
  },
});

renderConn();
start().catch((e) => showBanner(ui.error, `Could not start: ${(e as Error).message}`));
