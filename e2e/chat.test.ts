/**
 * e2e: the chat demo as `npm start` runs it (seed + page + chat server
 * child), two Chromium pages (alice, bob) and the terminal client (carol).
 * The demo and the browser are shared; each test opens its own room (two
 * pages and a terminal) and closes it, so each runs on its own as well as
 * in any order: chat, direct links, the chat server killed and restarted,
 * the seed restarted, a page closed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, openChat, screenshot, shownMembers, shownMessages, type ChatPage } from './browser.ts';
import { freePort, scratchRc, startDemo, startTerminal, type Demo, type Proc } from './procs.ts';

interface DemoApi {
  node(): string;
  nodeOf(p: string): string;
  linkInfo(n: string): { path: string; rttMs?: number } | undefined;
  state(): string;
  seed(): string | undefined;
  server(): string | undefined;
}
type W = { aempDemo: DemoApi };

const rc = scratchRc();
let port: number;
let demo: Demo;
let browser: Browser;

/** alice and bob (pages) and carol (terminal), all joined. */
interface Room {
  alice: ChatPage;
  bob: ChatPage;
  carol: Proc;
}

const joined = (p: Page, timeout = 15_000) =>
  p.waitForFunction(() => (window as unknown as Partial<W>).aempDemo?.state() === 'joined', undefined, { timeout });
const nodeIdOf = (p: Page) => p.evaluate(() => (window as unknown as W).aempDemo.node());
/** Wait until the page's member list shows exactly these nicks; on timeout, say what it shows. */
const membersAre = async (p: Page, nicks: string[], timeout = 10_000) => {
  try {
    await p.waitForFunction(
      (want) => {
        const got = Array.from(document.querySelectorAll<HTMLElement>('#members li')).map((li) => li.dataset.nick ?? '').sort();
        return JSON.stringify(got) === JSON.stringify(want);
      },
      [...nicks].sort(),
      { timeout },
    );
  } catch (e) {
    const seen = await p.evaluate(() => ({
      members: (window as unknown as { aempDemo: { members(): unknown } }).aempDemo.members(),
      state: (window as unknown as W).aempDemo.state(),
      servers: (window as unknown as { aempDemo: { servers(): unknown } }).aempDemo.servers(),
      log: Array.from(document.querySelectorAll('#log li')).slice(-12).map((li) => li.textContent),
    }));
    throw new Error(`${(e as Error).message}\nwanted ${nicks}; the page shows ${JSON.stringify(seen, null, 1)}`);
  }
};
/** Wait until `text` is the page's last message. */
const lastMessageIs = (p: Page, line: string, timeout = 10_000) =>
  p.waitForFunction(
    (want) => {
      const li = Array.from(document.querySelectorAll<HTMLElement>('#log li.msg')).at(-1);
      return li !== undefined && `${li.dataset.nick}: ${li.lastChild?.textContent}` === want;
    },
    line,
    { timeout },
  );
const terminalMessages = (p: Proc) => p.lines.filter((l) => /^(alice|bob|carol): /.test(l));

async function sayOnPage(p: Page, text: string): Promise<void> {
  await p.fill('#text', text);
  await p.click('#send');
}

before(async () => {
  port = await freePort();
  [demo, browser] = await Promise.all([startDemo({ rc: rc.rc, dist: rc.dist, port }), launchChromium()]);
});

after(async () => {
  await browser?.close();
  await demo?.proc.stop();
  rc.remove();
});

/** Runs body in a fresh room, all three in each other's member lists; closes the room after (pages say goodbye, the terminal quits). */
async function inRoom(body: (r: Room) => Promise<void>, d: Demo = demo): Promise<void> {
  const pages = await Promise.all([openChat(browser, d.url, { nick: 'alice' }), openChat(browser, d.url, { nick: 'bob' })]);
  const [alice, bob] = pages;
  const carol = startTerminal({ rc: rc.rc, seed: d.seed, nick: 'carol' });
  try {
    await Promise.all([joined(alice.page), joined(bob.page), carol.waitLine(/^! joined as carol /)]);
    await Promise.all([membersAre(alice.page, ['alice', 'bob', 'carol']), membersAre(bob.page, ['alice', 'bob', 'carol'])]);
    await body({ alice, bob, carol });
  } finally {
    await Promise.all([alice.close(), bob.close(), carol.stop()]);
  }
}

