import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { FrameDecoder, FrameEncoder, type CodecOptions, type Framing, type Packet, loadJsonFraming } from '../lib/protocol/codec.ts';
import { PeerRefusedError, ProtocolError } from '../lib/protocol/errors.ts';
import { refusalFrame } from '../lib/protocol/handshake.ts';
import { fromBase64, fromBase64Url, fromHex, toBase64, toBase64Url, toHex } from '../lib/protocol/bytes.ts';
import { BadArgumentError } from '../lib/errors.ts';
import type { Frame } from '../lib/link.ts';

// These tests make json codecs themselves (a link's handshake would load it).
await loadJsonFraming();

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const hexOf = (f: Frame): string => Buffer.from(f as Uint8Array).toString('hex');

function pair(framing: Framing, maxFrameSize = 64 * 1024, extra: Partial<CodecOptions> = {}) {
  const o = { framing, maxFrameSize, ...extra };
  return { enc: new FrameEncoder(o), dec: new FrameDecoder(o) };
}

/** Encode then decode, asserting every frame but the last yields [] and all fit maxFrameSize. */
function roundTrip(framing: Framing, batch: Packet[], maxFrameSize = 64 * 1024): { out: Packet[]; frames: Frame[] } {
  const { enc, dec } = pair(framing, maxFrameSize);
  const frames = enc.encode(batch);
  let out: Packet[] = [];
  frames.forEach((f, i) => {
    const size = typeof f === 'string' ? Buffer.byteLength(f, 'utf8') : f.length;
    assert.ok(size <= maxFrameSize, `frame ${i} is ${size} bytes > ${maxFrameSize}`);
    assert.equal(typeof f === 'string', framing === 'json');
    const got = dec.decode(f);
    if (i < frames.length - 1) assert.deepEqual(got, []);
    else out = got;
  });
  return { out, frames };
}

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ProtocolError, `expected ProtocolError, got ${String(e)}`);
    assert.equal(e.code, code, `${e.message}`);
    return true;
  });
}

// ---- literal bytes -------------------------------------------------------

test('codec — msgpack whole frame, literal bytes both ways', () => {
  const { enc, dec } = pair('msgpack');
  const frames = enc.encode([['m', 'a', [1]]]);
  assert.equal(frames.length, 1);
  assert.equal(hexOf(frames[0]), '01' + '91' + '93' + 'a16d' + 'a161' + '9101');
  assert.deepEqual(dec.decode(hex('01 92 91 a1 78 92 c3 c0')), [['x'], [true, null]]);
});

test('codec — msgpack literal values: ints, floats, bin, map', () => {
  const { dec } = pair('msgpack');
  // [[-1, 200, -200, 1.5, bin(01 02), {"k": "v"}]]
  const f = hex('01 91 96 ff cc c8 d1 ff 38 cb 3ff8000000000000 c4 02 0102 81 a1 6b a1 76');
  assert.deepEqual(dec.decode(f), [[-1, 200, -200, 1.5, new Uint8Array([1, 2]), { k: 'v' }]]);
});

test('codec — msgpack short strings decode right through the string cache: repeats, colliding slots, every length, non-ASCII', () => {
  const { enc, dec } = pair('msgpack');
  // 3000 distinct strings over 512 slots collide; each batch holds every one twice, the second time out of order.
  const strs: string[] = [];
  for (let i = 0; i < 3000; i++) strs.push(`p${i.toString(36)}#`.padEnd(1 + (i % 24), String.fromCharCode(33 + (i % 90))).slice(0, 1 + (i % 24)));
  strs.push('é', 'ab\u00ff', 'x'.repeat(24), 'x'.repeat(25), '', '\u007f');
  const batch: Packet[] = [strs, [...strs].reverse()];
  for (let round = 0; round < 3; round++) {
    const frames = enc.encode(batch);
    const got = frames.map((f) => dec.decode(f)).at(-1)!;
    assert.deepEqual(got, batch);
  }
  // Literal bytes: a cached string and one in the same slot's place after it.
  assert.deepEqual(dec.decode(hex('01 91 92 a5 6e 23 61 62 63 a5 6e 23 61 62 63')), [['n#abc', 'n#abc']]);
});

