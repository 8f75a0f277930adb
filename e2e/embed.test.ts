/**
 * e2e: embedding aemp in a web page, as the README shows it
 * (web/demo/embed.example.html): a plain page imports dist/aemp.js, joins
 * with a token from the backend, finds the chat server through its group
 * and chats — the built library, no bundler on the page's side.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { launchChromium, screenshot } from './browser.ts';
import { freePort, scratchRc, startDemo, type Demo } from './procs.ts';

const rc = scratchRc();
let demo: Demo;
let browser: Browser;

before(async () => {
  [demo, browser] = await Promise.all([freePort().then((port) => startDemo({ rc: rc.rc, dist: rc.dist, port })), launchChromium()]);
});
after(async () => {
  await browser?.close();
  await demo?.proc.stop();
  rc.remove();
});

test('embed — a plain page with dist/aemp.js joins with a token and chats through the group-found server', async () => {
  await demo.proc.waitLine(/^chat server: .* serving as /);
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => process.env.E2E_VERBOSE && process.stderr.write(`[embed] ${m.text()}\n`));
  // The demo serves web/demo/embed.example.html as /embed.html, next to dist/aemp.js.
  await page.goto(`${demo.url}embed.html`);
  await page.waitForFunction(() => document.getElementById('out')?.textContent?.includes('embedded: hello from my page'), undefined, { timeout: 15_000 });
  assert.equal((await page.textContent('#out'))?.trim(), 'embedded: hello from my page');
  await demo.proc.waitLine(/^chat server: relaying: embedded: hello from my page$/);
  assert.deepEqual(errors, []);
  await screenshot(page, 'embed');
  await context.close();
});