test('chat — two pages and a terminal client see each message exactly once, in order', () => inRoom(async ({ alice, bob, carol }) => {
  const sent: string[] = [];
  const senders = [
    ['alice', (t: string) => sayOnPage(alice.page, t)],
    ['bob', (t: string) => sayOnPage(bob.page, t)],
    ['carol', async (t: string) => carol.type(t)],
  ] as const;
  for (let i = 1; i <= 5; i++) for (const [nick] of senders) sent.push(`${nick}: ${nick} says ${i}`);
  // All three at once, each in its own order: the server's order is the only order, and everyone must see it.
  await Promise.all(
    senders.map(async ([nick, send]) => {
      for (let i = 1; i <= 5; i++) await send(`${nick} says ${i}`);
    }),
  );
  // Once the server relayed all 15 (the terminal got them), a last line goes behind everything else:
  // where it is shown last, everything the server relayed before it has arrived.
  await carol.waitLine(/^alice: alice says 5$/);
  await carol.waitLine(/^bob: bob says 5$/);
  await carol.waitLine(/^carol: carol says 5$/);
  carol.type('over');
  await Promise.all([lastMessageIs(alice.page, 'carol: over'), lastMessageIs(bob.page, 'carol: over'), carol.waitLine(/^carol: over$/)]);

  const onAlice = await shownMessages(alice.page);
  const onBob = await shownMessages(bob.page);
  const onCarol = terminalMessages(carol);
  assert.deepEqual(onBob, onAlice, 'both pages show the same lines in the same order');
  assert.deepEqual(onCarol, onAlice, 'the terminal shows the same lines in the same order');
  assert.equal(onAlice.length, 16);
  assert.deepEqual([...onAlice].sort(), [...sent, 'carol: over'].sort(), 'every line exactly once');
  for (const nick of ['alice', 'bob', 'carol']) {
    const mine = onAlice.filter((l) => l.startsWith(`${nick}: `) && l !== 'carol: over');
    assert.deepEqual(mine, sent.filter((l) => l.startsWith(`${nick}: `)), `${nick}'s lines in the order sent`);
  }
  await screenshot(alice.page, 'chat-alice');
}));

test('direct — the two pages, and a page and the chat server (Node), talk over direct data channels', () => inRoom(async ({ alice, bob }) => {
  const [a, b] = await Promise.all([nodeIdOf(alice.page), nodeIdOf(bob.page)]);
  const pathFrom = (p: Page, peer: string) =>
    p.waitForFunction((n) => (window as unknown as W).aempDemo.linkInfo(n)?.path === 'direct', peer, { timeout: 20_000 });
  const serverNode = (await alice.page.evaluate(() => (window as unknown as W).aempDemo.server()))!.split('#')[0]!;
  await Promise.all([pathFrom(alice.page, b), pathFrom(bob.page, a), pathFrom(alice.page, serverNode)]);
  assert.equal(await alice.page.evaluate((n) => (window as unknown as W).aempDemo.linkInfo(n)?.path, b), 'direct');
  assert.equal(await bob.page.evaluate((n) => (window as unknown as W).aempDemo.linkInfo(n)?.path, a), 'direct');
  assert.equal(await alice.page.evaluate((n) => (window as unknown as W).aempDemo.linkInfo(n)?.path, serverNode), 'direct');
  // Chat still flows, and the page shows the direct path.
  await sayOnPage(bob.page, 'now direct');
  await lastMessageIs(alice.page, 'bob: now direct');
  await alice.page.waitForFunction(() => document.querySelector('#conn')?.getAttribute('data-state') === 'direct', undefined, { timeout: 5000 });
  await alice.page.waitForFunction((n) => document.querySelector(`#members li[data-node="${n}"] .path-direct`) !== null, b, { timeout: 5000 });
  await screenshot(alice.page, 'chat-direct');
}));

