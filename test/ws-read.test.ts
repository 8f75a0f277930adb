import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import * as ws from 'ws';
import { readFramesFast, type FrameSink } from '../node/ws-read.ts';
import { connectWs, listenWs } from '../node/ws.ts';
import type { Frame, Link } from '../lib/link.ts';
import { handFrame as rawFrame } from './fixtures/hand-frame.ts';
import { prng } from './fixtures/prng.ts';

/** ws's frame parser: exported by the package, not by its type declarations. */
interface FrameReader {
  on(ev: string, fn: (...a: never[]) => void): void;
  write(chunk: Buffer): void;
}
const { Receiver } = ws as unknown as { Receiver: new (o: { isServer: boolean; maxPayload: number }) => FrameReader };

const MAX = 100_000;

const bin = (p: Buffer) => rawFrame(0x82, p);
const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 255));

type Ev = (string | number)[];

/**
 * What ws's own parser makes of `stream` (a client's, or a server's with `server`; it unmasks a copy):
 * messages, pings, pongs, a close or an error, in order.
 */
function wsReads(stream: Buffer, server = false): Ev[] {
  const out: Ev[] = [];
  const r = new Receiver({ isServer: server, maxPayload: MAX });
  r.on('message', (d: Buffer, isBinary: boolean) => out.push(isBinary ? ['bin', d.toString('hex')] : ['text', d.toString()]));
  r.on('ping', (d: Buffer) => out.push(['ping', d.toString('hex')]));
  r.on('pong', () => out.push(['pong']));
  r.on('conclude', (code: number) => out.push(['close', code]));
  r.on('error', (e: Error & { code?: string }) => out.push(['error', e.code ?? e.message]));
  if (stream.length) r.write(Buffer.from(stream));
  return out;
}

/**
 * `stream` read in `chunks` by the fast reader: what it handed on itself,
 * then what ws's parser makes of the bytes it handed over to ws (from where
 * it stopped). `openFor`: the sink says closed after this many frames.
 * `server`: the reader is a server's (its peer masks every frame). The
 * reader unmasks in place: `chunks` are copied first. `handed`: the bytes
 * that went to ws, as they went.
 */
function fastReads(chunks: Buffer[], openFor = Infinity, server = false): { events: Ev[]; handedBytes: number; handed: Buffer } {
  chunks = chunks.map((c) => Buffer.from(c));
  const sock = new PassThrough();
  const handed: Buffer[] = [];
  // Named as ws's listener is: readFramesFast takes over only from it.
  function socketOnData(chunk: Buffer): void {
    handed.push(chunk);
  }
  sock.on('data', socketOnData);
  const events: Ev[] = [];
  const sink: FrameSink = {
    get isOpen() {
      return events.length < openFor;
    },
    onBinary: (d) => events.push(['bin', d.toString('hex')]),
    onText: (t) => events.push(['text', t]),
    onPing: (d) => events.push(['ping', d.toString('hex')]),
    alive: () => events.push(['pong']),
  };
  assert.equal(readFramesFast(sock, MAX, sink, server), true);
  for (const c of chunks) sock.emit('data', c);
  const rest = Buffer.concat(handed);
  return { events: [...events, ...wsReads(rest, server)], handedBytes: rest.length, handed: rest };
}

/** `b` cut at random places (some single bytes, some runs). */
function cut(b: Buffer, rnd: () => number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < b.length; ) {
    const n = rnd() < 0.3 ? 1 : 1 + Math.floor(rnd() * (rnd() < 0.5 ? 20 : 70_000));
    out.push(b.subarray(at, at + n));
    at += n;
  }
  return out;
}

/** A random stream of the frames the reader takes: binary and text frames of every length encoding, pings, pongs. */
function randomFrames(rnd: () => number, round: number, key: () => number[] | undefined): Buffer[] {
  const frames: Buffer[] = [];
  for (let i = 0, n = 1 + Math.floor(rnd() * 12); i < n; i++) {
    const k = rnd();
    if (k < 0.1) frames.push(rawFrame(0x89, bytes(Math.floor(rnd() * 126), i), key()));
    else if (k < 0.15) frames.push(rawFrame(0x8a, bytes(Math.floor(rnd() * 10), i), key()));
    else if (k < 0.3) frames.push(rawFrame(0x81, Buffer.from('{"aemp":1,"é€😀":"' + 'x'.repeat(Math.floor(rnd() * (rnd() < 0.2 ? 70_000 : 100))) + '"}'), key()));
    else {
      const sizes = [0, 1, 3, 4, 5, 125, 126, 127, 300, 65535, 65536, 70_000];
      const n = rnd() < 0.5 ? sizes[Math.floor(rnd() * sizes.length)]! : Math.floor(rnd() * 200);
      frames.push(rawFrame(0x82, bytes(n, round + i), key()));
    }
  }
  return frames;
}

