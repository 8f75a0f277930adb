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
import { backoffMs } from '../lib/mesh/dial.ts';

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
