/**
 * The json framing loads on first use (lib/protocol/json-framing.ts): a
 * codec cannot be made for it before, and a link whose handshake picks it
 * (here: a node configured for json, over a real WebSocket seed) loads it
 * and carries messages both ways. This file must run in a process of its
 * own, where nothing loaded json.ts before.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNode, type MpNode } from '../node/index.ts';
import { FrameEncoder, jsonFramingLoaded } from '../lib/protocol/codec.ts';
import { BadArgumentError } from '../lib/errors.ts';
import { viewOf } from '../lib/mesh/mesh-view.ts';

const rcDir = mkdtempSync(join(tmpdir(), 'aemp-json-framing-'));
process.env.AEMP_RC = join(rcDir, 'rc.json');
after(() => rmSync(rcDir, { recursive: true, force: true }));

test('json framing — not loaded until a link needs it; a codec made before says what to do', () => {
  assert.equal(jsonFramingLoaded(), false);
  assert.throws(() => new FrameEncoder({ framing: 'json', maxFrameSize: 65536 }), (e: unknown) => e instanceof BadArgumentError && /await loadJsonFraming\(\) first/.test(e.message));
  // msgpack needs nothing loaded.
  assert.ok(new FrameEncoder({ framing: 'msgpack', maxFrameSize: 65536 }));
});

test('json framing — nodes configured for json link over json; messages go both ways', async () => {
  // Both prefer json (the handshake takes the first common framing of either side's list).
  const opts = { monitor_timeout: 5000, connect_interval: 100, direct: false, secret: 'json-framing-secret', framing_format: 'json' as const };
  const seed: MpNode = await createNode({ ...opts, nodeid: 'js_seed', binds: ['127.0.0.1:0'] });
  const node: MpNode = await createNode({ ...opts, nodeid: 'js_node', seeds: [seed.net!.seedLink!.listening()[0]!] });
  try {
    assert.equal(jsonFramingLoaded(), true, 'starting a json node loads the framing');
    const got = new Promise<unknown[]>((resolve) => {
      const echo = seed.port((...msg) => {
        const [reply, ...rest] = msg as [string, ...unknown[]];
        seed.snd(reply, 'echo', ...rest);
      });
      const back = node.port((...msg) => resolve(msg));
      node.snd(echo, back, 'hello', { bytes: new Uint8Array([1, 2, 3]), $b: 'not bytes' });
    });
    assert.deepEqual(await got, ['echo', 'hello', { bytes: new Uint8Array([1, 2, 3]), $b: 'not bytes' }]);
    assert.equal(viewOf(node.net)!.link('js_seed')!.framing, 'json');
  } finally {
    await node.shutdown();
    await seed.shutdown();
  }
});
