/**
 * e2e: headless Chromium (Debian's, /usr/bin/chromium or $CHROMIUM_PATH)
 * under playwright-core, with the flags WebRTC needs on a machine without a network (see launchChromium),
 * and the chat page opened in its own browser context (own storage, own
 * nick) per simulated user.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROOT } from './procs.ts';

export const ARTIFACTS = join(ROOT, 'e2e/artifacts');

/**
 * WebRTC on a machine that may have nothing but loopback: allow loopback
 * candidates, real addresses instead of mDNS names, and fake media so the
 * page's getUserMedia (which unlocks host candidates) needs no device.
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--allow-loopback-in-peer-connection',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];

/** Launch Chromium; playwright gives it a fresh temporary --user-data-dir. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
  });
}

export interface ChatPage {
  page: Page;
  /** Console errors and page errors, for failure messages. */
  errors: string[];
  close(): Promise<void>;
}

/**
 * Open the chat page as a new user. Before the page joins, it calls
 * getUserMedia once (e2e only: Chromium then offers host candidates on
 * loopback-only machines; the product never asks for media).
 */
export async function openChat(browser: Browser, url: string, query: Record<string, string> = {}): Promise<ChatPage> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  await context.addInitScript(() => {
    const w = window as unknown as { aempBeforeJoin?: Promise<unknown> };
    w.aempBeforeJoin = navigator.mediaDevices
      .getUserMedia({ audio: true })
      .then((s) => ((window as unknown as { e2eMedia: MediaStream }).e2eMedia = s))
      .catch(() => undefined);
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (process.env.E2E_VERBOSE) process.stderr.write(`[page ${query.nick ?? ''}] ${m.type()}: ${m.text()}\n`);
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  const u = new URL(url);
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
  await page.goto(u.href);
  return { page, errors, close: () => context.close() };
}

/** Save a screenshot to e2e/artifacts/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** The messages shown in the page's log, as "nick: text". */
export function shownMessages(page: Page): Promise<string[]> {
  return page.$$eval('#log li.msg', (lis) => lis.map((li) => `${(li as HTMLElement).dataset.nick}: ${li.lastChild?.textContent ?? ''}`));
}

/** Nicks in the page's member list. */
export function shownMembers(page: Page): Promise<string[]> {
  return page.$$eval('#members li', (lis) => lis.map((li) => (li as HTMLElement).dataset.nick ?? ''));
}
