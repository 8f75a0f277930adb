/**
 * The codec's bounds on what one batch may cost (docs/protocol.md, "Limits"):
 * packets per batch, decoded elements, the fragment deadline, and the
 * encoder keeping to the same limits by splitting. Literal bytes and text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { FrameDecoder, FrameEncoder, type CodecOptions, type Framing, type Packet, loadJsonFraming } from '../lib/protocol/codec.ts';
import { ProtocolError } from '../lib/protocol/errors.ts';
import { jsonShape } from '../lib/protocol/json.ts';
import { BadArgumentError } from '../lib/errors.ts';
import type { Frame } from '../lib/link.ts';

// These tests make json codecs themselves (a link's handshake would load it).
await loadJsonFraming();

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const dec = (framing: Framing, extra: Partial<CodecOptions> = {}, maxFrameSize = 64 * 1024) => new FrameDecoder({ framing, maxFrameSize, ...extra });

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ProtocolError, `expected ProtocolError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

function decodeAll(d: FrameDecoder, frames: Frame[]): Packet[] {
  const out: Packet[] = [];
  for (const f of frames) out.push(...d.decode(f));
  return out;
}

// ---- msgpack -----------------------------------------------------------------

test('codec-limits — msgpack: more packets than maxBatchPackets gives AEMP_ERR_BATCH_PACKETS at the batch header', () => {
  const d = dec('msgpack', { maxBatchPackets: 3 });
  assert.deepEqual(d.decode(hex('01 93 90 90 90')), [[], [], []]);
  throwsCode(() => d.decode(hex('01 94 90 90 90 90')), 'AEMP_ERR_BATCH_PACKETS');
  // A count of 2^31 in a 6-byte frame: the packet limit speaks first, nothing is allocated.
  throwsCode(() => d.decode(hex('01 dd 80000000 90')), 'AEMP_ERR_BATCH_PACKETS');
  // Under the packet limit but more than the bytes left: truncated, not allocated.
  throwsCode(() => dec('msgpack').decode(hex('01 dd 0000ffff 90')), 'AEMP_ERR_FRAME_TRUNCATED');
  throwsCode(() => dec('msgpack').decode(hex('01 91 dd ffffffff 90')), 'AEMP_ERR_FRAME_TRUNCATED');
  throwsCode(() => dec('msgpack').decode(hex('01 91 df 7fffffff a0 90')), 'AEMP_ERR_FRAME_TRUNCATED');
});

test('codec-limits — msgpack: elements are charged at each header, maps two per entry; one over gives AEMP_ERR_BATCH_ELEMENTS', () => {
  // [[[], [], [], []]]: 1 packet + 4 elements = 5.
  const f = hex('01 91 94 90 90 90 90');
  assert.deepEqual(dec('msgpack', { maxBatchElements: 5 }).decode(f), [[[], [], [], []]]);
  throwsCode(() => dec('msgpack', { maxBatchElements: 4 }).decode(f), 'AEMP_ERR_BATCH_ELEMENTS');
  // [[{a: 1, b: 2}]]: 1 + 1 + 2 * 2 = 6.
  const m = hex('01 91 91 82 a161 01 a162 02');
  assert.deepEqual(dec('msgpack', { maxBatchElements: 6 }).decode(m), [[{ a: 1, b: 2 }]]);
  throwsCode(() => dec('msgpack', { maxBatchElements: 5 }).decode(m), 'AEMP_ERR_BATCH_ELEMENTS');
  // Strings and bytes are one element whatever their length (their bytes are bounded by maxMessageSize).
  const s = hex('01 91 92 d9 28' + '78'.repeat(40) + 'c4 03 010203');
  assert.deepEqual(dec('msgpack', { maxBatchElements: 3 }).decode(s), [['x'.repeat(40), new Uint8Array([1, 2, 3])]]);
});

test('codec-limits — msgpack amplification: a 1 MiB frame of empty arrays is refused by its header, nested ones by the element budget', () => {
  // 0x90 is one byte on the wire and an array on the heap: this is the crash shape, a million packets.
  const flat = new Uint8Array(1 + 5 + 1_000_000).fill(0x90);
  flat.set(hex('01 dd 000f4240'));
  throwsCode(() => dec('msgpack', { maxBatchPackets: 4096 }, 2 << 20).decode(flat), 'AEMP_ERR_BATCH_PACKETS');
  // The same bytes as 200 packets of 5000 empty arrays each: within the packet limit, over the element budget.
  const parts: number[] = [0x01, 0xdc, 0x00, 0xc8];
  for (let p = 0; p < 200; p++) parts.push(0xdc, 0x13, 0x88, ...new Array(5000).fill(0x90));
  const nested = Uint8Array.from(parts);
  throwsCode(() => dec('msgpack', { maxBatchElements: 100_000 }, 2 << 20).decode(nested), 'AEMP_ERR_BATCH_ELEMENTS');
  assert.equal(dec('msgpack', { maxBatchElements: 200 + 200 * 5000 }, 2 << 20).decode(nested).length, 200);
});

test('codec-limits — msgpack FIRST fragment: its batch header is checked before the rest is awaited', () => {
  const d = dec('msgpack', { maxBatchPackets: 4096 }, 64);
  // 8192 packets announced in a 100 000-byte batch.
  throwsCode(() => d.decode(hex('02 000186a0 dc 2000 90 90')), 'AEMP_ERR_BATCH_PACKETS');
  assert.equal(d.pendingBytes, 0);
  // Not an array at all.
  throwsCode(() => d.decode(hex('02 000186a0 81 a0 90')), 'AEMP_ERR_FRAME_BAD_PACKET');
  // More packets than the announced bytes could hold.
  throwsCode(() => d.decode(hex('02 00000010 dc 0020 90')), 'AEMP_ERR_FRAME_TRUNCATED');
  // A header cut by a tiny chunk is checked once the batch is whole.
  assert.deepEqual(d.decode(hex('02 00000005 dc')), []);
  assert.deepEqual(d.decode(hex('04 0002 90 90')), [[], []]);
});

test('codec-limits — the fragment deadline counts from the FIRST fragment, however the rest trickles in', () => {
  let now = 1000;
  const d = dec('msgpack', { fragmentTimeoutMs: 6000, now: () => now }, 64);
  assert.equal(d.deadline, undefined);
  assert.deepEqual(d.decode(hex('02 00000008 97 90 90')), []);
  assert.equal(d.deadline, 7000);
  assert.equal(d.pendingBytes, 8);
  now = 4000;
  assert.deepEqual(d.decode(hex('03 90 90')), []);
  now = 7000;
  assert.deepEqual(d.decode(hex('03 90')), []); // at the deadline: still in time
  assert.equal(d.deadline, 7000, 'a fragment does not move the deadline');
  now = 7001;
  throwsCode(() => d.decode(hex('04 90 90')), 'AEMP_ERR_FRAGMENT_TIMEOUT');
  assert.equal(d.deadline, undefined);
  assert.equal(d.pendingBytes, 0, 'the half batch is dropped');
  // The next batch has its own deadline, and a whole frame has none.
  assert.deepEqual(d.decode(hex('01 91 90')), [[]]);
  assert.deepEqual(d.decode(hex('02 00000003 92 90')), []);
  assert.equal(d.deadline, 13001);
  assert.deepEqual(d.decode(hex('04 90')), [[], []]);
  assert.equal(d.deadline, undefined);

  const j = dec('json', { fragmentTimeoutMs: 10, now: () => now }, 64);
  assert.deepEqual(j.decode('F9:[[1],'), []);
  now += 11;
  throwsCode(() => j.decode('L[2]]'), 'AEMP_ERR_FRAGMENT_TIMEOUT');
});

test('codec-limits — reset drops a half-received batch', () => {
  const d = dec('msgpack', {}, 64);
  d.decode(hex('02 00000400 dc 0010 90'));
  assert.ok(d.pendingBytes >= 0x400);
  d.reset();
  assert.equal(d.pendingBytes, 0);
  assert.deepEqual(d.decode(hex('01 91 90')), [[]]);
});

// ---- json ----------------------------------------------------------------------

test('codec-limits — jsonShape counts elements outside strings, the same way for every nesting', () => {
  assert.deepEqual(jsonShape('[]', 100), { packets: 0, elements: 0 });
  assert.deepEqual(jsonShape('[[]]', 100), { packets: 1, elements: 1 });
  assert.deepEqual(jsonShape('[[1,2,3],[]]', 100), { packets: 2, elements: 5 });
  assert.deepEqual(jsonShape('[[{"a":1,"b":[2]}]]', 100), { packets: 1, elements: 7 });
  // Commas, colons, brackets and escaped quotes inside strings are not structure.
  assert.deepEqual(jsonShape('[["a,b:[{\\"]}",":"]]', 100), { packets: 1, elements: 3 });
  assert.deepEqual(jsonShape('[["\\\\",1]]', 100), { packets: 1, elements: 3 });
  // Non-empty nesting well past maxDepth is refused before parsing.
  assert.throws(() => jsonShape('['.repeat(10) + '1' + ']'.repeat(10), 5), (e: unknown) => (e as ProtocolError).code === 'AEMP_ERR_FRAME_GARBAGE');
  assert.deepEqual(jsonShape('[' + '[],'.repeat(9) + '[]]', 100, 3), { packets: 4, elements: 4 }, 'stops counting past stopAbove');
});

test('codec-limits — json: a batch over its element budget is refused before JSON.parse, over its packet limit after it', () => {
  throwsCode(() => dec('json', { maxBatchPackets: 2 }).decode('[[],[],[]]'), 'AEMP_ERR_BATCH_PACKETS');
  assert.deepEqual(dec('json', { maxBatchPackets: 3 }).decode('[[],[],[]]'), [[], [], []]);
  throwsCode(() => dec('json', { maxBatchElements: 3 }).decode('[[1,2,3]]'), 'AEMP_ERR_BATCH_ELEMENTS');
  assert.deepEqual(dec('json', { maxBatchElements: 4 }).decode('[[1,2,3]]'), [[1, 2, 3]]);
  // Amplification: 3 characters per empty array, a third of a million of them.
  const bomb = '[[' + '[],'.repeat(333_333) + '[]]]';
  throwsCode(() => dec('json', { maxBatchElements: 131_072 }, 2 << 20).decode(bomb), 'AEMP_ERR_BATCH_ELEMENTS');
  // Reassembled text is counted too.
  const d = dec('json', { maxBatchPackets: 2 }, 64);
  assert.deepEqual(d.decode('F10:[[],'), []);
  throwsCode(() => d.decode('L[],[]]'), 'AEMP_ERR_BATCH_PACKETS');
});

// ---- the encoder keeps to the same limits ---------------------------------------

for (const framing of ['msgpack', 'json'] as const) {
  test(`codec-limits — ${framing} encoder splits a batch over a limit into batches the same limits accept`, () => {
    const batch: Packet[] = Array.from({ length: 50 }, (_, i) => ['m', i, 'x'.repeat(i * 10), [1, 2, 3]]);
    for (const lim of [{ maxBatchPackets: 7 }, { maxMessageSize: 2000 }, { maxBatchElements: 40 }, { maxBatchPackets: 1, maxBatchElements: 8 }]) {
      const o = { framing, maxFrameSize: 256, ...lim };
      const frames = new FrameEncoder(o).encode(batch);
      assert.deepEqual(decodeAll(new FrameDecoder(o), frames), batch, JSON.stringify(lim));
      // The unsplit batch would have been refused.
      const whole = new FrameEncoder({ framing, maxFrameSize: 256 }).encode(batch);
      assert.throws(() => decodeAll(new FrameDecoder(o), whole), ProtocolError);
    }
  });

  test(`codec-limits — ${framing} encoder: one packet over a limit throws, with the code the peer would use`, () => {
    const enc = new FrameEncoder({ framing, maxFrameSize: 256, maxBatchElements: 10 });
    throwsCode(() => enc.encode([['m', new Array(20).fill(0)]]), 'AEMP_ERR_BATCH_ELEMENTS');
    throwsCode(() => enc.encode([['ok'], ['m', new Array(20).fill(0)]]), 'AEMP_ERR_BATCH_ELEMENTS');
    const small = new FrameEncoder({ framing, maxFrameSize: 256, maxMessageSize: 100 });
    throwsCode(() => small.encode([['x'.repeat(200)]]), 'AEMP_ERR_FRAME_TOO_LARGE');
    assert.equal(enc.encode([['ok']]).length, 1, 'the encoder still works');
  });
}

test('codec-limits — bad limit options give BadArgumentError', () => {
  for (const bad of [{ maxBatchPackets: 0 }, { maxBatchElements: 1.5 }, { fragmentTimeoutMs: 0, now: () => 0 }, { fragmentTimeoutMs: 100 }]) {
    assert.throws(() => new FrameDecoder({ framing: 'msgpack', maxFrameSize: 64, ...bad }), BadArgumentError, JSON.stringify(bad));
  }
});
