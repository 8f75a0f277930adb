/**
 * Capabilities over the real transport: token and anonymous pages on a real
 * seed try what a page may not do — kil and spawn on an honest node, trace,
 * node-port requests on their behalf (sndOn laundering of monfire, grp_chg,
 * grp_hello, grp_node), seed-only and registry packets, registering another
 * node's port — while an honest pair streams through the same seed. Each is
 * refused with an error the page hears, the targets are untouched, and the
 * pair loses nothing. A token granting `kil` may kil; secret holders keep
 * AEMP's semantics (kil, spawn, sndOn, trace).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { rawNode } from '../fixtures/raw-client.ts';
import { honestPair, hostile, killAll, MT, Peer, SECRET, startSeed, tokenFor, type HonestPair, type PeerEvent, type Seed } from './harness.ts';
import { RawPage } from './caps-raw.ts';

after(() => killAll());

let seed: Seed;
let pair: HonestPair;
/** On honest_b: a port pages try to kill, an echo port, and both registered in group 'chat'. */
let victim: string;
let echo: string;
/** a's events from here on: after it saw b's port in 'chat'. */
let chatMark: number;

const page = async (nodeid: string, token?: string, logLevel = 6): Promise<Peer> =>
  Peer.start({ nodeid, seeds: [seed.url], token, monitor_timeout: MT, connect_interval: 200, direct: false, logLevel });

/** The page's log line telling it a request of its was refused (remote.ts: 'denied'). */
const deniedLog = (p: Peer, req: string, since: number) =>
  p.waitFor((e) => e.ev === 'log' && e.level === 5 && new RegExp(`refused our ${req} request: AEMP_ERR_DENIED: `).test(e.msg), {
    since,
    timeoutMs: 20_000,
    what: `the refusal of ${req}`,
  });

/** Everything the page sent to b before this has been handled there: a call over the same session. */
async function roundTrip(p: Peer): Promise<void> {
  const r = await p.cmd<{ ok?: unknown[]; err?: unknown }>('call', { port: echo, msg: ['sync'], timeoutMs: 20_000 }, 30_000);
  assert.deepEqual(r, { ok: ['echo', pair.b.node, 'sync'] });
}

before(async () => {
  seed = await startSeed();
  pair = await honestPair(seed);
  const { a, b } = pair;
  victim = await b.cmd<string>('port', { name: 'victim' });
  echo = await b.cmd<string>('spawn', { node: b.node, init: 'echo' });
  await b.cmd('grpReg', { group: 'chat', port: victim });
  await a.cmd('grpMon', { group: 'chat' });
  await a.waitFor((e) => e.ev === 'grp' && e.group === 'chat' && e.ports.includes(victim), { timeoutMs: 20_000, what: "a sees b's port in chat" });
  chatMark = a.mark();
});

