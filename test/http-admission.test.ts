/**
 * The seed listener's deadline for an HTTP request (node/http-admission.ts),
 * over real sockets on loopback: silent and half-sent requests are destroyed
 * at the deadline, a WebSocket upgrade and plain HTTP (keep-alive included)
 * are not, and one address cannot hold more than its share of unfinished
 * connections.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { listenWs } from '../node/ws.ts';
import { getLogLevel, setLogLevel } from '../lib/log.ts';

const DEADLINE = 400;

function conn(port: number, localAddress = '127.0.0.1') {
  const t0 = Date.now();
  const sock = net.connect({ host: '127.0.0.1', port, localAddress });
  let data = '';
  sock.setEncoding('utf8');
  sock.on('data', (d) => (data += d));
  sock.on('error', () => {});
  const closed = new Promise<number>((r) => sock.on('close', () => r(Date.now() - t0)));
  const connected = new Promise<void>((r) => sock.on('connect', () => r()));
  const waitData = (re: RegExp) =>
    new Promise<void>((resolve, reject) => {
      const check = () => (re.test(data) ? (sock.off('data', check), resolve()) : undefined);
      sock.on('data', check);
      sock.once('close', () => reject(new Error(`closed before ${re}: ${data}`)));
      check();
    });
  return { sock, closed, connected, waitData, get data() { return data; } };
}

const GET = 'GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n';
const UPGRADE = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

test('http admission — silent and half-sent connections go at the deadline; upgrades and plain HTTP stay', async () => {
  const level = getLogLevel();
  setLogLevel(0);
  const links: string[] = [];
  const l = await listenWs({
    host: '127.0.0.1', port: 0, admitTimeoutMs: DEADLINE, maxUnfinishedPerAddress: 10,
    onLink: (link) => links.push(link.remoteAddress ?? '?'),
    onHttp: (_req, res) => res.end('hello'),
  });
  try {
    const silent = conn(l.port);
    const half = conn(l.port);
    await half.connected;
    half.sock.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const ws = conn(l.port);
    await ws.connected;
    ws.sock.write(UPGRADE);
    await ws.waitData(/101 Switching Protocols/);
    const http = conn(l.port);
    await http.connected;
    http.sock.write(GET);
    await http.waitData(/hello/);
    http.sock.write(GET); // keep-alive: the next request within the deadline is served
    await http.waitData(/hello[\s\S]*hello/);
    http.sock.write('GET /x HTTP/1.1\r\n'); // then half a request: the deadline runs again
    for (const c of [silent, half]) {
      const ms = await c.closed;
      assert.ok(ms >= DEADLINE - 20 && ms < DEADLINE + 5_000, `closed after ${ms} ms`);
    }
    assert.ok((await http.closed) >= DEADLINE);
    assert.equal(ws.sock.destroyed, false, 'the upgraded connection was cut');
    assert.deepEqual(links, ['127.0.0.1']);
    ws.sock.destroy();
  } finally {
    await l.close();
    setLogLevel(level);
  }
});

test('http admission — one address holds at most its share of unfinished connections; others still get in', async () => {
  const level = getLogLevel();
  setLogLevel(0);
  const l = await listenWs({ host: '127.0.0.1', port: 0, admitTimeoutMs: 30_000, maxUnfinishedPerAddress: 3, onLink: () => {}, onHttp: (_q, res) => res.end('hello') });
  try {
    const held = [conn(l.port, '127.0.0.2'), conn(l.port, '127.0.0.2'), conn(l.port, '127.0.0.2')];
    await Promise.all(held.map((c) => c.connected));
    // The server saw them (a plain request from the same address round-trips after them): then the fourth is cut at once.
    const probe = conn(l.port, '127.0.0.3');
    await probe.connected;
    probe.sock.write(GET);
    await probe.waitData(/hello/);
    const fourth = conn(l.port, '127.0.0.2');
    const ms = await fourth.closed;
    assert.ok(ms < 10_000, `the fourth lived ${ms} ms`);
    assert.equal(fourth.data, '');
    for (const c of held) assert.equal(c.sock.destroyed, false);
    // A held one that finishes its request and closes frees its place (keep-alive would hold it again).
    held[0]!.sock.write(GET.replace('keep-alive', 'close'));
    await held[0]!.closed;
    probe.sock.write(GET);
    await probe.waitData(/hello[\s\S]*hello/);
    const fifth = conn(l.port, '127.0.0.2');
    await fifth.connected;
    fifth.sock.write(GET);
    await fifth.waitData(/hello/);
    for (const c of [...held, probe, fifth]) c.sock.destroy();
  } finally {
    await l.close();
    setLogLevel(level);
  }
});
