import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import {
  Handshake,
  parseRefusal,
  refusalFrame,
  type HandshakeOptions,
  type HandshakeResult,
} from '../lib/protocol/handshake.ts';
import { HandshakeError, PeerRefusedError, TokenError } from '../lib/protocol/errors.ts';
import { createToken } from '../lib/protocol/token.ts';
import { BadArgumentError } from '../lib/errors.ts';
import type { Frame } from '../lib/link.ts';

const subtle = globalThis.crypto.subtle;
const SECRET = 'the mesh secret';
const NOW = 1_700_000_000_000;

let seq = 0;
/** A distinct nonce; `lead` fixes its first byte so tests can order nonces. */
function nonce(lead = 0x80): Uint8Array {
  const n = new Uint8Array(16);
  n[0] = lead;
  n[15] = ++seq;
  return n;
}

function side(o: Partial<HandshakeOptions> & { nodeId: string }): Handshake {
  return new Handshake({
    isSeed: false,
    secret: SECRET,
    authOffer: ['hmac_sha256'],
    authAccept: ['hmac_sha256'],
    framings: ['msgpack', 'json'],
    nonce: nonce(),
    subtle,
    now: () => NOW,
    ...o,
  });
}

type Outcome = { ok: HandshakeResult } | { err: HandshakeError };

/**
 * Run two sides against each other as the mesh would: both greet at once,
 * every frame a side emits is delivered in order, and a side that fails
 * sends a refusal frame (unless it was itself refused).
 */
async function connect(a: Handshake, b: Handshake): Promise<[Outcome, Outcome]> {
  const inbox: [Frame[], Frame[]] = [[b.greeting()], [a.greeting()]];
  const hs = [a, b];
  const out: [Outcome | undefined, Outcome | undefined] = [undefined, undefined];
  for (let round = 0; round < 10 && (!out[0] || !out[1]); round++) {
    for (const i of [0, 1] as const) {
      while (inbox[i].length && !out[i]) {
        const frame = inbox[i].shift() as Frame;
        try {
          const r = await hs[i].receive(frame);
          inbox[1 - i].push(...r.send);
          if (r.done) out[i] = { ok: r.done };
        } catch (e) {
          assert.ok(e instanceof HandshakeError, String(e));
          out[i] = { err: e };
          if (!(e instanceof PeerRefusedError)) inbox[1 - i].push(refusalFrame(e.code, e.message));
        }
      }
    }
  }
  assert.ok(out[0] && out[1], 'handshake did not finish');
  return out as [Outcome, Outcome];
}

function ok(o: Outcome): HandshakeResult {
  if ('err' in o) assert.fail(`refused: ${o.err.code} ${o.err.message}`);
  return o.ok;
}
function err(o: Outcome): HandshakeError {
  if ('ok' in o) assert.fail(`accepted: ${JSON.stringify(o.ok)}`);
  return o.err;
}

async function rejectsCode(p: Promise<unknown>, code: string): Promise<HandshakeError> {
  let got: unknown;
  await assert.rejects(p, (e: unknown) => {
    got = e;
    assert.ok(e instanceof HandshakeError, String(e));
    assert.equal(e.code, code, e.message);
    return true;
  });
  return got as HandshakeError;
}

/** A greeting as a peer would send it, with fields overridable. */
function greetingText(over: Record<string, unknown> = {}): string {
  return JSON.stringify({
    aemp: 1,
    node: 'peer',
    nonce: '0123456789abcdef0123456789abcdef',
    seed: false,
    auth: ['hmac_sha256'],
    framing: ['msgpack'],
    ...over,
  });
}