test('codec — msgpack fragments, literal bytes', () => {
  // [["x" * 96]] encodes to 91 91 d9 60 + 96 bytes = 100 (0x64) bytes.
  const { enc, dec } = pair('msgpack', 64);
  const frames = enc.encode([['x'.repeat(96)]]);
  assert.equal(frames.length, 2);
  assert.equal(hexOf(frames[0]), '02' + '00000064' + '9191d960' + '78'.repeat(55));
  assert.equal(hexOf(frames[1]), '04' + '78'.repeat(41));
  assert.deepEqual(dec.decode(hex('02 00000064 9191d960' + '78'.repeat(55))), []);
  assert.deepEqual(dec.decode(hex('03' + '78'.repeat(20))), []);
  assert.deepEqual(dec.decode(hex('04' + '78'.repeat(21))), [['x'.repeat(96)]]);
});

test('codec — json whole frame and fragments, literal text', () => {
  const { enc, dec } = pair('json', 64);
  assert.deepEqual(enc.encode([['m', 'a', [1]]]), ['[["m","a",[1]]]']);
  assert.deepEqual(enc.encode([['b', new Uint8Array([1, 2, 3])]]), ['[["b",{"$b":"AQID"}]]']);
  assert.deepEqual(enc.encode([[{ $b: 'AQID' }]]), ['[[{"$o":{"$b":"AQID"}}]]']);
  const text = '[["' + 'x'.repeat(100) + '"]]'; // 106 characters
  const frames = enc.encode([['x'.repeat(100)]]);
  assert.deepEqual(frames, ['F106:' + text.slice(0, 59), 'L' + text.slice(59)]);
  assert.deepEqual(dec.decode('F106:' + text.slice(0, 30)), []);
  assert.deepEqual(dec.decode('M' + text.slice(30, 80)), []);
  assert.deepEqual(dec.decode('L' + text.slice(80)), [['x'.repeat(100)]]);
  assert.deepEqual(dec.decode('[["b",{"$b":"AQID"}],[{"$o":{"$o":1}}]]'), [['b', new Uint8Array([1, 2, 3])], [{ $o: 1 }]]);
});

// ---- round trips -------------------------------------------------------------

const NUMBERS = [
  0, 1, -1, 127, 128, -32, -33, -128, -129, 255, 256, 65535, 65536, -32768, -32769, 2 ** 32 - 1, 2 ** 32,
  -(2 ** 31), -(2 ** 31) - 1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 1.5, -0.25, 1e300, 5e-324, 2 ** 60,
];
const STRINGS = ['', 'a', 'tag', 'node#port123', 'ü', '日本語', '😀 emoji', 'x'.repeat(31), 'x'.repeat(32), 'é'.repeat(200),
  'y'.repeat(300), 'z'.repeat(70000)];

function allValues(): Packet[] {
  const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7) & 255);
  const manyKeys: Record<string, number> = {};
  for (let i = 0; i < 20; i++) manyKeys['k' + i] = i;
  return [
    NUMBERS,
    STRINGS,
    [true, false, null],
    [[], [[]], [1, [2, [3, [4]]]], Array.from({ length: 70000 }, (_, i) => i % 3)],
    [{}, { a: 1, b: 'two', c: [3], d: { e: null } }, manyKeys],
    [bytes(0), bytes(1), bytes(255), bytes(256), bytes(65536)],
    // objects that look like the JSON framing's markers travel as themselves
    [{ $b: 'AQID' }, { $o: { x: 1 } }, { $x: 1 }, { $b: 'AQID', other: 2 }, { $b: new Uint8Array([9]) }, { $: null }],
    [],
  ];
}

