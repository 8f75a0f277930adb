import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { WebSocket as WsWebSocket, WebSocketServer } from 'ws';
import { ManualClock } from '../lib/clock.ts';
import type { Link } from '../lib/link.ts';
import { memoryLinkPair } from '../lib/links/memory.ts';
import type { RtcLinkHandle, RtcLinkOptions } from '../lib/links/rtc.ts';
import { createNodeRtcLink } from '../node/rtc-env.ts';
import { connectWs, listenWs } from '../node/ws.ts';
import type { ListenWsOptions } from '../node/ws.ts';
import { connectWs as webConnectWs } from '../web/ws.ts';
import { handFrame } from './fixtures/hand-frame.ts';
import { linkCompliance } from './link-compliance.ts';

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function closeReason(link: Link): Promise<string> {
  return new Promise((resolve) => link.setHandlers({ close: resolve }));
}

/** A listener on 127.0.0.1:0 and the server-side link of the next connection. */
async function listener(opts: Partial<ListenWsOptions> = {}) {
  const links: Link[] = [];
  let waiting = deferred<Link>();
  const l = await listenWs({
    host: '127.0.0.1',
    port: 0,
    ...opts,
    onLink: (link) => {
      links.push(link);
      waiting.resolve(link);
    },
  });
  const next = async () => {
    const link = await waiting.promise;
    waiting = deferred<Link>();
    return link;
  };
  return { ...l, next, links };
}

async function wsPair(connect: (url: string) => Promise<Link>) {
  const l = await listener();
  const [a, b] = await Promise.all([connect(l.url), l.next()]);
  return {
    a,
    b,
    cleanup: async () => {
      a.close();
      b.close();
      await l.close();
    },
  };
}

/** Two in-process rtc links with signals handed straight across. */
function rtcHandles(extra: Partial<RtcLinkOptions> = {}, extraB: Partial<RtcLinkOptions> = extra) {
  const a: RtcLinkHandle = createNodeRtcLink({ initiator: true, signal: (d) => b.receiveSignal(d), ...extra });
  const b: RtcLinkHandle = createNodeRtcLink({ initiator: false, signal: (d) => a.receiveSignal(d), ...extraB });
  return { a, b };
}

async function rtcPair() {
  const { a, b } = rtcHandles();
  await Promise.all([a.ready, b.ready]);
  return {
    a: a.link,
    b: b.link,
    cleanup: async () => {
      // Every peer destroyed, or wrtc keeps the test process alive.
      a.destroy('test over');
      b.destroy('test over');
    },
  };
}

linkCompliance('memory', async () => {
  const [a, b] = memoryLinkPair();
  return { a, b, cleanup: async () => (a.close(), b.close()) };
});

linkCompliance('memory with latency', async () => {
  const [a, b] = memoryLinkPair({ latencyMs: 1, maxFrameSize: 64 * 1024 });
  return { a, b, cleanup: async () => (a.close(), b.close()) };
});

linkCompliance('ws', () => wsPair((url) => connectWs(url)));

// web/ws.ts runs in browsers; here over the `ws` package's browser-style WebSocket.
linkCompliance('web ws', () =>
  wsPair((url) => webConnectWs(url, { WebSocket: WsWebSocket as unknown as typeof WebSocket })),
);

linkCompliance('rtc', rtcPair, { carriesReason: false });

test('memory — latency delays every frame and the close, in order (manual clock)', async () => {
  const clock = new ManualClock();
  const [a, b] = memoryLinkPair({ latencyMs: 10, clock });
  const got: string[] = [];
  b.setHandlers({ frame: (f) => got.push(String(f)), close: (r) => got.push(`close:${r}`) });
  a.send('1');
  clock.advance(5);
  a.send('2');
  a.close('bye');
  await Promise.resolve();
  clock.advance(4);
  await Promise.resolve();
  assert.deepEqual(got, []);
  clock.advance(1);
  await Promise.resolve();
  assert.deepEqual(got, ['1']);
  clock.advance(5);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(got, ['1', '2', 'close:bye']);
  assert.equal(clock.pending, 0);
});