test('handshake — two secret holders accept each other with hmac_sha256', async () => {
  const [a, b] = await connect(side({ nodeId: 'node-a' }), side({ nodeId: 'seed-b', isSeed: true }));
  assert.deepEqual(ok(a), { peerNode: 'seed-b', peerIsSeed: true, framing: 'msgpack', auth: 'hmac_sha256', verified: true, peerHearsPings: false });
  assert.deepEqual(ok(b), { peerNode: 'node-a', peerIsSeed: false, framing: 'msgpack', auth: 'hmac_sha256', verified: true, peerHearsPings: false });
});

test('handshake — greeting and mac are exactly as documented', async () => {
  const n = new Uint8Array(16).fill(0xab);
  const a = side({ nodeId: 'node-a', isSeed: true, nonce: n, authOffer: ['hmac_sha256', 'token', 'none'] });
  const gA = a.greeting();
  // token is not offered without a token; none stays
  assert.equal(
    gA,
    '{"aemp":1,"node":"node-a","nonce":"abababababababababababababababab","seed":true,' +
      '"auth":["hmac_sha256","none"],"framing":["msgpack","json"]}',
  );
  const gB = greetingText({ node: 'node-b' });
  const r = await a.receive(gB);
  const mac = createHmac('sha256', SECRET).update(`aemp1 ${gA}\n${gB}`).digest('hex');
  assert.deepEqual(r, { send: [`{"mac":"${mac}"}`] });
  const peerMac = createHmac('sha256', SECRET).update(`aemp1 ${gB}\n${gA}`).digest('hex');
  const done = await a.receive(JSON.stringify({ mac: peerMac }));
  assert.deepEqual(done.done, { peerNode: 'node-b', peerIsSeed: false, framing: 'msgpack', auth: 'hmac_sha256', verified: true, peerHearsPings: false });
});

test('handshake — "ping": true in a greeting when its side hears transport heartbeats; the peer learns it, and only then', async () => {
  const n = new Uint8Array(16).fill(0xab);
  const a = side({ nodeId: 'node-a', nonce: n, hearsPings: true });
  assert.equal(
    a.greeting(),
    '{"aemp":1,"node":"node-a","nonce":"abababababababababababababababab","seed":false,' +
      '"auth":["hmac_sha256"],"framing":["msgpack","json"],"ping":true}',
  );
  const [ra, rb] = await connect(a, side({ nodeId: 'node-b' }));
  assert.equal(ok(ra).peerHearsPings, false, 'b did not say it hears them');
  assert.equal(ok(rb).peerHearsPings, true);
  // Anything but true is "no" (the mac covers the greeting, so a man in the middle cannot add it).
  for (const ping of [1, 'true', false, null]) {
    const c = side({ nodeId: 'c' });
    const gB = greetingText({ node: 'node-b', ping });
    await c.receive(gB);
    const peerMac = createHmac('sha256', SECRET).update(`aemp1 ${gB}\n${c.greeting()}`).digest('hex');
    const done = await c.receive(JSON.stringify({ mac: peerMac }));
    assert.equal(done.done!.peerHearsPings, false, JSON.stringify(ping));
  }
});

test('handshake — framing: first entry of the smaller-nonce greeting that both offer', async () => {
  const run = async (leadA: number, leadB: number) => {
    const a = side({ nodeId: 'a', nonce: nonce(leadA), framings: ['json', 'msgpack'] });
    const b = side({ nodeId: 'b', nonce: nonce(leadB), framings: ['msgpack', 'json'] });
    const [ra, rb] = await connect(a, b);
    assert.equal(ok(ra).framing, ok(rb).framing);
    return ok(ra).framing;
  };
  assert.equal(await run(0x10, 0x20), 'json');
  assert.equal(await run(0x20, 0x10), 'msgpack');
  const [ra] = await connect(side({ nodeId: 'a', framings: ['json'] }), side({ nodeId: 'b', framings: ['msgpack', 'json'] }));
  assert.equal(ok(ra).framing, 'json');
});

