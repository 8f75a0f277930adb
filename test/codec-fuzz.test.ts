import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Decoder, Encoder } from '@msgpack/msgpack';
import { FrameDecoder, FrameEncoder, type Framing, type Packet, loadJsonFraming } from '../lib/protocol/codec.ts';
import { FRAME_CODES, HANDSHAKE_CODES, ProtocolError } from '../lib/protocol/errors.ts';
import { MsgpackReader, MsgpackWriter } from '../lib/protocol/msgpack.ts';
import type { Frame } from '../lib/link.ts';
import { prng } from './fixtures/prng.ts';

// These tests make json codecs themselves (a link's handshake would load it).
await loadJsonFraming();

// Deterministic: a failure reproduces with the same seed.
const SEED = 0x5eed1234;
const DECODER_CODES = new Set<string>([
  FRAME_CODES.TRUNCATED,
  FRAME_CODES.GARBAGE,
  FRAME_CODES.TOO_LARGE,
  FRAME_CODES.UNKNOWN,
  FRAME_CODES.BAD_PACKET,
  FRAME_CODES.FRAGMENT_ORDER,
  FRAME_CODES.BATCH_PACKETS,
  FRAME_CODES.BATCH_ELEMENTS,
  HANDSHAKE_CODES.REFUSED_BY_PEER,
]);


function gen(rnd: () => number) {
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const KEYS = ['a', 'tag', '$b', '$o', '$x', '__proto__', 'k', ''];
  const CHARS = ['a', 'Z', '0', ' ', '"', '\\', 'é', '日', '😀', '\n', '$'];
  const str = (): string => {
    const n = pick([0, 1, 3, 12, 31, 32, 40, 300]);
    let s = '';
    for (let i = 0; i < n; i++) s += rnd() < 0.8 ? String.fromCharCode(97 + int(26)) : pick(CHARS);
    return s;
  };
  const value = (depth: number): unknown => {
    const k = int(depth > 3 ? 7 : 9);
    switch (k) {
      case 0:
        return pick([0, 1, -1, 127, 128, -32, -33, 255, 256, 65535, 65536, -129, 2 ** 32, -(2 ** 31) - 1, 2 ** 53 - 1]);
      case 1:
        return (rnd() - 0.5) * 10 ** int(12);
      case 2:
      case 3:
        return str();
      case 4:
        return pick([true, false, null]);
      case 5:
        return Uint8Array.from({ length: pick([0, 1, 5, 40, 300]) }, () => int(256));
      case 6:
        return int(1000);
      case 7:
        return Array.from({ length: int(5) }, () => value(depth + 1));
      default: {
        const o: Record<string, unknown> = {};
        const n = int(4);
        for (let i = 0; i < n; i++) {
          const key = pick(KEYS);
          if (key === '__proto__') Object.defineProperty(o, key, { value: value(depth + 1), enumerable: true, writable: true, configurable: true });
          else o[key] = value(depth + 1);
        }
        return o;
      }
    }
  };
  const batch = (): Packet[] => Array.from({ length: 1 + int(6) }, () => Array.from({ length: int(5) }, () => value(2)));
  return { int, pick, value, batch };
}

function mutateBytes(rnd: () => number, f: Uint8Array, other: Uint8Array): Uint8Array | string {
  const int = (n: number) => Math.floor(rnd() * n);
  const b = f.slice();
  switch (int(9)) {
    case 0: // bit flips
      for (let i = 1 + int(3); i > 0 && b.length; i--) b[int(b.length)] ^= 1 << int(8);
      return b;
    case 1: // truncation
      return b.subarray(0, int(b.length));
    case 2: // splice of two valid frames
      return Uint8Array.from([...f.subarray(0, int(f.length + 1)), ...other.subarray(int(other.length + 1))]);
    case 3: // random bytes behind a plausible kind
      return Uint8Array.from({ length: 1 + int(80) }, (_, i) => (i === 0 ? int(6) : int(256)));
    case 4: // another kind byte
      if (b.length) b[0] = int(256);
      return b;
    case 5: // insert a byte
      return Uint8Array.from([...b.subarray(0, int(b.length + 1)), int(256), ...b.subarray(int(b.length + 1))]);
    case 6: // a wild first-fragment length
      if (b.length >= 5) new DataView(b.buffer).setUint32(1, int(2 ** 32));
      return b;
    case 7: // a byte replaced by an interesting msgpack head
      if (b.length > 1) b[1 + int(b.length - 1)] = [0xc1, 0xc7, 0xd4, 0xdc, 0xdd, 0xdf, 0xdb, 0xc6, 0x9f, 0x8f][int(10)];
      return b;
    default: // text on a binary link
      return '[["x"]]';
  }
}

