/**
 * What a link holds while idle (docs/scaling.md, "Memory"): decoders share
 * their limits and reader across links (Node's codec pool), encoders keep
 * their own writer, a Conn makes its send queue per tick, a seed keeps a
 * one-group watcher as the group's name, and ws links share their socket
 * listeners. Each shared or lazily made piece must keep
 * every link's data its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encode } from '@msgpack/msgpack';
import type { Frame, Link, LinkHandlers } from '../lib/link.ts';
import { ManualClock } from '../lib/clock.ts';
import { codecPool } from '../lib/protocol/codec-pool.ts';
import { Conn } from '../lib/mesh/conn.ts';
import { FrameDecoder, FrameEncoder, KIND, setCodecPool } from '../lib/protocol/codec.ts';
import { RawTail } from '../lib/protocol/raw-tail.ts';
import { RELAY_CODEC, expandTail } from '../lib/protocol/raw-tail-expand.ts';
import { Replica } from '../lib/groups/replica.ts';
import { GROUP_DEFAULTS } from '../lib/groups/options.ts';
import { listenWs, connectWs } from '../node/ws.ts';

// What Node sets up (node/env.ts).
setCodecPool(codecPool);

const MAX = 1 << 20;
const relaying = () => new FrameDecoder({ framing: 'msgpack', maxFrameSize: MAX, relay: RELAY_CODEC });

/** A WHOLE frame of `batch`, in a buffer of its own the test may overwrite. */
const whole = (batch: unknown[]): Uint8Array => {
  const b = encode(batch);
  const f = new Uint8Array(b.length + 1);
  f[0] = KIND.WHOLE;
  f.set(b, 1);
  return f;
};

const relayed = (who: string, i: number) => ['r', `n${who}`, 7, i, `n${who}#p`, ['m', who, i, 'x'.repeat(i * 7)]];

test('codec — two links share one reader: relayed tails from their interleaved frames keep their own values after the frames are overwritten', () => {
  const a = relaying();
  const b = relaying();
  // The point of the change: one reader (and its tail scanner) for both links.
  assert.equal((a as unknown as { dec: unknown }).dec, (b as unknown as { dec: unknown }).dec);
  const tails: Array<[RawTail, unknown[]]> = [];
  const frames: Uint8Array[] = [];
  for (let i = 0; i < 20; i++) {
    for (const [who, dec] of [['a', a], ['b', b]] as const) {
      const batch = [relayed(who, i), relayed(who, i + 100)];
      const f = whole(batch);
      frames.push(f);
      const packets = dec.decode(f);
      assert.equal(packets.length, 2);
      for (let k = 0; k < 2; k++) {
        const t = packets[k]![2];
        assert.ok(t instanceof RawTail);
        tails.push([t, batch[k]!.slice(2)]);
      }
    }
  }
  // What the reader read from is gone: every tail still holds its own packet's values.
  for (const f of frames) f.fill(0xff);
  for (const [t, want] of tails) assert.deepEqual(expandTail(t), want);
});

test('codec — two links on one reader reassemble their fragmented batches apart, whole batches of the other link in between', () => {
  const enc = new FrameEncoder({ framing: 'msgpack', maxFrameSize: 64 });
  const a = new FrameDecoder({ framing: 'msgpack', maxFrameSize: 64 });
  const b = new FrameDecoder({ framing: 'msgpack', maxFrameSize: 64 });
  const big = [['m', 1, 0, 'na#p', ['x'.repeat(300)]]];
  const fa = enc.encode(big);
  assert.ok(fa.length > 2);
  const small = [['m', 2, 0, 'nb#p', ['hi']]];
  const out: unknown[] = [];
  for (let i = 0; i < fa.length; i++) {
    out.push(...a.decode(fa[i]!));
    const fb = enc.encode(small);
    assert.equal(fb.length, 1);
    assert.deepEqual(b.decode(fb[0]!), small);
  }
  assert.deepEqual(out, big);
});

test('codec — an encode inside an encode on the same options (a getter of a value) gets a writer of its own', () => {
  const outer = new FrameEncoder({ framing: 'msgpack', maxFrameSize: MAX });
  const inner = new FrameEncoder({ framing: 'msgpack', maxFrameSize: MAX });
  const dec = new FrameDecoder({ framing: 'msgpack', maxFrameSize: MAX });
  let innerFrames: Frame[] = [];
  const value = {
    get k(): string {
      innerFrames = inner.encode([['m', 9, 9, 'nz#p', ['inner']]]);
      return 'outer';
    },
  };
  const frames = outer.encode([['m', 1, 2, 'ny#p', [value]]]);
  assert.deepEqual(dec.decode(frames[0]!), [['m', 1, 2, 'ny#p', [{ k: 'outer' }]]]);
  assert.deepEqual(dec.decode(innerFrames[0]!), [['m', 9, 9, 'nz#p', ['inner']]]);
});

/** A link that records what is sent and lets the test deliver frames. */
function fakeLink(): Link & { sent: Frame[]; h: Partial<LinkHandlers> } {
  const l = {
    kind: 'memory' as const,
    maxFrameSize: MAX,
    bufferedAmount: 0,
    isOpen: true,
    sent: [] as Frame[],
    h: {} as Partial<LinkHandlers>,
    send: (f: Frame) => void l.sent.push(f),
    close: () => {},
    setHandlers: (h: Partial<LinkHandlers>) => void Object.assign(l.h, h),
  };
  return l;
}

