/**
 * e2e: tab life. A frozen or heavily throttled tab runs no script for a
 * while: no heartbeats, no message handlers, while its sockets stay open
 * and the browser queues what arrives. This Chromium (headless) ignores
 * CDP Page.setWebLifecycleState 'frozen' for its pages (timers keep
 * running), so the tests stop the page's script the way a freeze does,
 * with the debugger (CDP Debugger.pause / resume). The seed's
 * monitor_timeout is 6 s here (profile), the pages' too.
 *
 * - Stopped for less than that, the page is not declared dead and loses
 *   nothing: what the room said meanwhile is shown after, in order.
 * - Stopped for longer, the seed declares it dead (the room sees it quit);
 *   once it runs again it reconnects, rejoins and chats, without a reload.
 * - Throttled (a hidden tab's timers fire rarely; here no timer fires
 *   sooner than 10 s) but still handling network events, it stays joined
 *   well past monitor_timeout: it answers its peers' pings as they come.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, CDPSession, Page } from 'playwright-core';
import { launchChromium, openChat, shownMessages, type ChatPage } from './browser.ts';
import { freePort, scratchRc, startDemo, type Demo } from './procs.ts';
import { setValue, updateConfig } from '../node/config.ts';

type W = { aempDemo: { node(): string; seed(): string | undefined; state(): string } };

const rc = scratchRc();
let demo: Demo;
let browser: Browser;

const joined = (p: Page, timeout = 20_000) =>
  p.waitForFunction(() => (window as unknown as Partial<W>).aempDemo?.state() === 'joined', undefined, { timeout });
const membersAre = (p: Page, nicks: string[], timeout = 20_000) =>
  p.waitForFunction(
    (want) => JSON.stringify(Array.from(document.querySelectorAll<HTMLElement>('#members li')).map((li) => li.dataset.nick ?? '').sort()) === JSON.stringify(want),
    [...nicks].sort(),
    { timeout },
  );
const shows = (p: Page, line: string, timeout = 15_000) =>
  p.waitForFunction((want) => Array.from(document.querySelectorAll<HTMLElement>('#log li.msg')).some((li) => `${li.dataset.nick}: ${li.lastChild?.textContent}` === want), line, {
    timeout,
  });
const quitNotices = (p: Page, nick: string) =>
  p.$$eval('#log li.notice', (lis, n) => lis.map((li) => li.textContent ?? '').filter((t) => t.includes(`${n} (quits`)), nick);
async function say(p: Page, text: string): Promise<void> {
  await p.fill('#text', text);
  await p.click('#send');
}

/** Stop the page's script (a frozen tab); resolves once it is stopped. */
async function freeze(p: Page): Promise<CDPSession> {
  const cdp = await p.context().newCDPSession(p);
  await cdp.send('Debugger.enable');
  const paused = new Promise((r) => cdp.once('Debugger.paused', r));
  await cdp.send('Debugger.pause');
  // Paused at the next statement the page runs: its heartbeat timers guarantee one within a second.
  await paused;
  return cdp;
}
async function thaw(cdp: CDPSession): Promise<void> {
  await cdp.send('Debugger.resume');
  await cdp.send('Debugger.disable');
  await cdp.detach();
}
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  await updateConfig(rc.rc, (db) => {
    setValue(db, 'aemp-demo', 'nodeid', 'demo_seed');
    setValue(db, 'aemp-demo', 'binds', ['127.0.0.1:4080']);
    setValue(db, 'aemp-demo', 'secret', 'tab-life-secret');
    setValue(db, 'aemp-demo', 'monitor_timeout', 6);
  });
  [demo, browser] = await Promise.all([startDemo({ rc: rc.rc, dist: rc.dist, port: await freePort() }), launchChromium()]);
});

after(async () => {
  await browser?.close();
  await demo?.proc.stop();
  rc.remove();
});

/** Two fresh pages in the room (each test has its own nicks, so the tests do not depend on each other). */
async function pair(a: string, b: string): Promise<[ChatPage, ChatPage]> {
  const pages = await Promise.all([openChat(browser, demo.url, { nick: a }), openChat(browser, demo.url, { nick: b })]);
  await Promise.all(pages.map((p) => joined(p.page)));
  return pages as [ChatPage, ChatPage];
}