function mutateText(rnd: () => number, f: string, other: string): string | Uint8Array {
  const int = (n: number) => Math.floor(rnd() * n);
  const JUNK = '[]{}",:0123456789-.eE$bo\\u truefalsenullFML ';
  const at = int(f.length + 1);
  switch (int(8)) {
    case 0: // char flip
      if (!f.length) return f;
      return f.slice(0, at) + String.fromCharCode(f.charCodeAt(Math.min(at, f.length - 1)) ^ (1 << int(16))) + f.slice(at + 1);
    case 1:
      return f.slice(0, int(f.length));
    case 2:
      return f.slice(0, at) + other.slice(int(other.length + 1));
    case 3:
      return Array.from({ length: 1 + int(60) }, () => JUNK[int(JUNK.length)]).join('');
    case 4:
      return JUNK[int(JUNK.length)] + f.slice(1);
    case 5:
      return f.slice(0, at) + JUNK[int(JUNK.length)] + f.slice(at);
    case 6:
      return f.slice(0, at) + f.slice(at + 1 + int(5));
    default:
      return new Uint8Array([0x01, 0x91, 0x90]);
  }
}

function feed(dec: FrameDecoder, frame: Frame): 'ok' | 'error' {
  try {
    dec.decode(frame);
    return 'ok';
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw new Error(`non-ProtocolError escaped: ${String(e)}`, { cause: e });
    if (!DECODER_CODES.has(e.code)) throw new Error(`unexpected code ${e.code}: ${e.message}`);
    return 'error';
  }
}

function fuzz(framing: Framing, seed: number, target: number): { frames: number; errors: number; checked: number } {
  const rnd = prng(seed);
  const g = gen(rnd);
  const sizes = [64, 100, 256, 4096];
  const reused = new FrameDecoder({ framing, maxFrameSize: 4096, maxMessageSize: 1 << 20 });
  let frames = 0;
  let errors = 0;
  let checked = 0;
  let prev: Frame[] = [];
  const deadline = Date.now() + 20_000;
  while (frames < target) {
    assert.ok(Date.now() < deadline, `fuzz ${framing} too slow: ${frames} frames`);
    const max = g.pick(sizes);
    const batch = g.batch();
    const seq = new FrameEncoder({ framing, maxFrameSize: max }).encode(batch);
    if (g.int(8) === 0) {
      // unmutated: must come back exactly
      const dec = new FrameDecoder({ framing, maxFrameSize: max });
      let out: Packet[] = [];
      for (const f of seq) out = dec.decode(f);
      frames += seq.length;
      assert.deepEqual(out, batch);
      checked++;
      prev = seq;
      continue;
    }
    // mutate one or more frames of the sequence, or reorder/drop/duplicate
    const mutated: Frame[] = seq.slice();
    const other = prev.length ? prev[g.int(prev.length)] : seq[0];
    const n = 1 + g.int(2);
    for (let i = 0; i < n; i++) {
      const j = g.int(mutated.length);
      const f = mutated[j];
      mutated[j] =
        typeof f === 'string'
          ? mutateText(rnd, f, typeof other === 'string' ? other : '')
          : mutateBytes(rnd, f, other instanceof Uint8Array ? other : new Uint8Array(0));
    }
    if (mutated.length > 1 && g.int(4) === 0) mutated.splice(g.int(mutated.length), 1);
    if (g.int(6) === 0) mutated.push(mutated[g.int(mutated.length)]);
    const dec = g.int(2) === 0 ? reused : new FrameDecoder({ framing, maxFrameSize: max, maxMessageSize: g.pick([1 << 20, undefined]) });
    for (const f of mutated) {
      frames++;
      if (feed(dec, f) === 'error') {
        errors++;
        if (dec !== reused) break; // the link would close
      }
    }
    prev = seq;
  }
  return { frames, errors, checked };
}

for (const [framing, seed] of [['msgpack', SEED], ['json', SEED + 1]] as const) {
  test(`codec-fuzz — ${framing}: 100,000 random, mutated and spliced frames raise only ProtocolErrors`, () => {
    const r = fuzz(framing, seed, 100_000);
    assert.ok(r.frames >= 100_000);
    // the mutations must actually reach the error paths, and the clean ones must round-trip
    assert.ok(r.errors > 20_000, `only ${r.errors} errors`);
    assert.ok(r.checked > 2_000, `only ${r.checked} clean batches`);
  });
}

