import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ws from 'ws';
import { OPCODE_BINARY, wsFrame } from '../node/ws-frame.ts';

/** ws's frame parser: exported by the package, not by its type declarations. */
interface FrameReader {
  on(ev: 'message', fn: (data: Buffer, isBinary: boolean) => void): void;
  on(ev: 'error', fn: (e: Error) => void): void;
  write(chunk: Buffer): void;
}
const { Receiver } = ws as unknown as { Receiver: new (o: { isServer: boolean; maxPayload: number }) => FrameReader };

/** What `ws`'s own frame parser makes of `frame`, as a server (masked frames) or a client (unmasked) would read it. */
function parse(frame: Buffer, isServer: boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const r = new Receiver({ isServer, maxPayload: 0 });
    r.on('message', (data, isBinary) => (isBinary ? resolve(data) : reject(new Error('text'))));
    r.on('error', reject);
    r.write(frame);
  });
}

test('ws-frame — every length encoding (7, 16 and 64 bits) reads back exactly, masked and not', async () => {
  for (const n of [0, 1, 125, 126, 127, 65535, 65536, 70_000]) {
    const payload = new Uint8Array(n).map((_, i) => (i * 31 + n) & 255);
    for (const masked of [false, true]) {
      const f = wsFrame(payload, OPCODE_BINARY, masked);
      const header = (n < 126 ? 2 : n < 65536 ? 4 : 10) + (masked ? 4 : 0);
      assert.equal(f.length, header + n, `length ${n} masked ${masked}`);
      assert.deepEqual(new Uint8Array(await parse(f, masked)), payload, `length ${n} masked ${masked}`);
    }
  }
});

test('ws-frame — the frame is a copy: changing the payload afterwards changes nothing sent', () => {
  const payload = new Uint8Array([1, 2, 3]);
  const f = wsFrame(payload, OPCODE_BINARY, false);
  payload.fill(9);
  assert.deepEqual([...f], [0x82, 3, 1, 2, 3]);
});
