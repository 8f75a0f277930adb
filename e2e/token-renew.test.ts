/**
 * e2e: a page open longer than its token lives. The demo hands out
 * five-second tokens (--token-ttl 5: a join on a loaded machine fits in
 * it, a test does not wait long for it to expire); the page's token is a function that
 * fetches a fresh one for its node ID (/token?nodeid=…) before every
 * connect. After the seed restarted — long after the first token expired —
 * the page reconnects, rejoins the room and chats, without a reload.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, openChat, type ChatPage } from './browser.ts';
import { freePort, scratchRc, startDemo, type Demo } from './procs.ts';

type W = { aempDemo: { node(): string; seed(): string | undefined; state(): string; refused(): string | undefined } };

const rc = scratchRc();
/** Token lifetime, seconds. */
const TOKEN_TTL_S = 5;
let port: number;
let demo: Demo;
let browser: Browser;
let alice: ChatPage;

const joined = (p: Page, timeout = 20_000) =>
  p.waitForFunction(() => (window as unknown as Partial<W>).aempDemo?.state() === 'joined', undefined, { timeout });

before(async () => {
  port = await freePort();
  [demo, browser] = await Promise.all([startDemo({ rc: rc.rc, dist: rc.dist, port, args: ['--token-ttl', String(TOKEN_TTL_S)] }), launchChromium()]);
  alice = await openChat(browser, demo.url, { nick: 'alice' });
  await joined(alice.page);
});

after(async () => {
  await browser?.close();
  await demo?.proc.stop();
  rc.remove();
});

test('token renewal — after a seed restart the page reconnects with a fresh token for the same node ID', async () => {
  const node = await alice.page.evaluate(() => (window as unknown as W).aempDemo.node());
  await demo.proc.stop('SIGTERM');
  await alice.page.waitForFunction(() => (window as unknown as W).aempDemo.seed() === undefined, undefined, { timeout: 10_000 });
  // The first token lived TOKEN_TTL_S; make sure it is dead before the seed comes back (a lower bound, not a deadline).
  await new Promise((r) => setTimeout(r, TOKEN_TTL_S * 1000 + 500));
  demo = await startDemo({ rc: rc.rc, dist: rc.dist, port, args: ['--token-ttl', String(TOKEN_TTL_S)] });
  // Its back-off may be at its longest step (8 × connect_interval ± 25%) when the seed is back.
  await alice.page.waitForFunction(() => (window as unknown as W).aempDemo.seed() === 'demo_seed', undefined, { timeout: 30_000 });
  await joined(alice.page);
  assert.equal(await alice.page.evaluate(() => (window as unknown as W).aempDemo.refused()), undefined);
  assert.equal(await alice.page.evaluate(() => (window as unknown as W).aempDemo.node()), node, 'the same node ID');
  await alice.page.fill('#text', 'still me');
  await alice.page.click('#send');
  await alice.page.waitForFunction(
    () => Array.from(document.querySelectorAll<HTMLElement>('#log li.msg')).some((li) => `${li.dataset.nick}: ${li.lastChild?.textContent}` === 'alice: still me'),
    undefined,
    { timeout: 10_000 },
  );
});