for (const side of ['client', 'server'] as const) {
  const server = side === 'server';
  const what = server ? 'masked frames (random keys and zero keys) at a server' : 'unmasked frames at a client';
  test(`ws-read — ${what}: binary and text of every length encoding, pings and pongs, cut anywhere, read exactly as ws reads them`, () => {
    const rnd = prng(server ? 4242 : 1306);
    // A browser masks with a random key; a Node node with zeros (connectWs).
    const key = () => (!server ? undefined : rnd() < 0.3 ? [0, 0, 0, 0] : [0, 1, 2, 3].map(() => Math.floor(rnd() * 256)));
    for (let round = 0; round < 60; round++) {
      const frames = randomFrames(rnd, round, key);
      const stream = Buffer.concat(frames);
      const want = wsReads(stream, server);
      assert.equal(want.length, frames.length);
      assert.deepEqual(want.filter((e) => e[0] === 'error'), []);
      const got = fastReads(cut(stream, rnd), Infinity, server);
      assert.deepEqual(got.events, want, `round ${round}`);
      assert.equal(got.handedBytes, 0, `round ${round}: nothing went to ws`);
    }
  });
}

test('ws-read — a frame trickled a byte per read (more reads than the chunks kept before joining) reads whole', () => {
  const frames = [bin(bytes(3000, 1)), rawFrame(0x81, Buffer.from('é'.repeat(1500))), bin(bytes(2, 2))];
  const stream = Buffer.concat(frames);
  const oneByOne = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1));
  const got = fastReads(oneByOne);
  assert.deepEqual(got.events, wsReads(stream));
  assert.deepEqual(got.events.map((e) => e[0]), ['bin', 'text', 'bin']);
  assert.equal(got.handedBytes, 0);
});

for (const side of ['client', 'server'] as const) {
  const server = side === 'server';
  test(`ws-read — at a ${side}: from the first frame it does not take on, the stream goes to ws, byte for byte as it came, and is read as ws reads it`, () => {
    const rnd = prng(server ? 78 : 77);
    // What a server reads is masked (a browser's random key); what a client reads is not.
    const k = server ? [0x5a, 0x01, 0xff, 0x80] : undefined;
    const before = [rawFrame(0x82, bytes(5, 1), k), rawFrame(0x89, bytes(3, 2), k), rawFrame(0x82, bytes(300, 3), k)];
    const after = [rawFrame(0x82, bytes(4, 4), k), rawFrame(0x82, bytes(70_000, 5), k)];
    // Each is a frame ws handles (or refuses) itself.
    const theirs: [string, Buffer][] = [
      ['text that is not UTF-8', rawFrame(0x81, Buffer.from([0x68, 0xc3, 0x28, 0x69]), k)],
      ['text cut inside a character, in two fragments', Buffer.concat([rawFrame(0x01, Buffer.from('h\xc3', 'latin1'), k), rawFrame(0x80, Buffer.from([0xa9]), k)])],
      ['fragmented binary', Buffer.concat([rawFrame(0x02, bytes(10, 6), k), rawFrame(0x80, bytes(20, 7), k)])],
      ['close', rawFrame(0x88, Buffer.from([0x0f, 0xa1, ...Buffer.from('bye')]), k)],
      server ? ['unmasked', rawFrame(0x82, bytes(8, 8))] : ['masked', rawFrame(0x82, bytes(8, 8), [1, 2, 3, 4])],
      ['reserved bit', rawFrame(0xc2, bytes(8, 9), k)],
      ['unknown opcode', rawFrame(0x83, bytes(8, 10), k)],
      ['oversized', rawFrame(0x82, bytes(MAX + 1, 11), k)],
      ['oversized control', rawFrame(0x89, bytes(126, 12), k)],
      ['64-bit length above 2^32', Buffer.from([0x82, 127 | (server ? 0x80 : 0), 0, 0, 0, 1, 0, 0, 0, 0, ...(k ?? [])])],
    ];
    for (const [what, frame] of theirs) {
      const stream = Buffer.concat([...before, frame, ...after]);
      const want = wsReads(stream, server);
      const from = Buffer.concat(before).length;
      for (let i = 0; i < 5; i++) {
        const got = fastReads(i === 0 ? [stream] : cut(stream, rnd), Infinity, server);
        assert.deepEqual(got.events, want, what);
        assert.deepEqual(got.handed, stream.subarray(from), `${what}: ws gets the stream from that frame on, as it came`);
      }
    }
  });
}