test('recovery — killing the chat server shows a notice; after its restart chat works again without reloading', () => inRoom(async ({ alice, bob, carol }) => {
  const from = demo.proc.lines.length;
  // The server running now (the room joined through it): the last pid the demo said.
  const pidLines = demo.proc.lines.flatMap((l, i) => (/^demo: chat server pid \d+/.test(l) ? [i] : []));
  const pid = await demo.chatServerPid(pidLines.at(-1) ?? 0);
  process.kill(pid, 'SIGKILL');
  // The notice: a banner while the server is gone, and a line in the log that stays.
  await alice.page.waitForSelector('#notice:not([hidden])', { timeout: 5000 });
  assert.match((await alice.page.textContent('#notice')) ?? '', /The chat server went away/);
  await screenshot(alice.page, 'server-lost');
  for (const p of [alice.page, bob.page]) {
    await p.waitForFunction(() => Array.from(document.querySelectorAll('#log li.status')).some((li) => /lost the chat server/.test(li.textContent ?? '')), undefined, {
      timeout: 5000,
    });
  }
  await carol.waitLine(/^! lost the chat server/, 5000);
  // `npm start` restarts the server a second later; the clients find it through its group.
  const newPid = await demo.chatServerPid(from);
  assert.notEqual(newPid, pid);
  for (const p of [alice.page, bob.page]) {
    await p.waitForFunction(() => Array.from(document.querySelectorAll('#log li.status')).some((li) => /found the chat server again$/.test(li.textContent ?? '')), undefined, {
      timeout: 15_000,
    });
    await joined(p);
  }
  await carol.waitLine(/^! found the chat server again$/, 15_000);
  assert.equal(await alice.page.isHidden('#notice'), true);
  await sayOnPage(alice.page, 'still here');
  await Promise.all([lastMessageIs(bob.page, 'alice: still here'), carol.waitLine(/^alice: still here$/)]);
  await screenshot(alice.page, 'server-back');
}));

test('reconnect — the pages and the terminal rejoin when the seed goes away and comes back', async () => {
  // A demo of its own (its own port, so its own mesh): the shared one stays up for the other tests.
  const ownPort = await freePort();
  let own = await startDemo({ rc: rc.rc, dist: rc.dist, port: ownPort });
  try {
    await inRoom((r) => reconnect(r, async () => {
      await own.proc.stop('SIGTERM');
      return async () => (own = await startDemo({ rc: rc.rc, dist: rc.dist, port: ownPort }));
    }), own);
  } finally {
    await own.proc.stop();
  }
});

/** The seed stops (stop() resolves to the restart) and comes back; the room carries on. */
async function reconnect({ alice, bob, carol }: Room, stop: () => Promise<() => Promise<unknown>>): Promise<void> {
  const restart = await stop();
  await alice.page.waitForFunction(() => (window as unknown as W).aempDemo.seed() === undefined, undefined, { timeout: 5000 });
  assert.match((await alice.page.textContent('#conn')) ?? '', /reconnecting/);
  await screenshot(alice.page, 'seed-lost');
  await restart();
  for (const p of [alice.page, bob.page]) {
    await p.waitForFunction(() => (window as unknown as W).aempDemo.seed() === 'demo_seed', undefined, { timeout: 15_000 });
    await joined(p);
  }
  await membersAre(alice.page, ['alice', 'bob', 'carol'], 15_000);
  await sayOnPage(bob.page, 'back after the seed restart');
  await Promise.all([lastMessageIs(alice.page, 'bob: back after the seed restart', 15_000), carol.waitLine(/^bob: back after the seed restart$/, 15_000)]);
  assert.match(carol.lines.filter((l) => l.startsWith('! ')).at(-1)!, /^! found the chat server again$/);
}

test('goodbye — closing a page removes its member from the others by its goodbye, not a lost link', () => inRoom(async ({ alice, bob, carol }) => {
  // bob is in the room as the server sees it (a line of his reached carol through it), so his quit is announced.
  await sayOnPage(bob.page, 'leaving now');
  await carol.waitLine(/^bob: leaving now$/);
  const from = carol.lines.length;
  // runBeforeUnload: the page goes through pagehide, as when a user closes the tab.
  await bob.page.close({ runBeforeUnload: true });
  // The goodbye (the reason below) is what counts here; how fast is the bench's.
  await membersAre(alice.page, ['alice', 'carol']);
  // The server heard a goodbye (the node shut down), not a lost link.
  const quit = await carol.waitLine(/^\* bob \(quits, (.*)\)$/, 10_000, from);
  assert.match(quit[1]!, /shut down/);
  assert.deepEqual((await shownMembers(alice.page)).sort(), ['alice', 'carol']);
  await screenshot(alice.page, 'goodbye');
}));
