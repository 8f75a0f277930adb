/**
 * When a Conn's queue leaves: what is queued before its flush microtask
 * runs goes in one frame, in the order queued; the replies of one incoming
 * frame's deliveries leave together, behind what was queued before them.
 * Fake link; the real-transport figures are browser.ws_rtt_p50 and
 * remote.rtt_p50 (docs/bench.md).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../lib/clock.ts';
import type { Frame, Link, LinkHandlers } from '../lib/link.ts';
import { Kernel } from '../lib/kernel.ts';
import { Conn } from '../lib/mesh/conn.ts';
import { FrameDecoder, FrameEncoder, type Packet } from '../lib/protocol/codec.ts';

const LIMITS = { maxMessageSize: 1 << 20, maxBatchPackets: 1 << 16, maxBatchElements: 1 << 20 };

function fakeLink() {
  let h: Partial<LinkHandlers> = {};
  const l = {
    kind: 'memory' as const,
    maxFrameSize: 64 * 1024,
    bufferedAmount: 0,
    isOpen: true,
    sent: [] as Frame[],
    send(f: Frame) {
      l.sent.push(f);
    },
    close() {},
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

/** A kernel whose remote messages go out on one Conn as ['n', port, msg]; the Conn's 'n' packets come in to it. */
function setup() {
  const link = fakeLink();
  const k = new Kernel('here');
  const c = new Conn({
    link, framing: 'msgpack', peer: 'peer', peerIsSeed: false, kind: 'secret', outbound: true, clock: new ManualClock(0),
    monitorTimeoutMs: 60_000, maxBufferedBytes: 1 << 30, maxQueuedPackets: 1 << 20, maxMessageSize: LIMITS.maxMessageSize,
    onPacket: (p) => k.receive('peer', p[1] as string, p[2] as unknown[]),
    onClose: () => {},
  });
  k.transport = { send: (_from, _node, port, msg) => c.send(['n', port, msg]) };
  const dec = new FrameDecoder({ framing: 'msgpack', maxFrameSize: 64 * 1024, ...LIMITS });
  const sent = () => link.sent.map((f) => dec.decode(f));
  const incoming = (batch: Packet[]) => new FrameEncoder({ framing: 'msgpack', maxFrameSize: 64 * 1024, ...LIMITS }).encode(batch);
  return { link, k, c, sent, incoming };
}

test("conn-flush — the replies sent from inside one frame's deliveries leave together in one frame, behind what was queued before it", async () => {
  const { link, k, c, sent, incoming } = setup();
  const p = k.createPort('here#echo');
  p.def = (tag: string, i: number) => k.snd('peer#asker', [`re-${tag}`, i]);
  c.send(['n', 'peer#other', ['queued', 0]]);
  for (const f of incoming([['n', p.id, ['ping', 1]], ['n', p.id, ['ping', 2]], ['n', p.id, ['ping', 3]]])) link.deliver(f);
  assert.equal(link.sent.length, 0, 'nothing leaves inside the frame handler');
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(sent(), [
    [['n', 'peer#other', ['queued', 0]]],
    [
      ['n', 'peer#asker', ['re-ping', 1]],
      ['n', 'peer#asker', ['re-ping', 2]],
      ['n', 'peer#asker', ['re-ping', 3]],
    ],
  ]);
});
