/**
 * lib/ takes time, timers and randomness only from what is injected: the
 * node's Clock and Random (lib/clock.ts is where the environment's are
 * wrapped). A new Date.now(), Math.random() or global timer elsewhere in
 * lib/ fails here, so the simulated clock keeps driving every path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { backoffMs } from '../lib/mesh/dial.ts';
import { createNode, setLogSink, ManualClock } from '../node/index.ts';
import { createToken } from '../lib/protocol/token.ts';

const LIB = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'lib');
const AMBIENT = /\b(Date\.now|Math\.random|performance\.now|setImmediate)\s*\(|(?<![.\w])(setTimeout|setInterval|clearTimeout|clearInterval)\s*\(/;

test('injected — lib/ reads no clock, timer or random number of its own outside lib/clock.ts', () => {
  const found: string[] = [];
  const files = readdirSync(LIB, { withFileTypes: true, recursive: true }).filter((e) => e.isFile() && e.name.endsWith('.ts'));
  for (const e of files) {
    const path = join(e.parentPath, e.name);
    const rel = relative(LIB, path);
    if (rel === 'clock.ts') continue;
    readFileSync(path, 'utf8').split('\n').forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, '').replace(/^\s*\*.*$/, '');
      if (AMBIENT.test(code)) found.push(`lib/${rel}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.ok(files.length > 50, `read ${files.length} files`);
  assert.deepEqual(found, []);
});

test('injected — back-off jitter comes from the random source given', () => {
  assert.equal(backoffMs(1000, 1, () => 0), 750);
  assert.equal(backoffMs(1000, 3, () => 0.5), 4000);
  assert.equal(backoffMs(1000, 9, () => 1), 10_000);
});

test('injected — a seed checks a token against its injected clock, not the wall clock', async () => {
  const rcDir = mkdtempSync(join(tmpdir(), 'aemp-injected-'));
  process.env.AEMP_RC = join(rcDir, 'rc.json');
  const secret = 'injected-test-secret';
  let refused!: (line: string) => void;
  const refusal = new Promise<string>((r) => (refused = r));
  setLogSink((_level, ns, msg) => {
    if (ns === 'seed' && msg.includes('AEMP_ERR_TOKEN')) refused(msg);
  });
  // The seed's time is two hours ahead: a token good for one hour of wall-clock time has expired there.
  const seed = await createNode({ nodeid: 'clockseed', binds: ['127.0.0.1:0'], secret, clock: new ManualClock(Date.now() + 2 * 3600_000) });
  const token = await createToken(globalThis.crypto.subtle, secret, { node: 'web/clocked', ttlSec: 3600, nowMs: Date.now() });
  // The node's clock is manual too: it neither redials nor stops waiting for its seed until told.
  const nodeClock = new ManualClock(Date.now());
  const node = createNode({ nodeid: 'web/clocked', seeds: [seed.net!.seedLink!.listening()[0]!], token, clock: nodeClock });
  try {
    let timer!: ReturnType<typeof setTimeout>;
    const late = new Promise<string>((r) => (timer = setTimeout(() => r('no refusal within 10 s'), 10_000)));
    assert.match(await Promise.race([refusal, late]), /expired/);
    clearTimeout(timer);
  } finally {
    nodeClock.advance(10_000); // createNode stops waiting for a seed
    await (await node).shutdown();
    await seed.shutdown();
    setLogSink(undefined);
    rmSync(rcDir, { recursive: true, force: true });
  }
});
