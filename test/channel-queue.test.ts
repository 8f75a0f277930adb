/**
 * The send queue in front of a data channel (lib/links/channel-queue.ts):
 * once cleared (the link was destroyed or closed by the peer) it never
 * touches the channel again — `@roamhq/wrtc` can crash the process on a
 * property read of a channel whose connection is closed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChannelQueue } from '../lib/links/channel-queue.ts';

/** A stand-in channel that counts what is asked of it and fails the test once it is "torn down". */
function fakeChannel() {
  const ch = {
    torn: false,
    reads: 0,
    sent: 0,
    get bufferedAmount(): number {
      if (ch.torn) assert.fail('bufferedAmount read after the queue was cleared');
      ch.reads++;
      return 600;
    },
    send(): void {
      if (ch.torn) assert.fail('send after the queue was cleared');
      ch.sent++;
    },
    close(): void {
      if (ch.torn) assert.fail('close after the queue was cleared');
    },
  };
  return ch;
}

test('channel-queue — after clear() the channel is never touched: bufferedAmount, send and close stay off it', () => {
  const ch = fakeChannel();
  const q = new ChannelQueue({ highWaterMark: 1000, lowWaterMark: 500, pollMs: 10, onDrain: () => {}, onError: (r) => assert.fail(r) });
  try {
    q.attach(ch as unknown as RTCDataChannel);
    q.send(new Uint8Array(400));
    q.send(new Uint8Array(400));
    assert.equal(ch.sent, 2);
    // Past the low-water mark the queue asks the channel what it still holds.
    assert.equal(q.bufferedAmount, 600);
    assert.ok(ch.reads > 0);
  } finally {
    q.clear();
  }
  ch.torn = true;
  assert.equal(q.bufferedAmount, 0);
  q.send(new Uint8Array(10));
  q.closeWhenFlushed();
  assert.equal(ch.sent, 2);
});

test('channel-queue — a channel that refuses a send as closing is never touched again, and the queue reports no error', () => {
  const ch = fakeChannel();
  const refusing = Object.create(ch) as typeof ch;
  let refused = 0;
  refusing.send = () => {
    if (ch.torn) assert.fail('send after the channel refused one');
    refused++;
    throw Object.assign(new Error("RTCDataChannel.readyState is not 'open'"), { name: 'InvalidStateError' });
  };
  const q = new ChannelQueue({ highWaterMark: 1000, lowWaterMark: 500, pollMs: 10, onDrain: () => {}, onError: (r) => assert.fail(r) });
  q.attach(refusing as unknown as RTCDataChannel);
  q.send(new Uint8Array(400));
  assert.equal(refused, 1);
  // From here on the peer's close races WebRTC's own thread freeing the channel: hands off.
  ch.torn = true;
  q.send(new Uint8Array(400));
  q.send(new Uint8Array(400));
  assert.equal(q.bufferedAmount, 0);
  q.closeWhenFlushed();
  assert.equal(refused, 1);
});