test('handshake — no common framing refuses with AEMP_ERR_FRAMING', async () => {
  const [a, b] = await connect(side({ nodeId: 'a', framings: ['json'] }), side({ nodeId: 'b', framings: ['msgpack'] }));
  assert.equal(err(a).code, 'AEMP_ERR_FRAMING');
  assert.equal(err(b).code, 'AEMP_ERR_FRAMING');
  const c = side({ nodeId: 'c' });
  await rejectsCode(c.receive(greetingText({ framing: ['cbor', 'xml'] })), 'AEMP_ERR_FRAMING');
});

test('handshake — a wrong secret on either side refuses with AEMP_ERR_AUTH', async () => {
  for (const [sa, sb] of [['wrong', SECRET], [SECRET, 'wrong']]) {
    const [a, b] = await connect(side({ nodeId: 'a', secret: sa }), side({ nodeId: 'b', secret: sb, isSeed: true }));
    assert.equal(err(a).code, 'AEMP_ERR_AUTH');
    assert.equal(err(b).code, 'AEMP_ERR_AUTH');
  }
});

test('handshake — a browser token is verified by the secret holder', async () => {
  const token = await createToken(subtle, SECRET, { node: 'web/*', ttlSec: 600, nowMs: NOW });
  const browser = side({ nodeId: 'web/alice', secret: undefined, token, authOffer: ['token'] });
  assert.equal(JSON.parse(browser.greeting()).token, token);
  const seed = side({ nodeId: 'seed1', isSeed: true, authAccept: ['hmac_sha256', 'token'] });
  const [b, s] = await connect(browser, seed);
  // the browser cannot check the seed's mac: it relies on wss
  assert.deepEqual(ok(b), { peerNode: 'seed1', peerIsSeed: true, framing: 'msgpack', auth: 'hmac_sha256', verified: false, peerHearsPings: false });
  assert.deepEqual(ok(s), { peerNode: 'web/alice', peerIsSeed: false, framing: 'msgpack', auth: 'token', verified: true, peerHearsPings: false, caps: [] });
});

test('handshake — expired, foreign-pattern and forged tokens refuse with AEMP_ERR_TOKEN', async () => {
  const cases: [string, Promise<string>, string][] = [
    ['web/alice', createToken(subtle, SECRET, { node: 'web/*', ttlSec: 60, nowMs: NOW - 61_000 }), 'expired'],
    ['evil', createToken(subtle, SECRET, { node: 'web/*', ttlSec: 60, nowMs: NOW }), 'node_mismatch'],
    ['web/alice', createToken(subtle, 'guessed', { node: '*', ttlSec: 60, nowMs: NOW }), 'bad_signature'],
    ['web/alice', Promise.resolve('garbage'), 'malformed'],
  ];
  for (const [nodeId, token, reason] of cases) {
    const browser = side({ nodeId, secret: undefined, token: await token, authOffer: ['token'] });
    const seed = side({ nodeId: 'seed1', isSeed: true, authAccept: ['hmac_sha256', 'token'] });
    const [b, s] = await connect(browser, seed);
    const e = err(s);
    assert.equal(e.code, 'AEMP_ERR_TOKEN');
    assert.ok(e.cause instanceof TokenError);
    assert.equal(e.cause.reason, reason);
    const r = err(b);
    assert.ok(r instanceof PeerRefusedError);
    assert.equal(r.code, 'AEMP_ERR_REFUSED_BY_PEER');
    assert.equal(r.peerCode, 'AEMP_ERR_TOKEN');
    assert.equal(r.peerReason, e.message);
  }
});

test('handshake — a token or anonymous node may not claim to be a seed', async () => {
  const token = await createToken(subtle, SECRET, { node: '*', ttlSec: 600, nowMs: NOW });
  const accept = ['hmac_sha256', 'token', 'none'];
  const [, s1] = await connect(
    side({ nodeId: 'web/x', isSeed: true, secret: undefined, token, authOffer: ['token'] }),
    side({ nodeId: 'seed1', authAccept: accept }),
  );
  assert.equal(err(s1).code, 'AEMP_ERR_AUTH');
  const [, s2] = await connect(
    side({ nodeId: 'anon/x', isSeed: true, secret: undefined, authOffer: ['none'] }),
    side({ nodeId: 'seed1', authAccept: accept }),
  );
  assert.equal(err(s2).code, 'AEMP_ERR_AUTH');
});