test('ws-read — once the link is no longer open, the frames after go to ws (its close handshake)', () => {
  const frames = [bin(bytes(3, 1)), bin(bytes(4, 2)), rawFrame(0x88, Buffer.from([0x03, 0xe8])), bin(bytes(5, 3))];
  const stream = Buffer.concat(frames);
  const got = fastReads([stream], 1);
  assert.deepEqual(got.events, [['bin', bytes(3, 1).toString('hex')], ['bin', bytes(4, 2).toString('hex')], ['close', 1000]]);
  assert.equal(got.handedBytes, stream.length - frames[0]!.length);
});

test('ws-read — a socket not as ws leaves it (another data listener) is left alone', () => {
  const sock = new PassThrough();
  function socketOnData(): void {}
  sock.on('data', socketOnData);
  sock.on('data', () => {});
  const sink: FrameSink = { isOpen: true, onBinary() {}, onText() {}, onPing() {}, alive() {} };
  assert.equal(readFramesFast(sock, MAX, sink), false);
  assert.deepEqual(sock.listeners('data').length, 2);
  const other = new PassThrough();
  other.on('data', () => {});
  assert.equal(readFramesFast(other, MAX, sink), false);
});

// ---- over a real socket: a server that writes frames by hand ----

/** A WebSocket server on 127.0.0.1 that completes the upgrade and hands over the raw socket. */
async function rawServer(onSocket: (s: Socket) => void): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer();
  const sockets = new Set<Socket>();
  server.on('upgrade', (req, socket: Socket) => {
    sockets.add(socket);
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.setNoDelay(true);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    onSocket(socket);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => {
      for (const s of sockets) s.destroy();
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      return closed;
    },
  };
}

/** Write `chunks` one write at a time, each after the previous one left. */
async function writeEach(s: Socket, chunks: Buffer[]): Promise<void> {
  for (const c of chunks) await new Promise<void>((r, j) => s.write(c, (e) => (e ? j(e) : r())));
}

test('ws-read — a dialled link over TCP: frames cut across writes, a ping answered, then a fragmented message, invalid text and a close read by ws', async () => {
  const rnd = prng(5);
  const big = bytes(70_000, 1);
  const fromClient: Ev[] = [];
  let serverSide: Socket | undefined;
  const srv = await rawServer((s) => {
    serverSide = s;
    const r = new Receiver({ isServer: true, maxPayload: MAX });
    r.on('pong', (d: Buffer) => fromClient.push(['pong', d.toString('hex')]));
    // As a server does: the client's close frame ends the connection.
    r.on('conclude', (code: number) => (fromClient.push(['close', code]), s.end()));
    s.on('data', (c: Buffer) => r.write(c));
  });
  try {
    const link = await connectWs(srv.url, { maxFrameSize: MAX });
    const frames: Frame[] = [];
    let alive = 0;
    const closed = new Promise<string>((r) => link.setHandlers({ frame: (f) => frames.push(f), alive: () => alive++, close: r }));
    const s = serverSide!;
    // Ours: text and binary frames and a ping, cut at random places.
    const fast = Buffer.concat([rawFrame(0x81, Buffer.from('{"é":1}')), bin(bytes(3, 1)), rawFrame(0x89, Buffer.from('hi')), bin(big), bin(bytes(126, 2))]);
    await writeEach(s, cut(fast, rnd));
    // The frames so far were read here, not by ws (its listener, socketOnData, is the socket's no more).
    const raw = (link as unknown as { raw: Socket }).raw;
    assert.deepEqual(raw.listeners('data').map((f) => f.name), ['onData']);
    // ws's: a fragmented binary message, a binary one, a close (4001 'done').
    await writeEach(s, [
      rawFrame(0x02, bytes(10, 3)),
      rawFrame(0x80, bytes(20, 4)),
      bin(bytes(7, 5)),
      rawFrame(0x88, Buffer.concat([Buffer.from([0x0f, 0xa1]), Buffer.from('done')])),
    ]);
    assert.equal(await closed, 'done');
    assert.deepEqual(
      frames.map((f) => (typeof f === 'string' ? f : Buffer.from(f).toString('hex'))),
      ['{"é":1}'].concat([bytes(3, 1), big, bytes(126, 2), Buffer.concat([bytes(10, 3), bytes(20, 4)]), bytes(7, 5)].map((b) => b.toString('hex'))),
    );
    assert.deepEqual(raw.listeners('data').map((f) => f.name), [], 'ws had the socket from the fragment on (and let go at the close)');
    assert.ok(frames.slice(1, 4).every((f) => f instanceof Uint8Array && f.constructor === Uint8Array), 'binary frames are plain Uint8Arrays');
    assert.equal(alive, 1, 'the ping counted as life');
    // The client answered the ping (with its payload) and the close.
    assert.deepEqual(fromClient, [['pong', Buffer.from('hi').toString('hex')], ['close', 4001]]);
  } finally {
    await srv.close();
  }
});