for (const framing of ['msgpack', 'json'] as const) {
  test(`codec — ${framing} round-trips every packet value type`, () => {
    const batch = allValues();
    const { out } = roundTrip(framing, batch, 16 * 1024);
    assert.deepEqual(out, batch);
    for (const b of out[5] as Uint8Array[]) assert.equal(b.constructor, Uint8Array);
  });

  test(`codec — ${framing} normalises byte views and undefined the same way`, () => {
    const buf = Buffer.from([1, 2, 3]);
    const i16 = new Int16Array([1, -1]);
    const { out } = roundTrip(framing, [[buf, i16, undefined, { a: undefined, b: 1 }, { $b: undefined, z: 2 }]]);
    assert.deepEqual(out, [[new Uint8Array([1, 2, 3]), new Uint8Array([1, 0, 255, 255]), null, { b: 1 }, { z: 2 }]]);
    assert.equal((out[0][0] as Uint8Array).constructor, Uint8Array);
  });

  test(`codec — ${framing} decodes Buffer frames to plain Uint8Array values`, () => {
    const { enc, dec } = pair(framing);
    const [f] = enc.encode([['b', new Uint8Array([5, 6])]]);
    const out = dec.decode(typeof f === 'string' ? f : Buffer.from(f));
    assert.equal((out[0][1] as Uint8Array).constructor, Uint8Array);
    assert.deepEqual(out, [['b', new Uint8Array([5, 6])]]);
  });

  test(`codec — ${framing} keeps a "__proto__" key as an own property`, () => {
    const o = JSON.parse('{"__proto__": {"polluted": 1}, "a": 2}') as Record<string, unknown>;
    const { out } = roundTrip(framing, [[o]]);
    const got = out[0][0] as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(got), Object.prototype);
    assert.deepEqual(Object.keys(got), ['__proto__', 'a']);
    assert.deepEqual(Object.getOwnPropertyDescriptor(got, '__proto__')?.value, { polluted: 1 });
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test(`codec — ${framing} encodes an empty batch as no frames`, () => {
    assert.deepEqual(pair(framing).enc.encode([]), []);
  });

  test(`codec — ${framing} batch of many packets comes back in order`, () => {
    const batch = Array.from({ length: 1000 }, (_, i) => ['m', `node#port${i}`, ['tag', i, 'x']]);
    const { out, frames } = roundTrip(framing, batch);
    assert.equal(frames.length, 1);
    assert.deepEqual(out, batch);
  });
}

test('codec — an encoder can be reused; frames do not alias its buffer', () => {
  const { enc, dec } = pair('msgpack');
  const f1 = enc.encode([['a', 1]]);
  const f2 = enc.encode([['b', 2]]);
  assert.deepEqual(dec.decode(f1[0]), [['a', 1]]);
  assert.deepEqual(dec.decode(f2[0]), [['b', 2]]);
});

test('codec — decoded bytes are copies, not views into the frame', () => {
  const { enc, dec } = pair('msgpack');
  const [f] = enc.encode([[new Uint8Array([7, 8, 9])]]) as Uint8Array[];
  const b = dec.decode(f)[0][0] as Uint8Array;
  assert.equal(b.buffer.byteLength, 3);
  f.fill(0);
  assert.deepEqual(b, new Uint8Array([7, 8, 9]));
});

// ---- fragmentation boundaries ------------------------------------------

/** A one-packet batch whose msgpack encoding is exactly n bytes (n >= 40). */
function msgpackBatchOfSize(n: number): Packet[] {
  // 91 91 + str header + chars; str8 for < 256 chars, str16 for < 65536, str32 beyond
  const len = n - 2 - (n - 4 < 256 ? 2 : n - 5 < 65536 ? 3 : 5);
  const batch = [['s'.repeat(len)]];
  assert.equal(new FrameEncoder({ framing: 'msgpack', maxFrameSize: 1 << 30 }).encode(batch)[0].length, n + 1);
  return batch;
}

test('codec — msgpack frame of exactly maxFrameSize is whole, one byte more fragments', () => {
  const max = 1000;
  const exact = roundTrip('msgpack', msgpackBatchOfSize(max - 1), max);
  assert.equal(exact.frames.length, 1);
  assert.equal(exact.frames[0].length, max);
  assert.equal((exact.frames[0] as Uint8Array)[0], 0x01);
  const over = roundTrip('msgpack', msgpackBatchOfSize(max), max);
  assert.deepEqual(over.frames.map((f) => [(f as Uint8Array)[0], f.length]), [[0x02, max], [0x04, 6]]);
  assert.deepEqual(over.out, msgpackBatchOfSize(max));
});

test('codec — msgpack many fragments: first, middles, last, exact sizes', () => {
  const max = 100;
  const batch = msgpackBatchOfSize(95 + 99 * 3); // first carries 95, then 3 full chunks of 99
  const { frames, out } = roundTrip('msgpack', batch, max);
  assert.deepEqual(frames.map((f) => [(f as Uint8Array)[0], f.length]), [[2, 100], [3, 100], [3, 100], [4, 100]]);
  assert.deepEqual(out, batch);
  const more = msgpackBatchOfSize(95 + 99 * 3 + 1);
  const r = roundTrip('msgpack', more, max);
  assert.deepEqual(r.frames.map((f) => [(f as Uint8Array)[0], f.length]), [[2, 100], [3, 100], [3, 100], [3, 100], [4, 2]]);
  assert.deepEqual(r.out, more);
});

test('codec — json frame of exactly maxFrameSize is whole, one more fragments', () => {
  const max = 200;
  const exact = [['x'.repeat(max - 6)]]; // [["…"]] is 6 characters of structure
  const a = roundTrip('json', exact, max);
  assert.equal(a.frames.length, 1);
  assert.equal((a.frames[0] as string).length, max);
  const b = roundTrip('json', [['x'.repeat(max - 5)]], max);
  assert.deepEqual(b.frames.map((f) => (f as string)[0]), ['F', 'L']);
  assert.deepEqual(b.out, [['x'.repeat(max - 5)]]);
});

test('codec — json fragments never exceed maxFrameSize in UTF-8 and never split a surrogate pair', () => {
  const max = 64;
  for (const s of ['😀'.repeat(100), 'é日x'.repeat(77), 'a😀'.repeat(51)]) {
    const { out, frames } = roundTrip('json', [[s, 'tail']], max);
    assert.ok(frames.length > 3);
    for (const f of frames) assert.equal(Buffer.from(f as string, 'utf8').toString('utf8'), f);
    assert.deepEqual(out, [[s, 'tail']]);
  }
  // Non-ASCII that fits as UTF-8 goes whole and unescaped.
  const { frames } = roundTrip('json', [['日本']], max);
  assert.deepEqual(frames, ['[["日本"]]']);
});

function bigRoundTrip(framing: Framing, big: Uint8Array, max: number): void {
  const { enc, dec } = pair(framing, max);
  const frames = enc.encode([['blob', big, 'end']]);
  assert.ok(frames.length > big.length / max, `${framing}/${max}: ${frames.length} frames`);
  let out: Packet[] = [];
  for (const f of frames) {
    assert.ok(f.length <= max);
    out = dec.decode(f);
  }
  assert.equal(out.length, 1);
  assert.equal(out[0][0], 'blob');
  assert.equal(out[0][2], 'end');
  const got = out[0][1] as Uint8Array;
  assert.equal(got.constructor, Uint8Array);
  assert.ok(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(big), `${framing}/${max} bytes differ`);
}

function pattern(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 4099) b[i] = i & 255;
  b[n - 1] = 42;
  return b;
}

