import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../lib/clock.ts';
import { logger, setLogLevel, setLogLimit, setLogSink } from '../lib/log.ts';

function capture(): { lines: string[]; done(): void } {
  const lines: string[] = [];
  setLogSink((level, ns, msg) => lines.push(`${level} ${ns} ${msg}`));
  return { lines, done: () => (setLogSink(undefined), setLogLimit()) };
}

test('log — repeats of one kind collapse into one line per interval with a count', () => {
  const clock = new ManualClock(1_000);
  setLogLimit({ clock, intervalMs: 10_000, burst: 3 });
  const c = capture();
  try {
    const log = logger('seed');
    for (let i = 0; i < 1000; i++) log.warn(`refused request ${i}`, 'refused');
    assert.deepEqual(c.lines, ['5 seed refused request 0', '5 seed refused request 1', '5 seed refused request 2']);
    clock.advance(9_999);
    assert.equal(c.lines.length, 3);
    clock.advance(1);
    assert.deepEqual(c.lines.slice(3), ['5 seed refused request 999 (997 more like this in the last 10 s)']);
    // Still flooding: the next interval passes nothing, then one count line.
    for (let i = 0; i < 50; i++) log.warn(`refused request again ${i}`, 'refused');
    assert.equal(c.lines.length, 4);
    clock.advance(10_000);
    assert.deepEqual(c.lines.slice(4), ['5 seed refused request again 49 (50 more like this in the last 10 s)']);
    // A quiet interval: no line; after it a fresh burst passes.
    clock.advance(10_000);
    assert.equal(c.lines.length, 5);
    log.warn('once more', 'refused');
    assert.deepEqual(c.lines.slice(5), ['5 seed once more']);
    clock.advance(60_000);
    assert.equal(c.lines.length, 6, 'nothing held back: no count line');
  } finally {
    c.done();
  }
});

test('log — kinds and namespaces are limited apart; lines without a kind are never limited', () => {
  const clock = new ManualClock();
  setLogLimit({ clock, intervalMs: 1_000, burst: 1 });
  const c = capture();
  try {
    const a = logger('a');
    const b = logger('b');
    for (let i = 0; i < 10; i++) {
      a.warn(`x${i}`, 'x');
      a.warn(`y${i}`, 'y');
      b.warn(`bx${i}`, 'x');
      a.warn(`plain${i}`);
    }
    assert.deepEqual(c.lines.filter((l) => !l.includes('plain')), ['5 a x0', '5 a y0', '5 b bx0']);
    assert.equal(c.lines.filter((l) => l.includes('plain')).length, 10);
    clock.advance(1_000);
    assert.deepEqual(c.lines.slice(13).sort(), [
      '5 a x9 (9 more like this in the last 1 s)',
      '5 a y9 (9 more like this in the last 1 s)',
      '5 b bx9 (9 more like this in the last 1 s)',
    ]);
  } finally {
    c.done();
  }
});

test('log — a line below the level is neither printed nor counted', () => {
  const clock = new ManualClock();
  setLogLimit({ clock, intervalMs: 1_000, burst: 1 });
  const c = capture();
  setLogLevel(5);
  try {
    const log = logger('n');
    for (let i = 0; i < 100; i++) log.info(`hidden ${i}`, 'k');
    clock.advance(5_000);
    assert.deepEqual(c.lines, []);
    assert.equal(clock.pending, 0);
  } finally {
    c.done();
  }
});