test('ws-read — a dialled link refuses a frame above maxFrameSize with 1009 and a clear reason, and a masked frame or invalid text with ws\'s errors', async () => {
  for (const [frame, reason, code] of [
    [bin(bytes(1001, 1)), 'ws: frame from peer exceeds maxFrameSize 1000', 1009],
    [rawFrame(0x82, bytes(8, 2), [9, 9, 9, 9]), 'ws: Invalid WebSocket frame: MASK must be clear', 1002],
    [rawFrame(0x81, Buffer.from([0x68, 0xc3, 0x28])), 'ws: Invalid WebSocket frame: invalid UTF-8 sequence', 1007],
  ] as const) {
    let serverSide: Socket | undefined;
    const codes: number[] = [];
    const srv = await rawServer((s) => {
      serverSide = s;
      const r = new Receiver({ isServer: true, maxPayload: MAX });
      r.on('conclude', (code: number) => (codes.push(code), s.end()));
      s.on('data', (c: Buffer) => r.write(c));
    });
    try {
      const link = await connectWs(srv.url, { maxFrameSize: 1000 });
      const frames: Frame[] = [];
      const closed = new Promise<string>((r) => link.setHandlers({ frame: (f) => frames.push(f), close: r }));
      await writeEach(serverSide!, [bin(bytes(10, 3)), frame]);
      assert.equal(await closed, reason);
      assert.deepEqual(frames.map((f) => Buffer.from(f as Uint8Array).toString('hex')), [bytes(10, 3).toString('hex')]);
      assert.deepEqual(codes, [code], 'the server was told why');
    } finally {
      await srv.close();
    }
  }
});

// ---- over a real socket: a client that writes frames by hand ----

/**
 * A TCP connection to `url` that has completed the WebSocket upgrade by hand; `from` parses what the server sends.
 * `early`: bytes sent in the same write as the upgrade request (frames before the answer: ws's `head`).
 */