test('handshake — none: anonymous browser nodes, only when accepted and only under anon/', async () => {
  const anon = (nodeId: string) => side({ nodeId, secret: undefined, authOffer: ['none'] });
  const [b, s] = await connect(anon('anon/4f2a'), side({ nodeId: 'seed1', isSeed: true, authAccept: ['hmac_sha256', 'none'] }));
  assert.deepEqual(ok(s), { peerNode: 'anon/4f2a', peerIsSeed: false, framing: 'msgpack', auth: 'none', verified: false, peerHearsPings: false });
  assert.equal(ok(b).peerNode, 'seed1');
  const [, s2] = await connect(anon('web/4f2a'), side({ nodeId: 'seed1', authAccept: ['hmac_sha256', 'none'] }));
  assert.equal(err(s2).code, 'AEMP_ERR_AUTH');
  const [b3, s3] = await connect(anon('anon/4f2a'), side({ nodeId: 'seed1', authAccept: ['hmac_sha256', 'token'] }));
  assert.equal(err(s3).code, 'AEMP_ERR_AUTH');
  assert.equal((err(b3) as PeerRefusedError).peerCode, 'AEMP_ERR_AUTH');
});

test('handshake — the verifier picks the first method of its own authAccept that the peer offers', async () => {
  const token = await createToken(subtle, SECRET, { node: '*', ttlSec: 600, nowMs: NOW });
  const peer = () => side({ nodeId: 'n1', token, authOffer: ['hmac_sha256', 'token'] });
  const [, s1] = await connect(peer(), side({ nodeId: 's', authAccept: ['token', 'hmac_sha256'] }));
  assert.equal(ok(s1).auth, 'token');
  const [, s2] = await connect(peer(), side({ nodeId: 's', authAccept: ['hmac_sha256', 'token'] }));
  assert.equal(ok(s2).auth, 'hmac_sha256');
});

test('handshake — equal nonces refuse with AEMP_ERR_REPLAY', async () => {
  const n = nonce();
  const [a, b] = await connect(side({ nodeId: 'a', nonce: n }), side({ nodeId: 'b', nonce: n.slice() }));
  assert.equal(err(a).code, 'AEMP_ERR_REPLAY');
  assert.equal(err(b).code, 'AEMP_ERR_REPLAY');
  // our own greeting reflected back
  const c = side({ nodeId: 'c' });
  await rejectsCode(c.receive(c.greeting()), 'AEMP_ERR_REPLAY');
});

test('handshake — a peer with our own node id refuses with AEMP_ERR_SELF_CONNECT, before any mac is sent', async () => {
  const [a] = await connect(side({ nodeId: 'same' }), side({ nodeId: 'same' }));
  assert.equal(err(a).code, 'AEMP_ERR_SELF_CONNECT');
  // Cross-session reflection: an attacker opens two links to a seed and presents the seed's
  // greeting from link 2 on link 1, hoping for a mac it could replay on link 2.
  const link1 = side({ nodeId: 'seed1', isSeed: true });
  const link2 = side({ nodeId: 'seed1', isSeed: true });
  await rejectsCode(link1.receive(link2.greeting()), 'AEMP_ERR_SELF_CONNECT');
});

test('handshake — an unsupported version refuses with AEMP_ERR_VERSION', async () => {
  for (const v of [2, 0, '1', null]) {
    await rejectsCode(side({ nodeId: 'a' }).receive(greetingText({ aemp: v })), 'AEMP_ERR_VERSION');
  }
  // the version is checked before the other fields, so a v2 greeting of another shape still says VERSION
  await rejectsCode(side({ nodeId: 'a' }).receive('{"aemp":2,"hello":"world"}'), 'AEMP_ERR_VERSION');
});

