/**
 * runHandshake over a real (in-memory) link: a close that arrives behind
 * frames whose handshake steps are still queued is handled after them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock } from '../lib/clock.ts';
import type { Frame, Link } from '../lib/link.ts';
import { memoryLinkPair } from '../lib/links/memory.ts';
import { runHandshake } from '../lib/mesh/dial.ts';
import { PeerRefusedError } from '../lib/protocol/errors.ts';
import { Handshake, refusalFrame, type HandshakeOptions } from '../lib/protocol/handshake.ts';
import { deferred } from './util.ts';

const subtle = globalThis.crypto.subtle;

function opts(nodeId: string, lead: number): HandshakeOptions {
  const nonce = new Uint8Array(16);
  nonce[0] = lead;
  return {
    nodeId,
    isSeed: false,
    secret: 'the mesh secret',
    authOffer: ['hmac_sha256'],
    authAccept: ['hmac_sha256'],
    framings: ['msgpack', 'json'],
    nonce,
    subtle,
    now: () => Date.now(),
  };
}

/**
 * The peer: waits for our greeting, then sends everything at once so it all
 * arrives in one delivery — its greeting, its mac, `after` — and closes.
 * Our side's steps need WebCrypto, so they are all still queued when the close comes.
 */
function burstPeer(link: Link, after: Frame[], reason: string): void {
  const hs = new Handshake(opts('b', 0x10));
  let started = false;
  link.setHandlers({
    frame: (f) => {
      if (started) return;
      started = true;
      void hs.receive(f).then((step) => {
        link.send(hs.greeting());
        for (const out of step.send) link.send(out);
        for (const x of after) link.send(x);
        link.close(reason);
      });
    },
  });
}

test('dial — a close right behind the last handshake frame goes to the new owner, after the frames held for it', async () => {
  const [a, b] = memoryLinkPair();
  burstPeer(b, ['packet 1', 'packet 2'], 'peer left');
  const hs = await runHandshake(a, opts('a', 0x20), 5000, systemClock);
  assert.equal(hs.result.peerNode, 'b');
  assert.equal(hs.result.auth, 'hmac_sha256');
  // The owner (a Conn) takes over as the mesh does: handlers first, then the held frames.
  const seen: string[] = [];
  const closed = deferred<string>();
  a.setHandlers({ frame: (f) => seen.push(`frame ${String(f)}`), close: (r) => (seen.push(`close ${r}`), closed.resolve(r)) });
  hs.attach((f) => seen.push(`frame ${String(f)}`));
  assert.equal(await closed.promise, 'peer left');
  assert.deepEqual(seen, ['frame packet 1', 'frame packet 2', 'close peer left']);
  // The hand-over is gone: the link's own setHandlers is back.
  assert.equal(Object.hasOwn(a, 'setHandlers'), false);
});

test('dial — the owner may set its handlers before the queued close is processed', async () => {
  const [a, b] = memoryLinkPair();
  burstPeer(b, [], 'gone');
  const hs = await runHandshake(a, opts('a', 0x20), 5000, systemClock);
  const closed = deferred<string>();
  // Synchronously after the handshake resolved, as Mesh.establish does.
  a.setHandlers({ close: (r) => closed.resolve(r) });
  hs.attach(() => assert.fail('no frames expected'));
  assert.equal(await closed.promise, 'gone');
});

test("dial — a refusal followed at once by a close rejects with the peer's refusal, not a link close", async () => {
  const [a, b] = memoryLinkPair();
  b.setHandlers({
    frame: () => {
      b.send(refusalFrame('AEMP_ERR_AUTH', 'wrong secret'));
      b.close('AEMP_ERR_AUTH: wrong secret');
    },
  });
  await assert.rejects(runHandshake(a, opts('a', 0x20), 5000, systemClock), (e: unknown) => {
    assert.ok(e instanceof PeerRefusedError, String(e));
    assert.equal(e.code, 'AEMP_ERR_REFUSED_BY_PEER');
    assert.equal(e.peerCode, 'AEMP_ERR_AUTH');
    assert.equal(e.peerReason, 'wrong secret');
    return true;
  });
});

test('dial — a close with nothing queued still fails the handshake with AEMP_ERR_LINK_CLOSED', async () => {
  const [a, b] = memoryLinkPair();
  b.setHandlers({ frame: () => b.close('not today') });
  await assert.rejects(runHandshake(a, opts('a', 0x20), 5000, systemClock), {
    code: 'AEMP_ERR_LINK_CLOSED',
    message: 'link closed during handshake: not today',
  });
  assert.equal(Object.hasOwn(a, 'setHandlers'), false);
});

test('dial — a greeting and a close in one delivery: the greeting step runs first, then the close fails the handshake', async () => {
  const [a, b] = memoryLinkPair();
  const peer = new Handshake(opts('b', 0x10));
  let sentMac = false;
  b.setHandlers({
    frame: () => {
      b.send(peer.greeting());
      b.close('half way');
    },
  });
  const got = runHandshake(a, opts('a', 0x20), 5000, systemClock);
  // Our side answered the greeting (its mac went out) before it gave up on the close.
  const sent = a.send.bind(a);
  a.send = (f) => {
    if (typeof f === 'string' && f.startsWith('{"mac"')) sentMac = true;
    sent(f);
  };
  await assert.rejects(got, { code: 'AEMP_ERR_LINK_CLOSED', message: 'link closed during handshake: half way' });
  assert.equal(sentMac, true);
});
