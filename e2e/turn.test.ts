/**
 * e2e: TURN. coturn on 127.0.0.1 (e2e/turn.ts); the demo's seed profile
 * holds turn_secret and turn_urls, so the seed hands every node and page
 * short-lived TURN credentials. The pages run with ?relay
 * (iceTransportPolicy 'relay': they gather relay candidates only), so
 * every direct link of theirs — page ↔ chat server (Node) and page ↔ page —
 * can only form through the TURN server; it must form and carry the chat,
 * and coturn must have allocated relays for both pages' node IDs.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, openChat, type ChatPage } from './browser.ts';
import { freePort, scratchRc, startDemo, type Demo } from './procs.ts';
import { startTurn, type Turn } from './turn.ts';
import { setValue, updateConfig } from '../node/config.ts';

type W = { aempDemo: { node(): string; server(): string | undefined; nodeOf(p: string): string; linkInfo(n: string): { path: string } | undefined; state(): string } };

const rc = scratchRc();
let turn: Turn;
let demo: Demo;
let browser: Browser;
let alice: ChatPage;
let bob: ChatPage;

before(async () => {
  turn = await startTurn();
  await updateConfig(rc.rc, (db) => {
    setValue(db, 'aemp-demo', 'nodeid', 'demo_seed');
    setValue(db, 'aemp-demo', 'binds', ['127.0.0.1:4080']);
    setValue(db, 'aemp-demo', 'secret', 'turn-e2e-secret');
    setValue(db, 'aemp-demo', 'turn_secret', turn.secret);
    setValue(db, 'aemp-demo', 'turn_urls', [turn.url]);
    setValue(db, 'aemp-demo', 'turn_ttl', 600);
  });
  [demo, browser] = await Promise.all([startDemo({ rc: rc.rc, dist: rc.dist, port: await freePort() }), launchChromium()]);
  [alice, bob] = await Promise.all([openChat(browser, demo.url, { nick: 'alice', relay: '' }), openChat(browser, demo.url, { nick: 'bob', relay: '' })]);
  const joined = (p: Page) => p.waitForFunction(() => (window as unknown as Partial<W>).aempDemo?.state() === 'joined', undefined, { timeout: 20_000 });
  await Promise.all([joined(alice.page), joined(bob.page)]);
});

after(async () => {
  await browser?.close();
  await demo?.proc.stop();
  await turn?.stop();
  rc.remove();
});

const direct = (p: Page, node: string) =>
  p.waitForFunction((n) => (window as unknown as W).aempDemo.linkInfo(n)?.path === 'direct', node, { timeout: 30_000 });

test('turn — with relay-only ICE, page ↔ Node and page ↔ page direct links form through coturn and carry the chat', async () => {
  const [a, b] = await Promise.all([alice.page.evaluate(() => (window as unknown as W).aempDemo.node()), bob.page.evaluate(() => (window as unknown as W).aempDemo.node())]);
  const server = await alice.page.evaluate(() => {
    const d = (window as unknown as W).aempDemo;
    return d.nodeOf(d.server()!);
  });
  // Talking makes the nodes upgrade: the chat server relays each line to both pages, and they greet each other.
  await alice.page.fill('#text', 'hello over turn');
  await alice.page.click('#send');
  await Promise.all([direct(alice.page, server), direct(bob.page, server)]);
  await Promise.all([direct(alice.page, b), direct(bob.page, a)]);

  // The chat over the relayed direct links.
  await bob.page.fill('#text', 'bob through the relay');
  await bob.page.click('#send');
  await alice.page.waitForFunction(
    () => Array.from(document.querySelectorAll<HTMLElement>('#log li.msg')).some((li) => `${li.dataset.nick}: ${li.lastChild?.textContent}` === 'bob: bob through the relay'),
    undefined,
    { timeout: 10_000 },
  );
  assert.equal(await alice.page.evaluate((n) => (window as unknown as W).aempDemo.linkInfo(n)?.path, server), 'direct');

  // coturn allocated relays for both pages, with the credentials the seed made for their node IDs.
  for (const node of [a, b]) {
    assert.ok(
      turn.proc.lines.some((l) => l.includes(`user <`) && l.includes(`:${node}>`) && /ALLOCATE processed, success/.test(l)),
      `coturn allocated a relay for ${node}; its log:\n${turn.proc.lines.filter((l) => /ALLOCATE|401|403/.test(l)).slice(-10).join('\n')}`,
    );
  }
  assert.deepEqual([...alice.errors, ...bob.errors].filter((e) => !/favicon/.test(e)), []);
});