test('codec — 50 MB Uint8Array round-trips through 64 KiB and 16 KiB msgpack fragments', () => {
  const big = pattern(50 * 1024 * 1024);
  bigRoundTrip('msgpack', big, 64 * 1024);
  bigRoundTrip('msgpack', big, 16 * 1024);
});

test('codec — 8 MB Uint8Array round-trips through 16 KiB json fragments', () => {
  // json carries bytes as base64 text: same code path as 50 MB, a sixth of the memory
  bigRoundTrip('json', pattern(8 * 1024 * 1024), 16 * 1024);
});

// ---- errors ------------------------------------------------------------------

test('codec — msgpack truncated frames give AEMP_ERR_FRAME_TRUNCATED', () => {
  const { dec } = pair('msgpack');
  throwsCode(() => dec.decode(new Uint8Array(0)), 'AEMP_ERR_FRAME_TRUNCATED');
  throwsCode(() => dec.decode(hex('01')), 'AEMP_ERR_FRAME_TRUNCATED');
  throwsCode(() => dec.decode(hex('01 92 91 a1')), 'AEMP_ERR_FRAME_TRUNCATED');
  throwsCode(() => dec.decode(hex('01 91 91 cd 01')), 'AEMP_ERR_FRAME_TRUNCATED');
  throwsCode(() => dec.decode(hex('01 91 dd ffffffff')), 'AEMP_ERR_FRAME_TRUNCATED'); // huge count, no allocation
  throwsCode(() => dec.decode(hex('02 0000')), 'AEMP_ERR_FRAME_TRUNCATED');
  // reassembled batch whose content ends early
  assert.deepEqual(dec.decode(hex('02 00000003 91 93')), []);
  throwsCode(() => dec.decode(hex('04 01')), 'AEMP_ERR_FRAME_TRUNCATED');
});

