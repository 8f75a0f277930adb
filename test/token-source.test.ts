/**
 * `token` as a function (sync or async): called before every connect and
 * reconnect to a seed, over real WebSockets on 127.0.0.1. A node whose
 * tokens live one second reconnects after its seed restarted, with a fresh
 * token; a failing token function is a failed connect, retried.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNode, type MpNode } from '../node/index.ts';
import { createToken } from '../lib/protocol/token.ts';
import { systemClock, type Clock } from '../lib/clock.ts';

const rcDir = mkdtempSync(join(tmpdir(), 'aemp-token-source-'));
process.env.AEMP_RC = join(rcDir, 'rc.json');
after(() => rmSync(rcDir, { recursive: true, force: true }));

const SECRET = 'token-source-secret';
const opts = { monitor_timeout: 1000, connect_interval: 100, direct: false };
const seedUrl = (n: MpNode): string => n.net!.seedLink!.listening()[0]!;
/** Wall-clock time as the tokens and the restarted seed see it: a test moves it on instead of sleeping. */
let skewMs = 0;
const now = () => Date.now() + skewMs;
const skewedClock: Clock = { ...systemClock, now };
const tokenFor = (node: string, ttlSec: number) => createToken(globalThis.crypto.subtle, SECRET, { node, ttlSec, nowMs: now() });

/** Resolves once `n` is linked to a seed (its seed conn promoted). */
function linked(n: MpNode, timeoutMs = 15_000): Promise<string> {
  const link = n.net!.seedLink!;
  const now = link.current();
  if (now) return Promise.resolve(now);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${n.NODE}: no seed link within ${timeoutMs} ms`)), timeoutMs);
    const stop = link.monitor((s) => {
      if (!s) return;
      clearTimeout(t);
      stop();
      resolve(s);
    });
  });
}

/** Resolves once `n` has lost its seed link. */
function unlinked(n: MpNode): Promise<void> {
  const link = n.net!.seedLink!;
  if (!link.current()) return Promise.resolve();
  return new Promise((resolve) => {
    const stop = link.monitor((s) => s === undefined && (stop(), resolve()));
  });
}

test('token source — an async token function is called on every connect; a reconnect after a seed restart presents a fresh token', async () => {
  let seed = await createNode({ ...opts, nodeid: 'ts_seed', binds: ['127.0.0.1:0'], secret: SECRET });
  const url = seedUrl(seed);
  const issued: string[] = [];
  const node = await createNode({
    ...opts,
    nodeid: 'web/ts-page',
    seeds: [url],
    // Two-second tokens (exp is whole seconds, so one lives 1–2 s): the ones from before the restart
    // have expired by the time the seed is back.
    token: async () => {
      const t = await tokenFor('web/ts-page', 2);
      issued.push(t);
      return t;
    },
  });
  try {
    assert.equal(await linked(node), 'ts_seed');
    assert.ok(issued.length >= 1);
    const gone = unlinked(node);
    await seed.shutdown();
    await gone;
    const before = issued.length;
    // Time moves on until every token issued so far has certainly expired (the seed checks expiry with its
    // injected clock, the token function signs with the same time), then the seed comes back on the same address.
    skewMs = 3100;
    seed = await createNode({ ...opts, nodeid: 'ts_seed', binds: [url.replace(/^ws:\/\/|\/$/g, '')], secret: SECRET, clock: skewedClock });
    assert.equal(await linked(node), 'ts_seed');
    assert.ok(issued.length > before, `token function called ${issued.length} times, ${before} before the restart`);
    assert.ok(!issued.slice(0, before).includes(issued.at(-1)!), 'the reconnect presented a token issued after the restart');
  } finally {
    skewMs = 0;
    await node.shutdown();
    await seed.shutdown();
  }
});

test('token source — a sync function works, and one that throws or returns nothing is a failed connect, tried again', async () => {
  const seed = await createNode({ ...opts, nodeid: 'ts_seed2', binds: ['127.0.0.1:0'], secret: SECRET });
  const good = await tokenFor('web/ts-sync', 60);
  let calls = 0;
  const node = await createNode({
    ...opts,
    nodeid: 'web/ts-sync',
    seeds: [seedUrl(seed)],
    token: () => {
      calls++;
      if (calls === 1) throw new Error('backend unreachable');
      if (calls === 2) return '' as string;
      return good;
    },
  });
  try {
    assert.equal(await linked(node), 'ts_seed2');
    assert.equal(calls, 3);
  } finally {
    await node.shutdown();
    await seed.shutdown();
  }
});

test('token source — a token function that never answers fails that connect after monitor_timeout; the next call is made', async () => {
  const seed = await createNode({ ...opts, nodeid: 'ts_seed3', binds: ['127.0.0.1:0'], secret: SECRET });
  const good = await tokenFor('web/ts-hang', 60);
  let calls = 0;
  const node = await createNode({
    ...opts,
    nodeid: 'web/ts-hang',
    seeds: [seedUrl(seed)],
    token: () => (++calls === 1 ? new Promise<string>(() => {}) : good),
  });
  try {
    assert.equal(await linked(node), 'ts_seed3');
    assert.equal(calls, 2);
  } finally {
    await node.shutdown();
    await seed.shutdown();
  }
});

test('token source — configure refuses a token that is neither a string nor a function', async () => {
  await assert.rejects(createNode({ ...opts, nodeid: 'web/ts-bad', seeds: ['ws://127.0.0.1:9/'], token: 42 as unknown as string }), {
    code: 'AEMP_ERR_BAD_ARGUMENT',
  });
});
