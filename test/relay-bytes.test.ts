/**
 * Relaying without re-encoding (lib/protocol/raw-tail.ts): on literal
 * msgpack bytes, a relaying decoder keeps what follows a relay request's
 * destination as the bytes it came as, and the encoder writes them out
 * again unchanged behind the seed's own header; a page's stamp is appended;
 * a json link gets the values; a malformed tail is refused like any
 * malformed packet.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameDecoder, FrameEncoder, loadJsonFraming } from '../lib/protocol/codec.ts';
import { RawTail, stampTail } from '../lib/protocol/raw-tail.ts';
import { RELAY_CODEC, expandTail } from '../lib/protocol/raw-tail-expand.ts';
import { ProtocolError } from '../lib/protocol/errors.ts';

// These tests make json codecs themselves (a link's handshake would load it).
await loadJsonFraming();

const str = (s: string): number[] => [0xa0 | s.length, ...[...s].map((c) => c.charCodeAt(0))];
const MAX = 1024 * 1024;
const relaying = () => new FrameDecoder({ framing: 'msgpack', maxFrameSize: MAX, relay: RELAY_CODEC });
const plainDec = () => new FrameDecoder({ framing: 'msgpack', maxFrameSize: MAX });
// A seed's encoder: its json links get relayed tails as values (RELAY_CODEC.expand).
const enc = (framing: 'msgpack' | 'json' = 'msgpack') => new FrameEncoder({ framing, maxFrameSize: MAX, relay: RELAY_CODEC });

// The tail of ['r', 'nb', 7, 300, 'nb#p', ['m', 1.5, {k: bytes 01 02}, null]]: sid, seq, port, msg.
const TAIL = [0x07, 0xcd, 0x01, 0x2c, ...str('nb#p'), 0x94, ...str('m'), 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0x81, ...str('k'), 0xc4, 0x02, 0x01, 0x02, 0xc0];
const R = [0x01, 0x91, 0x96, ...str('r'), ...str('nb'), ...TAIL];

test('relay bytes — a relaying decoder keeps the tail of an r packet as its bytes; the f packet written from it carries them unchanged', () => {
  const [p] = relaying().decode(new Uint8Array(R));
  assert.equal(p!.length, 3);
  assert.deepEqual(p!.slice(0, 2), ['r', 'nb']);
  const t = p![2] as RawTail;
  assert.ok(t instanceof RawTail);
  assert.deepEqual([...t.bytes], TAIL);
  assert.equal(t.count, 4);
  const [f] = enc().encode([['f', 'na', t]]);
  assert.deepEqual([...(f as Uint8Array)], [0x01, 0x91, 0x96, ...str('f'), ...str('na'), ...TAIL]);
  // What the receiving node decodes: the values the sender sent.
  assert.deepEqual(plainDec().decode(f!), [['f', 'na', 7, 300, 'nb#p', ['m', 1.5, { k: new Uint8Array([1, 2]) }, null]]]);
  // Seed to seed: ['F', src, dst, …tail].
  const [ff] = enc().encode([['F', 'na', 'nb', t]]);
  assert.deepEqual([...(ff as Uint8Array)], [0x01, 0x91, 0x97, ...str('F'), ...str('na'), ...str('nb'), ...TAIL]);
  const [back] = relaying().decode(ff!);
  assert.deepEqual(back!.slice(0, 3), ['F', 'na', 'nb']);
  assert.deepEqual([...(back![3] as RawTail).bytes], TAIL);
});

test('relay bytes — only r and F packets are kept raw; the plain decoder is unchanged', () => {
  const other = [0x01, 0x92, 0x92, ...str('p'), 0x05, 0x96, ...str('m'), ...str('nb'), ...TAIL];
  assert.deepEqual(relaying().decode(new Uint8Array(other)), [['p', 5], ['m', 'nb', 7, 300, 'nb#p', ['m', 1.5, { k: new Uint8Array([1, 2]) }, null]]]);
  assert.deepEqual(plainDec().decode(new Uint8Array(R)), [['r', 'nb', 7, 300, 'nb#p', ['m', 1.5, { k: new Uint8Array([1, 2]) }, null]]]);
});

test('relay bytes — a page stamp is appended to the tail as [kind, caps]; expandTail gives the values', () => {
  const [p] = relaying().decode(new Uint8Array(R));
  const t = stampTail(p![2] as RawTail, 'token', ['kil']);
  assert.equal(t.count, 6);
  assert.deepEqual([...t.bytes], [...TAIL, ...str('token'), 0x91, ...str('kil')]);
  assert.deepEqual(expandTail(t), [7, 300, 'nb#p', ['m', 1.5, { k: new Uint8Array([1, 2]) }, null], 'token', ['kil']]);
  const [f] = enc().encode([['f', 'na', t]]);
  assert.deepEqual([...(f as Uint8Array)], [0x01, 0x91, 0x98, ...str('f'), ...str('na'), ...TAIL, ...str('token'), 0x91, ...str('kil')]);
});

test('relay bytes — a json link gets the tail as values', () => {
  const [p] = relaying().decode(new Uint8Array(R));
  const [f] = enc('json').encode([['f', 'na', p![2]]]);
  assert.equal(f, '[["f","na",7,300,"nb#p",["m",1.5,{"k":{"$b":"AQI="}},null]]]');
});

test('relay bytes — a malformed tail is refused by the relaying decoder as by the plain one', () => {
  const cases: Array<[string, number[]]> = [
    ['truncated string', [0x01, 0x91, 0x96, ...str('r'), ...str('nb'), 0x07, 0x07, 0xa4, 0x6e]],
    ['map key null', [0x01, 0x91, 0x96, ...str('r'), ...str('nb'), 0x07, 0x07, ...str('p'), 0x81, 0xc0, 0x01]],
    ['extension type', [0x01, 0x91, 0x96, ...str('r'), ...str('nb'), 0x07, 0x07, ...str('p'), 0xd4, 0x01, 0x01]],
    ['array count past the frame', [0x01, 0x91, 0x96, ...str('r'), ...str('nb'), 0x07, 0x07, ...str('p'), 0xdd, 0xff, 0xff, 0xff, 0xff]],
  ];
  for (const [what, bytes] of cases) {
    const a = (() => {
      try {
        relaying().decode(new Uint8Array(bytes));
      } catch (e) {
        return e;
      }
    })();
    const b = (() => {
      try {
        plainDec().decode(new Uint8Array(bytes));
      } catch (e) {
        return e;
      }
    })();
    assert.ok(a instanceof ProtocolError, `${what}: relaying decoder throws`);
    assert.ok(b instanceof ProtocolError, `${what}: plain decoder throws`);
    assert.equal((a as ProtocolError).code, (b as ProtocolError).code, what);
  }
});

test('relay bytes — through a real seed (ws, in-process): msgpack → msgpack, msgpack → json, the seed itself, and a token page (decoded and stamped by the seed) arrive as sent', { timeout: 60_000 }, async () => {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  process.env.AEMP_RC = join(mkdtempSync(join(tmpdir(), 'aemp-relay-bytes-')), 'rc.json');
  const { createNode } = await import('../node/index.ts');
  const { createToken } = await import('../lib/protocol/token.ts');
  const SECRET = 'relay-bytes-secret';
  const base = { secret: SECRET, monitor_timeout: 2000, connect_interval: 200, direct: false };
  const seed = await createNode({ ...base, nodeid: 'rb_seed', binds: ['127.0.0.1:0'], auth_accept: ['hmac_sha256', 'token'] });
  const url = seed.net!.seedLink!.listening()[0]!;
  const a = await createNode({ ...base, nodeid: 'rb_a', seeds: [url] });
  const b = await createNode({ ...base, nodeid: 'rb_b', seeds: [url], framing_format: 'json' });
  const token = await createToken(globalThis.crypto.subtle, SECRET, { node: 'web/*', ttlSec: 600, nowMs: Date.now(), caps: [] });
  const page = await createNode({ nodeid: 'web/rb', seeds: [url], token, monitor_timeout: 2000, connect_interval: 200, direct: false });
  try {
    const msg = ['m', 1.5, -7, 2 ** 40, 'ünïcödé', { k: [1, { z: null }], n: 3 }, new Uint8Array([0, 255]), true, null];
    const portB = b.port();
    const portA = a.port();
    const portS = seed.port();
    const seen = new Map<string, unknown[]>();
    const wait = (n: typeof a, port: string) =>
      new Promise<void>((resolve) => n.rcv(port, 'm', (...data: unknown[]) => (seen.set(port, ['m', ...data]), resolve())));
    const [wb, wa, ws] = [wait(b, portB), wait(a, portA), wait(seed, portS)];
    a.snd(portB, ...msg); // msgpack → seed (bytes) → json
    b.snd(portA, ...msg); // json → seed → msgpack
    a.snd(portS, ...msg); // to the seed itself
    await Promise.all([wb, wa, ws]);
    for (const p of [portB, portA, portS]) assert.deepEqual(seen.get(p), msg, p);
    // A page's message is decoded, screened and stamped by the seed.
    const pageIn = a.port();
    const from = new Promise<unknown[]>((resolve) => a.rcv(pageIn, 'm', (...data: unknown[]) => resolve(data)));
    page.snd(pageIn, ...msg);
    assert.deepEqual(['m', ...(await from)], msg);
  } finally {
    for (const n of [page, b, a, seed]) await n.shutdown();
  }
});