test('codec — oversized frames and batches give AEMP_ERR_FRAME_TOO_LARGE, before buffering', () => {
  const { dec } = pair('msgpack', 100, { maxMessageSize: 1000 });
  throwsCode(() => dec.decode(new Uint8Array(101).fill(1)), 'AEMP_ERR_FRAME_TOO_LARGE');
  throwsCode(() => dec.decode(hex('02 000003e9 00')), 'AEMP_ERR_FRAME_TOO_LARGE'); // claims 1001
  throwsCode(() => dec.decode(hex('02 ffffffff 00')), 'AEMP_ERR_FRAME_TOO_LARGE');
  assert.deepEqual(dec.decode(hex('02 000003e8 dc03e7')), []); // 1000 is fine
  const j = pair('json', 100, { maxMessageSize: 1000 }).dec;
  throwsCode(() => j.decode('[' + ' '.repeat(100) + ']'), 'AEMP_ERR_FRAME_TOO_LARGE');
  throwsCode(() => j.decode('F1001:['), 'AEMP_ERR_FRAME_TOO_LARGE');
  throwsCode(() => j.decode('F9999999999999999:['), 'AEMP_ERR_FRAME_TOO_LARGE');
  // the encoder refuses what the peer would refuse
  for (const framing of ['msgpack', 'json'] as const) {
    const enc = new FrameEncoder({ framing, maxFrameSize: 100, maxMessageSize: 1000 });
    throwsCode(() => enc.encode([['x'.repeat(1000)]]), 'AEMP_ERR_FRAME_TOO_LARGE');
    assert.ok(enc.encode([['x'.repeat(900)]]).length > 1);
  }
});

test('codec — msgpack garbage gives AEMP_ERR_FRAME_GARBAGE', () => {
  const { dec } = pair('msgpack');
  throwsCode(() => dec.decode(hex('01 c1')), 'AEMP_ERR_FRAME_GARBAGE');
  throwsCode(() => dec.decode(hex('01 91 91 d4 01 00')), 'AEMP_ERR_FRAME_GARBAGE'); // fixext 1
  throwsCode(() => dec.decode(hex('01 91 91 d6 ff 00000000')), 'AEMP_ERR_FRAME_GARBAGE'); // timestamp ext
  throwsCode(() => dec.decode(hex('01 90 90')), 'AEMP_ERR_FRAME_GARBAGE'); // bytes after the batch
  throwsCode(() => dec.decode(hex('01 91 91 81 91 01 02')), 'AEMP_ERR_FRAME_GARBAGE'); // array as map key
  const deep = new Uint8Array(2 + 200).fill(0x91);
  deep[0] = 1;
  deep[deep.length - 1] = 0x01;
  throwsCode(() => dec.decode(deep), 'AEMP_ERR_FRAME_GARBAGE');
  throwsCode(() => dec.decode(new Uint16Array([1, 2]) as unknown as Frame), 'AEMP_ERR_FRAME_GARBAGE');
});