/** What a page without capabilities must not do, each refused; returns nothing, asserts everything. */
async function forbidden(p: Peer): Promise<void> {
  const { a, b } = pair;
  const s0 = p.mark();
  // kil of the honest node's port.
  await p.cmd('kil', { port: victim, reason: ['die', `killed by ${p.node}`] });
  await deniedLog(p, 'kil', s0);
  // spawn on it: the page's monitor on the new port fires with 'denied'.
  const sp = await p.cmd<string>('spawn', { node: b.node, init: 'echo', args: ['from page'] });
  const { mid } = await p.cmd<{ mid: number }>('mon', { port: sp, form: 'cb' });
  const fired = await p.waitFor((e) => e.ev === 'mon' && e.mid === mid, { since: s0, timeoutMs: 20_000, what: 'monitor on the refused spawn' });
  assert.equal(fired.reason[0], 'denied');
  assert.match(fired.reason[1], /^AEMP_ERR_DENIED: spawn of .* refused: a (token|anon) node may not send 'spawn' requests without the 'spawn' capability/);
  // trace: the reply port hears 'refused'.
  const tr = await p.cmd<string>('port', { name: 'tr' });
  await p.cmd('snd', { port: b.node, msg: ['trace', tr] });
  const refused = await p.waitFor((e) => e.ev === 'msg' && e.name === 'tr', { since: s0, timeoutMs: 20_000, what: 'trace refusal' });
  assert.equal(refused.msg[0], 'refused');
  assert.match(refused.msg[1], /^AEMP_ERR_DENIED: .*'trace' capability/);
  // sndOn laundering, through the seed and through honest_b: fire a's stream monitor, rewrite a's view of 'chat', empty it.
  const pagePort = await p.cmd<string>('port', { name: 'bait' });
  const launder: Array<[string, unknown[]]> = [
    [seed.peer.node, [a.node, 'monfire', 1, 'kill', 'laundered']],
    [b.node, [a.node, 'monfire', 1, 'kill', 'laundered']],
    [seed.peer.node, [a.node, 'grp_chg', 'chat', [pagePort], [victim]]],
    [b.node, [seed.peer.node, 'grp_hello', [], ['chat']]],
    [seed.peer.node, [seed.peer.node, 'grp_node', b.node, []]],
  ];
  for (const [via, msg] of launder) {
    const s = p.mark();
    await p.cmd('sndOn', { node: via, msg });
    await deniedLog(p, 'snd', s);
  }
  // The same requests sent straight to the node ports: seed-only or registry control, refused.
  for (const [dst, msg] of [
    [a.node, ['grp_chg', 'chat', [pagePort], [victim]]],
    [seed.peer.node, ['grp_node', b.node, []]],
    [seed.peer.node, ['grp_sync', []]],
    [b.node, ['nodes', pagePort]],
  ] as Array<[string, unknown[]]>) {
    const s = p.mark();
    await p.cmd('snd', { port: dst, msg });
    await deniedLog(p, String(msg[0]), s);
  }
  // Registering another node's port in a group: the seed refuses it (the page's node logs the refusal).
  const s1 = p.mark();
  await p.cmd('snd', { port: seed.peer.node, msg: ['grp_reg', 'chat', echo] });
  await p.waitFor((e) => e.ev === 'log' && /refused registering .* AEMP_ERR_GROUP_PORT/.test(e.msg), { since: s1, timeoutMs: 20_000, what: 'grp_reg refusal' });
  // All of it reached b and was handled before this call's reply; the targets are untouched.
  await roundTrip(p);
  assert.equal(await b.cmd('alive', { port: victim }), true);
  assert.deepEqual(b.filter((e) => e.ev === 'spawned' && e.args[0] === 'from page'), []);
  assert.deepEqual(b.filter((e) => e.ev === 'died'), []);
  // Whatever the seed would have told a about 'chat' it told before answering this watch of a's.
  await a.cmd('grpMon', { group: `sync-${p.node}` });
  await a.waitFor((e) => e.ev === 'grp' && e.group === `sync-${p.node}`, { timeoutMs: 20_000, what: 'sync group state' });
  assert.deepEqual(a.filter((e) => e.ev === 'grp' && e.group === 'chat', chatMark), []);
}

test('caps — a token page (no caps) is refused kil, spawn, trace, sndOn laundering, registry and seed-only requests, and hears why', async () => {
  const p = await page('web/page-default', await tokenFor('web/*'));
  await forbidden(p);
  // Its own groups and monitors work: it may watch 'chat' and monitor b's port.
  await p.cmd('grpMon', { group: 'chat' });
  await p.waitFor((e) => e.ev === 'grp' && e.group === 'chat' && e.ports.includes(victim), { timeoutMs: 20_000, what: 'page watches chat' });
  await p.cmd('exit');
});

test('caps — an anonymous page is refused the same', async () => {
  const p = await page('anon/page-anon');
  await forbidden(p);
  await p.cmd('exit');
});

test('caps — the raw page: seed-only packets close only its own link; registering another node\'s port and grp_hello touch only its own entries', async () => {
  const { a, b } = pair;
  const raw = await hostile(seed.url, { token: await tokenFor('web/*', { caps: ['trace'] }), nodeId: 'web/raw-page' });
  const rp = new RawPage(raw);
  // What the seed relays from the page carries its kind and caps; a forbidden request arrives as a 'refused' stand-in.
  const svc = await rawNode(seed.url, { nodeId: 'raw_service', secret: SECRET });
  rp.snd('raw_service', 'raw_service#inbox', 'hello');
  rp.snd('raw_service', 'raw_service', 'spawn', 'raw_service#web.1', 'echo');
  await svc.waitFrame(() => svc.packets.filter((p) => p[0] === 'f').length >= 2, 20_000);
  assert.deepEqual(
    svc.packets.filter((p) => p[0] === 'f').map((p) => [p[1], p[3], p[4], p[5], ...p.slice(6)]),
    [
      ['web/raw-page', 0, 'raw_service#inbox', ['hello'], 'token', ['trace']],
      ['web/raw-page', 1, 'raw_service', ['refused', 'spawn', "a token node may not send 'spawn' requests without the 'spawn' capability", 'raw_service#web.1'], 'token', ['trace']],
    ],
  );
  svc.link.close('done');
  // Its own hello with nothing, and a registration of b's port: b's entries stay.
  rp.snd(seed.peer.node, seed.peer.node, 'grp_hello', [['chat', [victim]]], ['chat']);
  rp.snd(seed.peer.node, seed.peer.node, 'grp_reg', 'chat', echo);
  rp.snd(seed.peer.node, seed.peer.node, 'monfire', 1, 'kill', 'forged');
  rp.snd(b.node, b.node, 'kil', victim, 'die', 'raw');
  const got = await rp.until((all) => all.filter((m) => m.msg[0] === 'grp_refused').length >= 2 && all.some((m) => m.msg[0] === 'grp_state') && all.some((m) => m.msg[0] === 'denied' && m.msg[1] === 'kil'));
  const refusals = got.filter((m) => m.msg[0] === 'grp_refused').map((m) => m.msg.slice(1, 4));
  assert.deepEqual(refusals, [
    ['chat', victim, 'AEMP_ERR_GROUP_PORT'],
    ['chat', echo, 'AEMP_ERR_GROUP_PORT'],
  ]);
  const state = got.find((m) => m.msg[0] === 'grp_state')!;
  assert.deepEqual(state.msg, ['grp_state', 'chat', [victim]]);
  const denied = got.find((m) => m.msg[0] === 'denied' && m.msg[1] === 'kil')!;
  assert.equal(denied.src, seed.peer.node);
  assert.deepEqual(denied.msg.slice(0, 2), ['denied', 'kil']);
  assert.match(denied.msg[2] as string, /^AEMP_ERR_DENIED: .*refused by seed sec_seed/);
  // Seed-only packets from a plain node: its own link closes, nothing else.
  raw.send([['F', a.node, b.node, 1, 0, b.node, ['kil', victim]]]);
  const why = await raw.closed;
  assert.match(why, /bad packet "F"/);
  assert.equal(await b.cmd('alive', { port: victim }), true);
});

