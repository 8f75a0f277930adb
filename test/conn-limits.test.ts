/**
 * A Conn applies the batch limits of its peer's kind (lib/mesh/batch-limits.ts)
 * and cuts a fragmented batch at its deadline on the injected clock, however
 * its fragments trickle in. Fake link, manual clock; the real-transport
 * versions are in test/security/decode-*.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../lib/clock.ts';
import type { Frame, Link, LinkHandlers } from '../lib/link.ts';
import { Conn } from '../lib/mesh/conn.ts';
import { BATCH_LIMIT_DEFAULTS, kindLimits } from '../lib/mesh/batch-limits.ts';
import type { PeerKind } from '../lib/mesh/peer-kind.ts';
import { FrameEncoder, type Packet } from '../lib/protocol/codec.ts';

function fakeLink(maxFrameSize = 64 * 1024) {
  let h: Partial<LinkHandlers> = {};
  const l = {
    kind: 'memory' as const,
    maxFrameSize,
    bufferedAmount: 0,
    isOpen: true,
    sent: [] as Frame[],
    closedHow: undefined as string | undefined,
    send(f: Frame) {
      l.sent.push(f);
    },
    close(reason?: string) {
      l.closedHow ??= `close: ${reason}`;
    },
    setHandlers(x: Partial<LinkHandlers>) {
      h = { ...h, ...x };
    },
    /** A frame from the peer. */
    deliver(f: Frame) {
      h.frame?.(f);
    },
  };
  return l satisfies Link;
}

function conn(kind: PeerKind, self: PeerKind = 'secret', monitorTimeoutMs = 6000) {
  const clock = new ManualClock(1000);
  const link = fakeLink();
  const got: Packet[] = [];
  const closed: string[] = [];
  const c = new Conn({
    link, framing: 'msgpack', peer: 'peer', peerIsSeed: false, kind, outbound: false, clock, monitorTimeoutMs,
    maxBufferedBytes: 1 << 30, maxQueuedPackets: 1 << 20, maxMessageSize: BATCH_LIMIT_DEFAULTS.maxMessageSize,
    limits: kindLimits(BATCH_LIMIT_DEFAULTS, self),
    onPacket: (p) => got.push(p), onClose: (r) => closed.push(r),
  });
  return { c, clock, link, got, closed };
}

const frames = (batch: Packet[], maxFrameSize = 64 * 1024) => new FrameEncoder({ framing: 'msgpack', maxFrameSize, maxBatchPackets: 1 << 20, maxBatchElements: 1 << 24 }).encode(batch);

test('conn-limits — a page peer gets the page limits, a secret holder the large ones', () => {
  const wide = Array.from({ length: 5000 }, (_, i): Packet => ['x', i]);
  const page = conn('token');
  for (const f of frames(wide)) page.link.deliver(f);
  assert.match(page.closed[0] ?? '', /^protocol error from peer: AEMP_ERR_BATCH_PACKETS: batch of 5000 packets exceeds maxBatchPackets 4096/);
  const anon = conn('anon');
  for (const f of frames([['x', new Array(200_000).fill(0)]])) anon.link.deliver(f);
  assert.match(anon.closed[0] ?? '', /AEMP_ERR_BATCH_ELEMENTS/);
  const big = conn('anon');
  for (const f of frames([['x', new Uint8Array(2 << 20)]])) big.link.deliver(f);
  assert.match(big.closed[0] ?? '', /AEMP_ERR_FRAME_TOO_LARGE: batch of \d+ bytes exceeds maxMessageSize 1048576/);
  const secret = conn('secret');
  for (const f of [...frames(wide), ...frames([['x', new Array(200_000).fill(0)]]), ...frames([['x', new Uint8Array(2 << 20)]])]) secret.link.deliver(f);
  assert.deepEqual(secret.closed, []);
  assert.equal(secret.got.length, 5002);
});

test('conn-limits — a node sends within the limits of its own kind: a page splits what its seed would refuse', async () => {
  const page = conn('secret', 'token'); // this node is a page; its peer (the seed) a secret holder
  for (let i = 0; i < 5000; i++) page.c.send(['x', i]);
  page.c.send(['big', new Array(100_000).fill(0)]);
  page.c.send(['big', new Array(100_000).fill(0)]);
  await Promise.resolve();
  const seedSide = conn('token');
  for (const f of page.link.sent) seedSide.link.deliver(f);
  assert.deepEqual(seedSide.closed, []);
  assert.equal(seedSide.got.length, 5002);
});

test('conn-limits — a fragmented batch trickling one byte per second is cut at monitor_timeout after its first fragment', () => {
  const t = conn('token');
  const [first] = frames([['x', new Uint8Array(100_000)]], 1024);
  t.link.deliver(first!);
  for (let s = 1; s <= 5; s++) {
    t.clock.advance(1000);
    t.link.deliver(new Uint8Array([0x03, 0]));
  }
  assert.deepEqual(t.closed, []);
  t.clock.advance(999);
  assert.deepEqual(t.closed, []);
  t.clock.advance(2);
  assert.equal(t.closed.length, 1);
  assert.match(t.closed[0]!, /^protocol error from peer: AEMP_ERR_FRAGMENT_TIMEOUT: fragmented batch not complete within 6000 ms of its first fragment \(\d+ bytes held\)/);
  assert.match(t.link.closedHow!, /AEMP_ERR_FRAGMENT_TIMEOUT/);
  // Nothing is left running for the closed link.
  assert.equal(t.clock.pending, 0);
});

test('conn-limits — fragmented batches that complete in time leave no timer behind', () => {
  const t = conn('secret');
  for (let i = 0; i < 3; i++) {
    const fs = frames([['x', i, new Uint8Array(5000)]], 1024);
    for (const f of fs) {
      t.link.deliver(f);
      t.clock.advance(100);
    }
  }
  assert.deepEqual(t.closed, []);
  assert.deepEqual(t.got.map((p) => p[1]), [0, 1, 2]);
  t.c.close('done');
  assert.equal(t.clock.pending, 0);
});