test('codec — json garbage gives AEMP_ERR_FRAME_GARBAGE', () => {
  const { dec } = pair('json');
  throwsCode(() => dec.decode('[x]'), 'AEMP_ERR_FRAME_GARBAGE');
  throwsCode(() => dec.decode('[[1],]'), 'AEMP_ERR_FRAME_GARBAGE');
  throwsCode(() => dec.decode('[[{"$b":"!!!!"}]]'), 'AEMP_ERR_FRAME_GARBAGE');
  throwsCode(() => dec.decode('[[{"$b":1}]]'), 'AEMP_ERR_FRAME_GARBAGE');
  throwsCode(() => dec.decode('[[{"$o":[1]}]]'), 'AEMP_ERR_FRAME_GARBAGE');
  throwsCode(() => dec.decode('[[{"$zz":1}]]'), 'AEMP_ERR_FRAME_GARBAGE');
  throwsCode(() => dec.decode('Fx:[1]'), 'AEMP_ERR_FRAME_GARBAGE');
  throwsCode(() => dec.decode('[' + '['.repeat(200) + ']'.repeat(200) + ']'), 'AEMP_ERR_FRAME_GARBAGE');
});

test('codec — json truncated frames give AEMP_ERR_FRAME_TRUNCATED', () => {
  const { dec } = pair('json');
  throwsCode(() => dec.decode(''), 'AEMP_ERR_FRAME_TRUNCATED');
  throwsCode(() => dec.decode('[["a"]'), 'AEMP_ERR_FRAME_TRUNCATED');
  throwsCode(() => dec.decode('[["a"],'), 'AEMP_ERR_FRAME_TRUNCATED');
  throwsCode(() => dec.decode('F'), 'AEMP_ERR_FRAME_TRUNCATED');
  throwsCode(() => dec.decode('F12'), 'AEMP_ERR_FRAME_TRUNCATED');
  assert.deepEqual(dec.decode('F8:[["ab"'), []);
  throwsCode(() => dec.decode('L,1'), 'AEMP_ERR_FRAME_TRUNCATED');
});

test('codec — unknown kinds and wrong frame types give AEMP_ERR_FRAME_UNKNOWN', () => {
  const m = pair('msgpack').dec;
  for (const k of [0x00, 0x05, 0x91, 0xff]) throwsCode(() => m.decode(new Uint8Array([k, 0x90])), 'AEMP_ERR_FRAME_UNKNOWN');
  throwsCode(() => m.decode('[["a"]]'), 'AEMP_ERR_FRAME_UNKNOWN');
  const j = pair('json').dec;
  for (const k of ['X', ' [', '{"a":1}', 'f1:[', '\u0001']) throwsCode(() => j.decode(k), 'AEMP_ERR_FRAME_UNKNOWN');
  throwsCode(() => j.decode(new Uint8Array([0x5b, 0x5d])), 'AEMP_ERR_FRAME_UNKNOWN');
});

test('codec — a batch that is not an array of arrays gives AEMP_ERR_FRAME_BAD_PACKET', () => {
  const m = pair('msgpack').dec;
  throwsCode(() => m.decode(hex('01 01')), 'AEMP_ERR_FRAME_BAD_PACKET');
  throwsCode(() => m.decode(hex('01 80')), 'AEMP_ERR_FRAME_BAD_PACKET');
  throwsCode(() => m.decode(hex('01 92 90 a1 61')), 'AEMP_ERR_FRAME_BAD_PACKET');
  const j = pair('json').dec;
  throwsCode(() => j.decode('[1]'), 'AEMP_ERR_FRAME_BAD_PACKET');
  throwsCode(() => j.decode('[[],{}]'), 'AEMP_ERR_FRAME_BAD_PACKET');
  throwsCode(() => j.decode('[[],null]'), 'AEMP_ERR_FRAME_BAD_PACKET');
  assert.deepEqual(j.decode('F5:"ab'), []);
  throwsCode(() => j.decode('L"]'), 'AEMP_ERR_FRAME_BAD_PACKET');
});