test('conn — an idle link holds no send queue: the first send of a tick makes it, the flush lets it go', async () => {
  const link = fakeLink();
  const c = new Conn({
    link, framing: 'msgpack', peer: 'np', peerIsSeed: false, kind: 'secret', outbound: true, clock: new ManualClock(),
    monitorTimeoutMs: 6000, maxBufferedBytes: 1 << 30, maxQueuedPackets: 1000, maxMessageSize: MAX, onPacket: () => {}, onClose: () => {},
  });
  const queue = () => (c as unknown as { q: unknown }).q;
  assert.equal(queue(), undefined);
  c.send(['m', 1, 0, 'np#a', [1]]);
  c.send(['n', 'np#a', [2]]);
  assert.equal((queue() as unknown[]).length, 2);
  await Promise.resolve();
  assert.equal(queue(), undefined);
  const dec = new FrameDecoder({ framing: 'msgpack', maxFrameSize: MAX });
  assert.deepEqual(link.sent.flatMap((f) => dec.decode(f)), [['m', 1, 0, 'np#a', [1]], ['n', 'np#a', [2]]]);
  // A ping answered in a later tick goes out in a frame of its own.
  link.h.frame!(new FrameEncoder({ framing: 'msgpack', maxFrameSize: MAX }).encode([['p', 5]])[0]!);
  await Promise.resolve();
  assert.deepEqual(dec.decode(link.sent[1]!), [['P', 5]]);
  assert.equal(queue(), undefined);
  c.close('done');
});

test('replica — a node watching one group, then two, then one again: changes reach it exactly while it watches, and none after it left', () => {
  const out: Array<[string, unknown[]]> = [];
  const clients = new Set(['s1', 'a', 'b']);
  const r = new Replica({
    home: 's1', clock: new ManualClock(), limits: () => ({ ...GROUP_DEFAULTS, maxSubscriptions: 2 }), graceMs: () => 1000,
    isClient: (n) => clients.has(n), isSeed: () => false,
    toNode: (n, msg) => out.push([n, msg]), toSeeds: () => {}, toSeed: () => {},
  });
  const toA = () => out.splice(0).filter(([n]) => n === 'a').map(([, m]) => m);
  r.handle('a', 'grp_sub', ['g']);
  r.handle('a', 'grp_sub', ['g']);
  assert.deepEqual(toA(), [['grp_state', 'g', []], ['grp_state', 'g', []]]);
  r.handle('a', 'grp_sub', ['h']);
  // Over the limit of 2: refused, and the two it watches stay.
  r.handle('a', 'grp_sub', ['k']);
  const refused = toA();
  assert.deepEqual(refused[0], ['grp_state', 'h', []]);
  assert.equal((refused[1] as unknown[])[0], 'grp_refused');
  r.handle('b', 'grp_reg', ['g', 'b#1']);
  r.handle('b', 'grp_reg', ['h', 'b#2']);
  assert.deepEqual(toA(), [['grp_chg', 'g', ['b#1'], []], ['grp_chg', 'h', ['b#2'], []]]);
  r.handle('a', 'grp_unsub', ['g']);
  r.handle('b', 'grp_reg', ['g', 'b#3']);
  r.handle('b', 'grp_reg', ['h', 'b#4']);
  assert.deepEqual(toA(), [['grp_chg', 'h', ['b#4'], []]]);
  // Back to one group, a third fits again.
  r.handle('a', 'grp_sub', ['k']);
  assert.deepEqual(toA(), [['grp_state', 'k', []]]);
  r.handle('a', 'grp_hello', [[], ['k']]);
  out.splice(0);
  r.handle('b', 'grp_reg', ['h', 'b#5']);
  assert.deepEqual(toA(), []);
  r.clientGone('a');
  r.handle('b', 'grp_reg', ['k', 'b#6']);
  assert.deepEqual(toA(), []);
});

test('ws — accepted links share their socket listeners: each gets its own frames and close, and the listener still cuts the ones open', async () => {
  const accepted: Link[] = [];
  const got = new Map<Link, unknown[]>();
  const waiters: Array<() => void> = [];
  const changed = () => waiters.splice(0).forEach((w) => w());
  const until = async (ok: () => boolean) => {
    while (!ok()) await new Promise<void>((r) => waiters.push(r));
  };
  const l = await listenWs({
    host: '127.0.0.1',
    port: 0,
    onLink: (link) => {
      accepted.push(link);
      got.set(link, []);
      link.setHandlers({
        frame: (f) => (got.get(link)!.push(typeof f === 'string' ? f : [...f]), changed()),
        close: (why) => (got.get(link)!.push(`closed: ${why}`), changed()),
      });
      changed();
    },
  });
  const c1 = await connectWs(l.url);
  const c2 = await connectWs(l.url);
  const c2closed: string[] = [];
  c2.setHandlers({ close: (why) => (c2closed.push(why), changed()) });
  await until(() => accepted.length === 2);
  c1.send('one');
  c2.send(new Uint8Array([2]));
  c1.send('uno');
  await until(() => got.get(accepted[0]!)!.length === 2 && got.get(accepted[1]!)!.length === 1);
  c1.close('first goes');
  await until(() => got.get(accepted[0]!)!.length === 3);
  assert.deepEqual(got.get(accepted[0]!), ['one', 'uno', 'closed: first goes']);
  await l.close();
  await until(() => got.get(accepted[1]!)!.length === 2 && c2closed.length === 1);
  assert.deepEqual(got.get(accepted[1]!), [[2], 'closed: ws: listener closed']);
  assert.match(c2closed[0]!, /1006/);
});
