/**
 * e2e: how a page is let in. A page with a token the seed did not sign (or
 * anonymously, where the profile does not allow it) is refused and says so
 * on the page; with `anonymous yes` in the seed's profile an anonymous page
 * joins.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { createToken } from '../lib/protocol/token.ts';
import { launchChromium, openChat, screenshot } from './browser.ts';
import { freePort, scratchRc, startDemo, type Demo } from './procs.ts';

let browser: Browser;
const rcs: Array<ReturnType<typeof scratchRc>> = [];
const demos: Demo[] = [];

before(async () => {
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  for (const d of demos) await d.proc.stop();
  for (const r of rcs) r.remove();
});

async function demo(profile?: Record<string, unknown>): Promise<Demo> {
  const r = scratchRc();
  rcs.push(r);
  if (profile) writeFileSync(r.rc, JSON.stringify({ version: 1, global: {}, profiles: { 'aemp-demo': profile } }));
  const d = await startDemo({ rc: r.rc, dist: r.dist, port: await freePort(), args: ['--no-chat-server'] });
  demos.push(d);
  return d;
}

const refusedState = (page: import('playwright-core').Page) =>
  page.waitForFunction(() => (window as unknown as { aempDemo: { refused(): string | undefined } }).aempDemo.refused(), undefined, {
    timeout: 10_000,
  });

test('auth — a page with a token signed by another secret is refused, with a visible error', async () => {
  const d = await demo();
  const token = await createToken(globalThis.crypto.subtle, 'not-the-mesh-secret', { node: 'web/e2e', ttlSec: 600, nowMs: Date.now() });
  const p = await openChat(browser, d.url, { nick: 'mallory', token, nodeid: 'web/e2e' });
  try {
    await refusedState(p.page);
    const error = p.page.locator('#error');
    assert.equal(await error.isVisible(), true);
    const text = (await error.textContent()) ?? '';
    assert.match(text, /^The seed refused this page: token bad signature: not signed with this mesh secret \(AEMP_ERR_TOKEN\)/);
    assert.equal(await p.page.getAttribute('#conn', 'data-state'), 'refused');
    assert.equal(await p.page.isDisabled('#text'), true);
    await screenshot(p.page, 'refused-wrong-token');
  } finally {
    await p.close();
  }
});

test('auth — an anonymous page is refused unless the profile allows anonymous nodes', async () => {
  const strict = await demo();
  const p = await openChat(browser, strict.url, { nick: 'anon', anon: '' });
  try {
    await refusedState(p.page);
    assert.match((await p.page.textContent('#error')) ?? '', /^The seed refused this page: .*AEMP_ERR_AUTH/);
  } finally {
    await p.close();
  }
  const open = await demo({ nodeid: 'demo_seed', binds: ['127.0.0.1:4080'], secret: 'e2e-secret', anonymous: true });
  const q = await openChat(browser, open.url, { nick: 'anon', anon: '' });
  try {
    await q.page.waitForFunction(() => (window as unknown as { aempDemo: { seed(): string | undefined } }).aempDemo.seed() === 'demo_seed', undefined, {
      timeout: 10_000,
    });
    assert.match(await q.page.evaluate(() => (window as unknown as { aempDemo: { node(): string } }).aempDemo.node()), /^anon\/[a-z0-9]{10}$/);
    assert.equal(await q.page.isHidden('#error'), true);
  } finally {
    await q.close();
  }
});
