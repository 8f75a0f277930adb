import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../lib/clock.ts';
import { Admission, addressKey, type Ticket } from '../lib/mesh/admission.ts';
import { RelayQuota } from '../lib/mesh/quota.ts';

test('admission — pending handshakes are capped per address and in all', () => {
  const a = new Admission({ total: 10, perAddress: 4 });
  const evicted: string[] = [];
  const got: Ticket[] = [];
  for (let i = 0; i < 6; i++) {
    const t = a.admit('127.0.0.2', (why) => evicted.push(why));
    if (typeof t !== 'string') got.push(t);
    else assert.match(t, /4 handshakes pending from 127\.0\.0\.2 \(limit 4 per address\)/);
  }
  assert.equal(got.length, 4);
  assert.equal(a.pending, 4);
  got[0]!.done();
  got[0]!.done(); // idempotent
  assert.equal(a.pendingFrom('127.0.0.2'), 3);
  assert.equal(typeof a.admit('::ffff:127.0.0.2', () => {}), 'object', 'IPv4-mapped counts as the same address');
  assert.equal(a.pendingFrom('127.0.0.2'), 4);
  assert.deepEqual(evicted, []);
});

test('admission — a full table makes room for a lighter address by closing the heaviest address\'s oldest handshake', () => {
  const a = new Admission({ total: 8, perAddress: 4 });
  const evicted: string[] = [];
  for (const addr of ['127.0.0.2', '127.0.0.3'])
    for (let i = 0; i < 4; i++) assert.equal(typeof a.admit(addr, () => evicted.push(`${addr}#${i}`)), 'object');
  assert.equal(a.pending, 8);
  // 127.0.0.1 holds none: it takes a slot of an attacker address (oldest first).
  const honest: Ticket[] = [];
  for (let i = 0; i < 2; i++) {
    const t = a.admit('127.0.0.1', () => assert.fail('honest evicted'));
    assert.equal(typeof t, 'object');
    honest.push(t as Ticket);
  }
  assert.deepEqual(evicted, ['127.0.0.2#0', '127.0.0.3#0']);
  assert.equal(a.pending, 8);
  // Now 127.0.0.1 holds 2, the others 3 each: a fair share each, so the next is refused.
  assert.match(a.admit('127.0.0.1', () => {}) as string, /8 handshakes pending \(limit 8\)/);
  for (const t of honest) t.done();
  assert.equal(a.pending, 6);
  // Slots free again: an honest join takes one without evicting anyone.
  assert.equal(typeof a.admit('127.0.0.1', () => assert.fail('evicted')), 'object');
  assert.equal(evicted.length, 2);
  assert.equal(a.pendingFrom('127.0.0.1'), 1);
});

test('admission — addresses are keyed as IPv4, IPv6 by /64', () => {
  assert.equal(addressKey('::ffff:10.1.2.3'), '10.1.2.3');
  assert.equal(addressKey('2001:db8:0:1::5'), '2001:db8:0:1::/64');
  assert.equal(addressKey('2001:0DB8:0000:0001:ffff::9'), '2001:db8:0:1::/64');
  assert.equal(addressKey('::1'), '0:0:0:0::/64');
  assert.equal(addressKey(undefined), '?');
});

test('quota — a relay token bucket passes its rate per second and a one-second burst, read from the clock', () => {
  const clock = new ManualClock(5_000);
  const q = new RelayQuota(clock);
  assert.equal(q.configure({ messagesPerSec: 100, bytesPerSec: 0 }), true);
  let passed = 0;
  for (let i = 0; i < 1000; i++) if (q.take()) passed++;
  assert.equal(passed, 100);
  assert.equal(q.dropped, 900);
  clock.advance(500);
  passed = 0;
  for (let i = 0; i < 1000; i++) if (q.take()) passed++;
  assert.equal(passed, 50);
  // Ten quiet seconds refill one second's worth, no more.
  clock.advance(10_000);
  passed = 0;
  for (let i = 0; i < 1000; i++) if (q.take()) passed++;
  assert.equal(passed, 100);
});

test('quota — bytes are charged per frame; relays wait while the byte bucket is in debt', () => {
  const clock = new ManualClock();
  const q = new RelayQuota(clock);
  q.charge(3_000); // before the kind is known
  assert.equal(q.configure({ messagesPerSec: 0, bytesPerSec: 10_000 }), true);
  assert.equal(q.take(), true);
  q.charge(8_000);
  assert.equal(q.take(), false, '11 000 bytes in the first second');
  clock.advance(100); // +1000 bytes: balance 0
  assert.equal(q.take(), true);
  q.charge(50_000);
  clock.advance(4_000);
  assert.equal(q.take(), false, 'still 10 000 bytes in debt');
  clock.advance(1_000);
  assert.equal(q.take(), true);
});

test('quota — unlimited limits need no bucket; a drop is told once per destination and session', () => {
  const q = new RelayQuota(new ManualClock());
  assert.equal(q.configure({ messagesPerSec: 0, bytesPerSec: 0 }), false);
  for (let i = 0; i < 10_000; i++) assert.equal(q.take(), true);
  assert.equal(q.nackDue('b', 7), true);
  assert.equal(q.nackDue('b', 7), false);
  assert.equal(q.nackDue('c', 7), true);
  assert.equal(q.nackDue('b', 8), true);
});

test('quota — overSince marks a continuous excess (gaps under 2 s)', () => {
  const clock = new ManualClock(1_000);
  const q = new RelayQuota(clock);
  q.configure({ messagesPerSec: 1, bytesPerSec: 0 });
  assert.equal(q.take(), true);
  assert.equal(q.overSince, undefined);
  assert.equal(q.take(), false);
  assert.equal(q.overSince, 1_000);
  clock.advance(999);
  assert.equal(q.take(), false);
  assert.equal(q.overSince, 1_000);
  assert.equal(q.overMs, 999);
  clock.advance(3_000);
  assert.equal(q.take(), true, 'refilled');
  assert.equal(q.overSince, undefined);
  assert.equal(q.overMs, 0);
});