test('tab life — a page stopped for less than monitor_timeout is not declared dead and shows, after, everything said meanwhile', async () => {
  const [ann, ben] = await pair('ann', 'ben');
  try {
    await say(ann.page, 'before');
    await shows(ben.page, 'ann: before');
    // ben speaks last before the freeze, so the seed has just heard it: the freeze below, not an idle
    // ping period before it (up to 0.8 × monitor_timeout), is what counts against the 6 s.
    await say(ben.page, 'freezing');
    await shows(ann.page, 'ben: freezing');
    const cdp = await freeze(ben.page);
    for (const t of ['one', 'two', 'three']) await say(ann.page, t);
    await shows(ann.page, 'ann: three');
    // Stopped while the room talked: heartbeats missed, but well under the 6 s after which the seed gives up on it.
    await thaw(cdp);
    await shows(ben.page, 'ann: three');
    const seen = (await shownMessages(ben.page)).filter((l) => l.startsWith('ann: '));
    assert.deepEqual(seen, ['ann: before', 'ann: one', 'ann: two', 'ann: three']);
    await say(ben.page, 'still here');
    await shows(ann.page, 'ben: still here');
    assert.deepEqual(await quitNotices(ann.page, 'ben'), [], 'ben was never declared gone');
  } finally {
    await Promise.all([ann.close(), ben.close()]);
  }
});

test('tab life — a page stopped past monitor_timeout is declared dead, and when it runs again reconnects, rejoins and chats', async () => {
  const [cat, dan] = await pair('cat', 'dan');
  try {
    await membersAre(cat.page, ['cat', 'dan']);
    const cdp = await freeze(dan.page);
    // The seed notices the silence after its monitor_timeout (6 s); the room sees dan go.
    await cat.page.waitForFunction(() => Array.from(document.querySelectorAll('#log li.notice')).some((li) => /dan \(quits/.test(li.textContent ?? '')), undefined, {
      timeout: 30_000,
    });
    await thaw(cdp);
    await dan.page.waitForFunction(() => (window as unknown as W).aempDemo.seed() === 'demo_seed', undefined, { timeout: 20_000 });
    await joined(dan.page);
    await membersAre(cat.page, ['cat', 'dan']);
    await say(dan.page, 'awake again');
    await shows(cat.page, 'dan: awake again');
  } finally {
    await Promise.all([cat.close(), dan.close()]);
  }
});

test('tab life — a page whose timers are throttled (none fires sooner than 10 s) stays joined past monitor_timeout and gets every message', async () => {
  const [eve, fay] = await pair('eve', 'fay');
  try {
    await membersAre(eve.page, ['eve', 'fay']);
    // As Chromium's throttling of hidden tabs: timers are late, network events and microtasks are not.
    await fay.page.evaluate(() => {
      const w = window as unknown as Record<string, (fn: () => void, ms?: number) => number>;
      const st = w.setTimeout!.bind(window);
      const si = w.setInterval!.bind(window);
      w.setTimeout = (fn, ms) => st(fn, Math.max(ms ?? 0, 10_000));
      w.setInterval = (fn, ms) => si(fn, Math.max(ms ?? 0, 10_000));
    });
    const sent: string[] = [];
    // Twelve seconds of chat: twice the 6 s monitor_timeout, in which fay's own timers never fire.
    for (let i = 1; i <= 12; i++) {
      await say(eve.page, `tick ${i}`);
      sent.push(`eve: tick ${i}`);
      await shows(fay.page, `eve: tick ${i}`);
      await wait(1000);
    }
    assert.deepEqual((await shownMessages(fay.page)).filter((l) => l.startsWith('eve: ')), sent);
    assert.deepEqual(await quitNotices(eve.page, 'fay'), [], 'fay was never declared gone');
    assert.equal(await fay.page.evaluate(() => (window as unknown as W).aempDemo.seed()), 'demo_seed');
  } finally {
    await Promise.all([eve.close(), fay.close()]);
  }
});