test('codec-fuzz — random bytes and text through one long-lived decoder of each framing', () => {
  const rnd = prng(SEED + 2);
  const int = (n: number) => Math.floor(rnd() * n);
  const m = new FrameDecoder({ framing: 'msgpack', maxFrameSize: 512 });
  const j = new FrameDecoder({ framing: 'json', maxFrameSize: 512 });
  for (let i = 0; i < 10_000; i++) {
    feed(m, Uint8Array.from({ length: int(40) }, () => int(256)));
    feed(j, String.fromCharCode(...Array.from({ length: int(40) }, () => (int(4) ? 32 + int(96) : int(0x10000)))));
  }
});

test('codec-fuzz — the msgpack writer produces the same bytes as @msgpack/msgpack', () => {
  const rnd = prng(SEED + 4);
  const g = gen(rnd);
  const lib = new Encoder({ ignoreUndefined: true });
  const mine = new MsgpackWriter(100);
  const extra: unknown[] = [
    [undefined, { a: undefined, b: 1 }, -0, 0.1, NaN, Infinity, -Infinity, 2 ** 53, -(2 ** 53), 2 ** 53 - 1, -(2 ** 53) + 1],
    ['x'.repeat(10), 'é'.repeat(10), 'é'.repeat(11), '😀'.repeat(8), 'é'.repeat(127), 'é'.repeat(128), 'x'.repeat(65535), 'x'.repeat(65536), 'é'.repeat(40000)],
    [Array(15).fill(1), Array(16).fill(1), Array(65536).fill(1), new Uint8Array(65536), new Uint8Array(70000)],
    [Object.fromEntries(Array.from({ length: 16 }, (_, i) => ['k' + i, i]))],
  ];
  for (const v of extra) assert.deepEqual(mine.write(v, 0).slice(), lib.encode(v));
  for (let i = 0; i < 5_000; i++) {
    const batch = g.batch();
    assert.deepEqual(mine.write(batch, 0).slice(), lib.encode(batch));
  }
});

test('codec-fuzz — the msgpack reader agrees with @msgpack/msgpack on valid and mutated input', () => {
  const rnd = prng(SEED + 3);
  const g = gen(rnd);
  const enc = new Encoder();
  const lib = new Decoder();
  const mine = new MsgpackReader(100);
  let compared = 0;
  for (let i = 0; i < 5_000; i++) {
    const bytes = enc.encode(g.batch());
    let expected: unknown;
    try {
      expected = lib.decode(bytes);
    } catch (e) {
      // the library refuses "__proto__" keys that the reader keeps as own properties (codec.test.ts)
      assert.match(String(e), /__proto__/);
      continue;
    }
    assert.deepEqual(mine.read(bytes), expected);
    const bad = mutateBytes(rnd, bytes, bytes);
    if (typeof bad === 'string') continue;
    let a: unknown;
    let b: unknown;
    let aErr: unknown;
    let bErr: unknown;
    try {
      a = mine.read(bad);
    } catch (e) {
      assert.ok(e instanceof ProtocolError, String(e));
      aErr = e;
    }
    try {
      b = lib.decode(bad);
    } catch (e) {
      bErr = e;
    }
    if (!aErr && !bErr) {
      sameExceptBadUtf8(a, b);
      compared++;
    }
    if (bErr && !/__proto__/.test(String(bErr))) assert.ok(aErr, `library refused, reader accepted: ${String(bErr)}`);
  }
  assert.ok(compared > 100, `only ${compared} mutated inputs both accepted`);
});

/**
 * Deep equality, except that where the reader decoded invalid UTF-8 to U+FFFD
 * (WHATWG, like WebSocket text) the library's lenient decoder may differ.
 */
function sameExceptBadUtf8(mine: unknown, lib: unknown): void {
  if (typeof mine === 'string' && mine.includes('\ufffd') && typeof lib === 'string') return;
  if (Array.isArray(mine)) {
    assert.ok(Array.isArray(lib));
    assert.equal(mine.length, lib.length);
    mine.forEach((x, i) => sameExceptBadUtf8(x, lib[i]));
    return;
  }
  if (mine !== null && typeof mine === 'object' && !(mine instanceof Uint8Array)) {
    const mk = Object.keys(mine);
    const lk = Object.keys(lib as object);
    assert.equal(mk.length, lk.length);
    mk.forEach((k, i) => {
      sameExceptBadUtf8(k, lk[i]);
      sameExceptBadUtf8((mine as Record<string, unknown>)[k], (lib as Record<string, unknown>)[lk[i]]);
    });
    return;
  }
  assert.deepEqual(mine, lib);
}