test('memory — a throwing frame handler closes the link with the error, both ends', async () => {
  const [a, b] = memoryLinkPair();
  b.setHandlers({
    frame: () => {
      throw new Error('boom');
    },
  });
  const atA = closeReason(a);
  const atB = closeReason(b);
  a.send('x');
  assert.equal(await atB, 'frame handler threw: boom');
  assert.equal(await atA, 'frame handler threw: boom');
});

test('ws — connectWs to a closed port rejects with AEMP_ERR_CONNECT, before any timeout', async () => {
  const l = await listenWs({ host: '127.0.0.1', port: 0, onLink: () => {} });
  const url = l.url;
  await l.close();
  const t0 = Date.now();
  await assert.rejects(connectWs(url), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'AEMP_ERR_CONNECT');
    assert.match(err.message, new RegExp(`^connect ${url}: .*ECONNREFUSED`));
    return true;
  });
  assert.ok(Date.now() - t0 < 10_000);
});

test('ws — connectWs gives up on timeout and on abort', async () => {
  // Accepts TCP, never answers the HTTP upgrade.
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => sockets.add(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const url = `ws://127.0.0.1:${(silent.address() as net.AddressInfo).port}/`;
  try {
    await assert.rejects(connectWs(url, { timeoutMs: 100 }), {
      code: 'AEMP_ERR_CONNECT',
      message: `connect ${url}: timed out after 100 ms`,
    });
    const ac = new AbortController();
    const p = connectWs(url, { signal: ac.signal });
    setImmediate(() => ac.abort());
    await assert.rejects(p, (err: Error & { code?: string; cause?: { code?: string } }) => {
      assert.equal(err.code, 'AEMP_ERR_CONNECT');
      assert.equal(err.message, `connect ${url}: aborted`);
      assert.equal(err.cause?.code, 'AEMP_ERR_ABORTED');
      return true;
    });
    await assert.rejects(connectWs(url, { signal: AbortSignal.abort() }), { code: 'AEMP_ERR_CONNECT' });
    await assert.rejects(webConnectWs(url, { timeoutMs: 100, WebSocket: WsWebSocket as unknown as typeof WebSocket }), {
      code: 'AEMP_ERR_CONNECT',
      message: `connect ${url}: timed out after 100 ms`,
    });
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
  }
});

test('ws — a peer sending a frame over maxFrameSize is closed, both ends told why', async () => {
  const l = await listener({ maxFrameSize: 64 * 1024 });
  try {
    const [client, server] = await Promise.all([connectWs(l.url, { maxFrameSize: 256 * 1024 }), l.next()]);
    const atServer = closeReason(server);
    const atClient = closeReason(client);
    client.send(new Uint8Array(100_000));
    assert.equal(await atServer, 'ws: frame from peer exceeds maxFrameSize 65536');
    assert.equal(await atClient, 'ws: closed by peer (1009 message too big)');
  } finally {
    await l.close();
  }
});

test('ws — a connection dropped without a close frame closes the link with "connection lost"', async () => {
  const l = await listener();
  const [client, server] = await Promise.all([connectWs(l.url), l.next()]);
  const atClient = closeReason(client);
  const atServer = closeReason(server);
  await l.close();
  assert.equal(await atServer, 'ws: listener closed');
  assert.equal(await atClient, 'ws: connection lost (1006 abnormal closure, no close frame)');
});

test('ws — a long close reason reaches the peer cut to 123 bytes of whole characters', async () => {
  const l = await listener();
  try {
    const [client, server] = await Promise.all([connectWs(l.url), l.next()]);
    const atServer = closeReason(server);
    const atClient = closeReason(client);
    const long = 'é'.repeat(100); // 200 bytes
    client.close(long);
    assert.equal(await atClient, long);
    assert.equal(await atServer, 'é'.repeat(61));
  } finally {
    await l.close();
  }
});

test('ws — wsLink wraps a plain ws server socket (no maxPayload) and still enforces maxFrameSize', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  try {
    const { wsLink } = await import('../node/ws.ts');
    const serverLink = deferred<Link>();
    wss.on('connection', (ws) => serverLink.resolve(wsLink(ws, { maxFrameSize: 1000 })));
    const port = (wss.address() as net.AddressInfo).port;
    const client = await connectWs(`ws://127.0.0.1:${port}/`);
    const server = await serverLink.promise;
    const atServer = closeReason(server);
    const atClient = closeReason(client);
    const got = new Promise((r) => server.setHandlers({ frame: r }));
    client.send(new Uint8Array(1000));
    assert.equal((await got as Uint8Array).byteLength, 1000);
    client.send(new Uint8Array(1001));
    assert.equal(await atServer, 'ws: frame from peer exceeds maxFrameSize 1000');
    assert.equal(await atClient, 'ws: closed by peer (1009 message too big)');
  } finally {
    await new Promise((r) => wss.close(r));
  }
});