test('handshake — bad node ids and malformed greetings refuse with AEMP_ERR_BAD_GREETING', async () => {
  for (const node of ['bad id', '', 'x'.repeat(257), 'ü', 'a#b', 12, null]) {
    await rejectsCode(side({ nodeId: 'a' }).receive(greetingText({ node })), 'AEMP_ERR_BAD_GREETING');
  }
  const r = await side({ nodeId: 'a' }).receive(greetingText({ node: 'A-z_0.9:/'.repeat(29).slice(0, 256) }));
  assert.equal(r.send.length, 1);
  const bad: Record<string, unknown>[] = [
    { nonce: 'ABCDEF0123456789ABCDEF0123456789' },
    { nonce: '0123' },
    { nonce: 7 },
    { seed: 'yes' },
    { seed: undefined },
    { auth: 'hmac_sha256' },
    { framing: ['msgpack', 1] },
    { framing: Array(17).fill('json') },
    { token: 5 },
  ];
  for (const over of bad) await rejectsCode(side({ nodeId: 'a' }).receive(greetingText(over)), 'AEMP_ERR_BAD_GREETING');
  for (const text of ['not json', '[1,2]', '"aemp"', 'null', '{"node":"x"}']) {
    await rejectsCode(side({ nodeId: 'a' }).receive(text), 'AEMP_ERR_BAD_GREETING');
  }
});

test('handshake — a reflected mac refuses with AEMP_ERR_AUTH', async () => {
  const a = side({ nodeId: 'a' });
  const r = await a.receive(greetingText({ node: 'attacker' }));
  await rejectsCode(a.receive(r.send[0]), 'AEMP_ERR_AUTH');
});

test('handshake — garbage and out-of-order frames refuse', async () => {
  await rejectsCode(side({ nodeId: 'a' }).receive(new Uint8Array([0x7b, 0x7d])), 'AEMP_ERR_HANDSHAKE');
  await rejectsCode(side({ nodeId: 'a' }).receive('{"mac":null}'), 'AEMP_ERR_HANDSHAKE');
  await rejectsCode(side({ nodeId: 'a', maxFrameSize: 100 }).receive(greetingText({ pad: 'x'.repeat(100) })), 'AEMP_ERR_HANDSHAKE');
  const afterGreeting = async () => {
    const a = side({ nodeId: 'a' });
    await a.receive(greetingText());
    return a;
  };
  await rejectsCode((await afterGreeting()).receive(greetingText()), 'AEMP_ERR_HANDSHAKE');
  await rejectsCode((await afterGreeting()).receive('{"mac":5}'), 'AEMP_ERR_HANDSHAKE');
  await rejectsCode((await afterGreeting()).receive('{"other":1}'), 'AEMP_ERR_HANDSHAKE');
  await rejectsCode((await afterGreeting()).receive('nonsense'), 'AEMP_ERR_HANDSHAKE');
  await rejectsCode((await afterGreeting()).receive('{"mac":null}'), 'AEMP_ERR_AUTH');
  await rejectsCode((await afterGreeting()).receive('{"mac":"zz"}'), 'AEMP_ERR_AUTH');
  await rejectsCode((await afterGreeting()).receive(`{"mac":"${'00'.repeat(32)}"}`), 'AEMP_ERR_AUTH');
  // after a refusal, nothing more is accepted
  const failed = side({ nodeId: 'a' });
  await rejectsCode(failed.receive('nonsense'), 'AEMP_ERR_BAD_GREETING');
  await rejectsCode(failed.receive(greetingText()), 'AEMP_ERR_HANDSHAKE');
  // after success, handshake frames are out of place (the codec takes over)
  const a = side({ nodeId: 'a' });
  const b = side({ nodeId: 'b' });
  const [ra] = await connect(a, b);
  ok(ra);
  await rejectsCode(a.receive('{"mac":null}'), 'AEMP_ERR_HANDSHAKE');
});