test('codec — msgpack fragments out of order give AEMP_ERR_FRAGMENT_ORDER', () => {
  const fresh = () => pair('msgpack').dec;
  throwsCode(() => fresh().decode(hex('03 00')), 'AEMP_ERR_FRAGMENT_ORDER');
  throwsCode(() => fresh().decode(hex('04 00')), 'AEMP_ERR_FRAGMENT_ORDER');
  throwsCode(() => fresh().decode(hex('02 00000002 91 90')), 'AEMP_ERR_FRAGMENT_ORDER'); // first holds it all
  const open = () => {
    const d = fresh();
    assert.deepEqual(d.decode(hex('02 00000004 91 92')), []);
    return d;
  };
  throwsCode(() => open().decode(hex('02 00000004 91 92')), 'AEMP_ERR_FRAGMENT_ORDER');
  throwsCode(() => open().decode(hex('01 90')), 'AEMP_ERR_FRAGMENT_ORDER');
  throwsCode(() => open().decode(hex('04 01')), 'AEMP_ERR_FRAGMENT_ORDER'); // 3 of 4
  throwsCode(() => open().decode(hex('04 010203')), 'AEMP_ERR_FRAGMENT_ORDER'); // 5 of 4
  throwsCode(() => open().decode(hex('03 0102')), 'AEMP_ERR_FRAGMENT_ORDER'); // middle reaches the total
  const d = open();
  assert.deepEqual(d.decode(hex('03 01')), []);
  assert.deepEqual(d.decode(hex('04 02')), [[1, 2]]);
});

test('codec — json fragments out of order give AEMP_ERR_FRAGMENT_ORDER', () => {
  const fresh = () => pair('json').dec;
  throwsCode(() => fresh().decode('M[1]'), 'AEMP_ERR_FRAGMENT_ORDER');
  throwsCode(() => fresh().decode('L[1]'), 'AEMP_ERR_FRAGMENT_ORDER');
  throwsCode(() => fresh().decode('F4:[[]]'), 'AEMP_ERR_FRAGMENT_ORDER');
  const open = () => {
    const d = fresh();
    assert.deepEqual(d.decode('F5:[[1'), []);
    return d;
  };
  throwsCode(() => open().decode('F5:[[1'), 'AEMP_ERR_FRAGMENT_ORDER');
  throwsCode(() => open().decode('[[1]]'), 'AEMP_ERR_FRAGMENT_ORDER');
  throwsCode(() => open().decode('L]'), 'AEMP_ERR_FRAGMENT_ORDER');
  throwsCode(() => open().decode('L]]]'), 'AEMP_ERR_FRAGMENT_ORDER');
  throwsCode(() => open().decode('M]]'), 'AEMP_ERR_FRAGMENT_ORDER');
  assert.deepEqual(open().decode('L]]'), [[1]]);
});

test('codec — a refusal frame after the handshake gives AEMP_ERR_REFUSED_BY_PEER with the peer code', () => {
  for (const framing of ['msgpack', 'json'] as const) {
    const { dec } = pair(framing);
    assert.throws(
      () => dec.decode(refusalFrame('AEMP_ERR_DUPLICATE_NODE', 'node a is already connected')),
      (e: unknown) =>
        e instanceof PeerRefusedError &&
        e.code === 'AEMP_ERR_REFUSED_BY_PEER' &&
        e.peerCode === 'AEMP_ERR_DUPLICATE_NODE' &&
        e.peerReason === 'node a is already connected',
    );
  }
});

test('codec — after an error the partial batch is dropped and the decoder still works', () => {
  const { enc, dec } = pair('msgpack');
  assert.deepEqual(dec.decode(hex('02 00000004 91 93')), []);
  throwsCode(() => dec.decode(hex('09')), 'AEMP_ERR_FRAME_UNKNOWN');
  assert.deepEqual(dec.decode(enc.encode([['ok']])[0]), [['ok']]);
});