test('ws — listenWs hands plain HTTP to onHttp, else answers 404', async () => {
  const withHttp = await listenWs({
    host: '127.0.0.1',
    port: 0,
    onLink: () => {},
    onHttp: (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('hello'),
  });
  const without = await listenWs({ host: '127.0.0.1', port: 0, onLink: () => {} });
  try {
    const r1 = await fetch(withHttp.url.replace('ws:', 'http:'));
    assert.equal(r1.status, 200);
    assert.equal(await r1.text(), 'hello');
    const r2 = await fetch(without.url.replace('ws:', 'http:'));
    assert.equal(r2.status, 404);
    await r2.arrayBuffer();
  } finally {
    await withHttp.close();
    await without.close();
  }
});

test('ws — once ws reads a link, a frame may wait in at most max(1024, maxFrameSize / 256) reads and a message have as many fragments: one more is closed with 1008', async () => {
  const l = await listener({ maxFrameSize: 256 * 1024 }); // wsReadLimits: 1,024 reads, 1,024 fragments
  const connect = async () => {
    const client = new WsWebSocket(l.url, { perMessageDeflate: false });
    await new Promise((resolve, reject) => client.once('open', resolve).once('error', reject));
    const server = await l.next();
    // The server's TCP socket (private to WsLink): a listener after the link's own tells us each read was
    // taken, so every piece below is one read of its own, never two joined by the kernel.
    const raw = (server as unknown as { raw: net.Socket }).raw;
    let read = deferred<void>();
    raw.on('data', () => read.resolve());
    const tcp = (client as unknown as { _socket: net.Socket })._socket;
    const put = async (bytes: Uint8Array) => {
      read = deferred<void>();
      tcp.write(bytes);
      await read.promise;
    };
    const frames: Uint8Array[] = [];
    server.setHandlers({ frame: (f) => frames.push(f as Uint8Array) });
    return { client, server, put, frames, closed: closeReason(server), code: new Promise<number>((r) => client.once('close', r)) };
  };
  // Masked frames (FIN bit and opcode in b0) with an all-zero mask: the payload goes as it is.
  const ZERO = [0, 0, 0, 0];
  const header = (b0: number, len: number) => handFrame(b0, new Uint8Array(0), ZERO, len);
  const frame = (b0: number, payload: Uint8Array) => handFrame(b0, payload, ZERO);
  const FIRST = 0x02; // binary, not final: from here on ws reads the link (node/ws-read.ts hands a fragment over)
  const MORE = 0x00;
  const LAST = 0x80;
  try {
    const a = await connect();
    // 1,024 fragments, sent at once.
    await a.put(Buffer.concat([frame(FIRST, Uint8Array.of(1)), ...Array.from({ length: 1022 }, () => frame(MORE, Uint8Array.of(2))), frame(LAST, Uint8Array.of(3))]));
    // A frame of maxFrameSize in 1,024 reads of 256 bytes.
    const whole = new Uint8Array(256 * 1024).map((_, i) => i % 251);
    await a.put(header(0x82, whole.length));
    for (let i = 0; i < 1024; i++) await a.put(whole.subarray(i * 256, i * 256 + 256));
    assert.equal(a.frames.length, 2);
    assert.deepEqual(a.frames[0], Uint8Array.from([1, ...new Array(1022).fill(2), 3]), 'a message in 1,024 fragments');
    assert.deepEqual(a.frames[1], whole, 'a frame of maxFrameSize in 1,024 reads');
    // A frame trickled a byte per read.
    await a.put(header(0x82, 60_000));
    for (let i = 0; i < 1024; i++) await a.put(Uint8Array.of(i & 0xff));
    await new Promise((r) => setImmediate(r)); // ws reports its error on the next tick: none came
    assert.equal(a.server.isOpen, true, '1,024 reads wait');
    await a.put(Uint8Array.of(0));
    assert.equal(await a.code, 1008);
    assert.equal(await a.closed, 'ws: Too many buffered chunks (more than 1024)');

    const b = await connect();
    await b.put(Buffer.concat([frame(FIRST, Uint8Array.of(1)), ...Array.from({ length: 1024 }, () => frame(MORE, Uint8Array.of(2)))]));
    assert.equal(await b.code, 1008);
    assert.equal(await b.closed, 'ws: Too many message fragments (more than 1024)');
    assert.deepEqual(b.frames, []);
  } finally {
    await l.close();
  }
});

test('ws — listenWs binds [::1] and reports the address and URL', async () => {
  const ac = new AbortController();
  const got = deferred<{ link: Link; url: string; remoteAddress: string }>();
  const l = await listenWs({
    host: '[::1]',
    port: 0,
    signal: ac.signal,
    onLink: (link, info) => got.resolve({ link, ...info }),
  });
  assert.equal(l.host, '::1');
  assert.equal(l.url, `ws://[::1]:${l.port}/`);
  const client = await connectWs(`${l.url}path?x=1`);
  const { link, url, remoteAddress } = await got.promise;
  assert.equal(url, '/path?x=1');
  assert.equal(remoteAddress, '::1');
  const atClient = closeReason(client);
  ac.abort(); // aborting closes the listener and its links
  assert.equal(await closeReason(link), 'ws: listener closed');
  await atClient;
});

test('rtc — ready rejects with AEMP_ERR_RTC when ICE cannot succeed, and both links close', async () => {
  const { a, b } = rtcHandles({ timeoutMs: 400, dropCandidates: true }, { timeoutMs: 400 });
  const atA = closeReason(a.link);
  const atB = closeReason(b.link);
  const t0 = Date.now();
  await assert.rejects(a.ready, { code: 'AEMP_ERR_RTC' });
  await assert.rejects(b.ready, { code: 'AEMP_ERR_RTC' });
  assert.match(await atA, /^rtc: /);
  assert.match(await atB, /^rtc: /);
  assert.ok(Date.now() - t0 < 10_000);
});

test('rtc — frames sent before the channel opens are delivered once it does; maxFrameSize is 16 KiB', async () => {
  const { a, b } = rtcHandles();
  assert.equal(a.link.isOpen, false);
  a.link.send('early');
  a.link.send(new Uint8Array([1, 2]));
  assert.ok(a.link.bufferedAmount > 0);
  const got: unknown[] = [];
  const done = new Promise<void>((r) => b.link.setHandlers({ frame: (f) => got.push(f) === 2 && r() }));
  await Promise.all([a.ready, b.ready, done]);
  assert.deepEqual(got, ['early', new Uint8Array([1, 2])]);
  assert.equal(a.link.isOpen, true);
  assert.equal(a.link.maxFrameSize, 16 * 1024);
  const closedB = closeReason(b.link);
  a.destroy('done');
  assert.equal(await closedB, 'rtc: closed by peer');
});

test('rtc — closing before the channel opens rejects ready and closes with the reason', async () => {
  const { a, b } = rtcHandles();
  const atA = closeReason(a.link);
  a.link.close('changed my mind');
  await assert.rejects(a.ready, { code: 'AEMP_ERR_RTC' });
  assert.equal(await atA, 'changed my mind');
  b.destroy('test over');
  await assert.rejects(b.ready, { code: 'AEMP_ERR_RTC' });
});