test('caps — a token granting kil may kil; sndOn with the sndon cap still never reaches another node\'s node port', async () => {
  const { a, b } = pair;
  const p = await page('web/page-kil', await tokenFor('web/*', { caps: ['kil', 'sndon'] }));
  const doomed = await b.cmd<string>('port', { name: 'doomed' });
  await p.cmd('kil', { port: doomed, reason: ['die', 'by a page with kil'] });
  const died = await b.waitFor((e) => e.ev === 'died' && e.name === 'doomed', { timeoutMs: 20_000, what: 'doomed port killed' });
  assert.deepEqual(died.reason, ['die', 'by a page with kil']);
  const s = p.mark();
  await p.cmd('sndOn', { node: seed.peer.node, msg: [a.node, 'monfire', 1, 'kill', 'laundered'] });
  const line = await deniedLog(p, 'snd', s);
  assert.match(line.msg, /never sent on another node's behalf/);
  // sndOn to a port is AEMP's sndOn.
  const tr = await p.cmd<string>('port', { name: 'relayed' });
  await p.cmd('sndOn', { node: b.node, msg: [tr, 'via b'] });
  const m = await p.waitFor((e) => e.ev === 'msg' && e.name === 'relayed', { timeoutMs: 20_000, what: 'sndOn to a port' });
  assert.deepEqual(m.msg, ['via b']);
  // Without spawn in its token, spawn is still refused.
  const sp = await p.cmd<string>('spawn', { node: b.node, init: 'echo' });
  const { mid } = await p.cmd<{ mid: number }>('mon', { port: sp, form: 'cb' });
  const fired = await p.waitFor((e) => e.ev === 'mon' && e.mid === mid, { timeoutMs: 20_000, what: 'spawn refused' });
  assert.equal(fired.reason[0], 'denied');
  await p.cmd('exit');
});

test('caps — secret holders keep AEMP\'s semantics: kil, spawn, sndOn and trace', async () => {
  const { a, b } = pair;
  const doomed = await b.cmd<string>('port', { name: 'doomed2' });
  await a.cmd('kil', { port: doomed, reason: ['die', 'by a secret holder'] });
  await b.waitFor((e) => e.ev === 'died' && e.name === 'doomed2', { timeoutMs: 20_000, what: 'secret kil' });
  const sp = await a.cmd<string>('spawn', { node: b.node, init: 'echo', args: ['from a'] });
  await b.waitFor((e) => e.ev === 'spawned' && e.port === sp, { timeoutMs: 20_000, what: 'secret spawn' });
  const r = await a.cmd<string>('port', { name: 'via-b' });
  await a.cmd('sndOn', { node: b.node, msg: [r, 'hi'] });
  await a.waitFor((e) => e.ev === 'msg' && e.name === 'via-b', { timeoutMs: 20_000, what: 'secret sndOn' });
  const tr = await a.cmd<string>('port', { name: 'trace' });
  await a.cmd('snd', { port: b.node, msg: ['trace', tr, echo] });
  const on = await a.waitFor((e) => e.ev === 'msg' && e.name === 'trace', { timeoutMs: 20_000, what: 'trace on' });
  assert.deepEqual(on.msg, ['on', b.node, echo]);
});

test('caps — the honest pair lost nothing through all of it', async () => {
  const sent = await pair.check();
  assert.ok(sent > 0);
});