test('handshake — a refusal from the peer surfaces as AEMP_ERR_REFUSED_BY_PEER with its code and reason', async () => {
  const a = side({ nodeId: 'a' });
  const e = await rejectsCode(a.receive(refusalFrame('AEMP_ERR_DUPLICATE_NODE', 'node a is already connected')), 'AEMP_ERR_REFUSED_BY_PEER');
  assert.ok(e instanceof PeerRefusedError);
  assert.equal(e.peerCode, 'AEMP_ERR_DUPLICATE_NODE');
  assert.equal(e.peerReason, 'node a is already connected');
  assert.equal(e.message, 'refused by peer: AEMP_ERR_DUPLICATE_NODE node a is already connected');
  // also in the middle of the handshake
  const b = side({ nodeId: 'b' });
  await b.receive(greetingText());
  await rejectsCode(b.receive(refusalFrame('AEMP_ERR_AUTH', 'wrong mac')), 'AEMP_ERR_REFUSED_BY_PEER');
});

test('handshake — refusal frames: exact text, parsing, and sanitising the peer words', () => {
  assert.equal(refusalFrame('AEMP_ERR_AUTH', 'wrong mac'), '{"refused":"AEMP_ERR_AUTH","reason":"wrong mac"}');
  assert.deepEqual(parseRefusal('{"refused":"AEMP_ERR_AUTH","reason":"wrong mac"}'), { code: 'AEMP_ERR_AUTH', reason: 'wrong mac' });
  assert.deepEqual(parseRefusal('{"refused":"rm -rf /\\n","reason":5}'), { code: 'AEMP_ERR_UNSPECIFIED', reason: '' });
  assert.equal(parseRefusal(refusalFrame('AEMP_ERR_X', 'r'.repeat(5000)))?.reason.length, 1000);
  for (const f of ['{"aemp":1}', '[1]', 'nope', '{', new Uint8Array([0x7b]), '{"refused":1}']) assert.equal(parseRefusal(f), undefined);
});

test('handshake — frames received without awaiting are processed in order', async () => {
  const a = side({ nodeId: 'a' });
  const b = side({ nodeId: 'b' });
  const bAuth = (await b.receive(a.greeting())).send[0];
  const [r1, r2] = await Promise.all([a.receive(b.greeting()), a.receive(bAuth)]);
  assert.equal(r1.send.length, 1);
  assert.equal(r2.done?.peerNode, 'b');
});

test('handshake — bad options give BadArgumentError', () => {
  const bad: Partial<HandshakeOptions>[] = [
    { nonce: new Uint8Array(15) },
    { nodeId: 'bad id' },
    { authOffer: ['hmac_sha3_512'] },
    { authAccept: ['cleartext'] },
    { framings: [] },
    { framings: ['cbor' as 'json'] },
    { secret: '' },
  ];
  for (const o of bad) assert.throws(() => side({ nodeId: 'a', ...o }), BadArgumentError, JSON.stringify(o));
});

test('handshake — the caps a token grants are in the secret holder\'s result', async () => {
  const token = await createToken(subtle, SECRET, { node: 'web/*', ttlSec: 600, nowMs: NOW, caps: ['kil', 'trace'] });
  const browser = side({ nodeId: 'web/bob', secret: undefined, token, authOffer: ['token'] });
  const seed = side({ nodeId: 'seed1', isSeed: true, authAccept: ['hmac_sha256', 'token'] });
  const [b, s] = await connect(browser, seed);
  assert.deepEqual(ok(s), { peerNode: 'web/bob', peerIsSeed: false, framing: 'msgpack', auth: 'token', verified: true, peerHearsPings: false, caps: ['kil', 'trace'] });
  assert.equal(ok(b).caps, undefined);
});