async function rawClient(url: string, early: Buffer = Buffer.alloc(0)): Promise<{ s: Socket; from: Ev[] }> {
  const { port } = new URL(url);
  const s = net.connect(Number(port), '127.0.0.1');
  s.setNoDelay(true);
  await new Promise((r, j) => s.once('connect', r).once('error', j));
  const request = `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${Buffer.alloc(16, 7).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
  s.write(Buffer.concat([Buffer.from(request), early]));
  let head = Buffer.alloc(0);
  while (!head.includes('\r\n\r\n')) head = Buffer.concat([head, await new Promise<Buffer>((r) => s.once('data', r))]);
  const end = head.indexOf('\r\n\r\n') + 4;
  assert.match(head.subarray(0, end).toString(), /^HTTP\/1.1 101 /);
  const from: Ev[] = [];
  const r = new Receiver({ isServer: false, maxPayload: MAX });
  r.on('message', (d: Buffer) => from.push(['bin', d.toString('hex')]));
  r.on('pong', (d: Buffer) => from.push(['pong', d.toString('hex')]));
  r.on('conclude', (code: number) => from.push(['close', code]));
  s.on('data', (c: Buffer) => r.write(c));
  if (end < head.length) r.write(head.subarray(end));
  return { s, from };
}

/** A listener on 127.0.0.1 and its next accepted link. */
async function acceptOne(maxFrameSize: number) {
  let got!: (l: Link) => void;
  const link = new Promise<Link>((r) => (got = r));
  const l = await listenWs({ host: '127.0.0.1', port: 0, maxFrameSize, onLink: (x) => got(x) });
  return { l, link };
}

test('ws-read — an accepted link over TCP: masked frames (a random key, a zero key) cut across writes, a ping answered, then a fragmented message and a close read by ws', async () => {
  const rnd = prng(6);
  const big = bytes(70_000, 1);
  const { l, link: accepted } = await acceptOne(MAX);
  try {
    const key = [0x12, 0x34, 0x56, 0x78];
    const zero = [0, 0, 0, 0];
    // The first frame comes with the upgrade request: ws's `head`, which the reader gets first.
    const { s, from } = await rawClient(l.url, rawFrame(0x82, bytes(9, 9), key));
    const link = await accepted;
    const frames: Frame[] = [];
    let alive = 0;
    const closed = new Promise<string>((r) => link.setHandlers({ frame: (f) => frames.push(f), alive: () => alive++, close: r }));
    const fast = Buffer.concat([
      rawFrame(0x81, Buffer.from('{"é":1}'), key),
      rawFrame(0x82, bytes(3, 1), zero),
      rawFrame(0x89, Buffer.from('hi'), key),
      rawFrame(0x82, big, key),
      rawFrame(0x82, bytes(126, 2), zero),
    ]);
    await writeEach(s, cut(fast, rnd));
    const raw = (link as unknown as { raw: Socket }).raw;
    assert.deepEqual(raw.listeners('data').map((f) => f.name), ['onData'], 'read here, not by ws');
    const closedBy = new Promise((r) => s.once('close', r));
    await writeEach(s, [
      rawFrame(0x02, bytes(10, 3), key),
      rawFrame(0x80, bytes(20, 4), key),
      rawFrame(0x82, bytes(7, 5), key),
      rawFrame(0x88, Buffer.concat([Buffer.from([0x0f, 0xa1]), Buffer.from('done')]), key),
    ]);
    assert.equal(await closed, 'done');
    await closedBy;
    assert.deepEqual(
      frames.map((f) => (typeof f === 'string' ? f : Buffer.from(f).toString('hex'))),
      [bytes(9, 9).toString('hex'), '{"é":1}'].concat([bytes(3, 1), big, bytes(126, 2), Buffer.concat([bytes(10, 3), bytes(20, 4)]), bytes(7, 5)].map((b) => b.toString('hex'))),
    );
    assert.equal(alive, 1, 'the ping counted as life');
    // The server answered the ping with its payload, unmasked, and the close.
    assert.deepEqual(from, [['pong', Buffer.from('hi').toString('hex')], ['close', 4001]]);
  } finally {
    await l.close();
  }
});

test('ws-read — an accepted link refuses a frame above maxFrameSize with 1009 and a clear reason, and an unmasked frame or invalid text with ws\'s errors', async () => {
  const key = [0xa0, 0x0b, 0xc0, 0x0d];
  for (const [frame, reason, code] of [
    [rawFrame(0x82, bytes(1001, 1), key), 'ws: frame from peer exceeds maxFrameSize 1000', 1009],
    [rawFrame(0x82, bytes(8, 2)), 'ws: Invalid WebSocket frame: MASK must be set', 1002],
    [rawFrame(0x81, Buffer.from([0x68, 0xc3, 0x28]), key), 'ws: Invalid WebSocket frame: invalid UTF-8 sequence', 1007],
  ] as const) {
    const { l, link: accepted } = await acceptOne(1000);
    try {
      const { s, from } = await rawClient(l.url);
      const link = await accepted;
      const frames: Frame[] = [];
      const closed = new Promise<string>((r) => link.setHandlers({ frame: (f) => frames.push(f), close: r }));
      const gone = new Promise((r) => s.once('close', r));
      await writeEach(s, [rawFrame(0x82, bytes(10, 3), key), frame]);
      assert.equal(await closed, reason);
      await gone;
      assert.deepEqual(frames.map((f) => Buffer.from(f as Uint8Array).toString('hex')), [bytes(10, 3).toString('hex')]);
      assert.deepEqual(from, [['close', code]], 'the client was told why');
    } finally {
      await l.close();
    }
  }
});