test('codec — unencodable values give AEMP_ERR_ENCODE in both framings', () => {
  const cyclic: unknown[] = [];
  cyclic.push(cyclic);
  const bad: unknown[] = [() => 1, Symbol('s'), 10n, cyclic, { f: () => 1 }];
  for (const framing of ['msgpack', 'json'] as const) {
    const { enc, dec } = pair(framing);
    for (const v of bad) throwsCode(() => enc.encode([['m', v]]), 'AEMP_ERR_ENCODE');
    throwsCode(() => enc.encode(['notapacket' as unknown as Packet]), 'AEMP_ERR_ENCODE');
    // depth: 100 levels (batch, packet, 97 arrays, the leaf) is fine, 101 is not
    let ok: unknown = 1;
    for (let i = 0; i < 97; i++) ok = [ok];
    assert.deepEqual(dec.decode(enc.encode([[ok]])[0]), [[ok]]);
    throwsCode(() => enc.encode([[[ok]]]), 'AEMP_ERR_ENCODE');
    assert.deepEqual(dec.decode(enc.encode([['still', 'fine']])[0]), [['still', 'fine']]);
  }
});

test('codec — bad options give BadArgumentError', () => {
  assert.throws(() => new FrameEncoder({ framing: 'msgpack', maxFrameSize: 63 }), BadArgumentError);
  assert.throws(() => new FrameDecoder({ framing: 'json', maxFrameSize: 1.5 }), BadArgumentError);
  assert.throws(() => new FrameDecoder({ framing: 'xml' as Framing, maxFrameSize: 1000 }), BadArgumentError);
  assert.throws(() => new FrameDecoder({ framing: 'json', maxFrameSize: 1000, maxMessageSize: 2 ** 32 }), BadArgumentError);
});

test('codec — hex and base64 helpers agree with Buffer', () => {
  for (let n = 0; n < 70; n++) {
    const b = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 255);
    const B = Buffer.from(b);
    assert.equal(toBase64(b), B.toString('base64'));
    assert.equal(toBase64Url(b), B.toString('base64url'));
    assert.equal(toHex(b), B.toString('hex'));
    assert.deepEqual(fromBase64(B.toString('base64')), b);
    assert.deepEqual(fromBase64Url(B.toString('base64url')), b);
    assert.deepEqual(fromHex(B.toString('hex').toUpperCase()), b);
  }
  for (const bad of ['A', 'AB=C', 'AB==A===', 'A?==', 'AB=', 'AR==', 'é===']) assert.equal(fromBase64(bad), undefined, bad);
  for (const bad of ['A', 'AB==', 'A+', 'AR']) assert.equal(fromBase64Url(bad), undefined, bad);
  for (const bad of ['0', 'zz', '0g']) assert.equal(fromHex(bad), undefined, bad);
});

test('codec — lone surrogates: kept by json, U+FFFD in msgpack (UTF-8 cannot hold them)', () => {
  const s = 'a\ud800b\udc00';
  assert.deepEqual(roundTrip('json', [[s]]).out, [[s]]);
  assert.deepEqual(roundTrip('msgpack', [[s, s.repeat(20)]]).out, [['a\ufffdb\ufffd', 'a\ufffdb\ufffd'.repeat(20)]]);
});

test('codec — encode(batch, transient): the same frames as encode(batch); a one-frame batch is a view of the shared buffer, which the next encode overwrites', () => {
  const o = { framing: 'msgpack' as const, maxFrameSize: 64 * 1024 };
  const a = new FrameEncoder(o);
  const b = new FrameEncoder(o);
  const batch: Packet[] = [['m', 7, 1, 'node#p', ['hello', 1]]];
  const want = hexOf(a.encode(batch)[0]!);
  const [t1] = a.encode(batch, true);
  assert.equal(hexOf(t1!), want);
  // Valid until the next encode of any encoder: what a link that copies on send may take.
  b.encode([['x', 'y'.repeat(40)]]);
  assert.notEqual(hexOf(t1!), want);
  // A batch over the frame size is fragmented into frames of their own, as by encode().
  const big: Packet[] = [['m', 1, 2, 'p', [new Uint8Array(100_000)]]];
  const small = { framing: 'msgpack' as const, maxFrameSize: 16 * 1024 };
  assert.deepEqual(new FrameEncoder(small).encode(big, true).map(hexOf), new FrameEncoder(small).encode(big).map(hexOf));
  // json frames are strings: the same either way.
  assert.deepEqual(new FrameEncoder({ ...o, framing: 'json' }).encode(batch, true), new FrameEncoder({ ...o, framing: 'json' }).encode(batch));
});
