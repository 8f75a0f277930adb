/**
 * Child script: the Node side of the browser figures (browser-run.ts drives
 * the pages). One process holds:
 *
 * - a seed node (`bench_seed`) on 127.0.0.1:0 that also serves the bench
 *   page over HTTP: /aemp.js and its chunks from dist/ (the built library),
 *   /bench-page.js (args.pageJs), and / (the page);
 * - a second node (`bench_node`) joined to the seed, for direct links
 *   page ↔ Node (a seed's own link to a page stays the WebSocket);
 * - the raw baselines: a `ws` server answering /echo (decode + re-encode,
 *   as raw-ws.ts does), /recv?count=N (count in order, 'done' after N) and
 *   /sig (one WebRTC offer → answer, wrtc's native RTCPeerConnection; the
 *   channel's label says echo or recv:N).
 *
 * With role 'node' the process is a third node, `bench_relayed` (direct
 * links off: pages reach it through the seed), joined to args.seed.
 *
 * Both nodes run the same port (serve()): 'hello' → 'hi', 'path?' → its
 * linkInfo path to the asker, 'm' echoed, or counted after 'run'.
 * Pages join with a token for `web/bench-*`.
 *
 * ready {url, seed, seedPort, nodePort, token, raw}
 */
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, extname } from 'node:path';
import { Decoder, Encoder } from '@msgpack/msgpack';
import wrtc from '@roamhq/wrtc';
import { WebSocketServer, type RawData } from 'ws';
import { createNode, nodeOf, setHttpHandler, type MpNode, type PortId } from '../node/index.ts';
import { useCliEnvironment } from '../node/run.ts';
import { createToken } from '../lib/protocol/token.ts';
import { childIo } from './child-io.ts';
import { hostProfiler } from './host-prof.ts';
import { repoRoot } from './child.ts';

process.env.AEMP_RC = join(tmpdir(), `aemp-bench-no-rc-${process.pid}`, 'rc.json');
useCliEnvironment();

const io = childIo();
const args = io.args as { role?: 'node'; pageJs: string; seed?: string; profile?: { dir: string; cpuprofile: boolean } };
if (args.profile) await hostProfiler(io, args.profile);
const SECRET = 'bench-browser';
const ACK_EVERY = 10_000;
const encoder = new Encoder();
const decoder = new Decoder();
const bytesOf = (d: RawData): Uint8Array => (Array.isArray(d) ? Buffer.concat(d) : d instanceof ArrayBuffer ? new Uint8Array(d) : d);

const PAGE = '<!doctype html><meta charset="utf-8"><title>aemp bench</title><script type="module" src="/bench-page.js"></script>\n';
const TYPES: Record<string, string> = { '.js': 'text/javascript', '.html': 'text/html' };
/** Cross-origin isolation: performance.now() then has 5 µs resolution instead of 100 µs. */
const ISOLATED = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

setHttpHandler((req, res) => {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  const file = path === '/bench-page.js' ? args.pageJs : /^\/[\w.-]+\.js$/.test(path) ? join(repoRoot, 'dist', path) : undefined;
  if (path === '/') return void res.writeHead(200, { 'content-type': 'text/html', ...ISOLATED }).end(PAGE);
  if (!file) return void res.writeHead(404).end();
  readFile(file).then(
    (data) => res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', ...ISOLATED }).end(data),
    () => res.writeHead(404).end(),
  );
});

/** The port both nodes run: see the file comment. */
function serve(node: MpNode): PortId {
  let reply: PortId | undefined;
  let counting = 0;
  let next = 0;
  let total = 0;
  const p = node.port();
  node.rcv(p, {
    hello: (from: PortId) => node.snd((reply = from), 'hi'),
    'path?': (from: PortId) => node.snd(from, 'path', node.linkInfo(nodeOf(from))?.path ?? null),
    run: (from: PortId, count: number) => {
      reply = from;
      counting = count;
      next = 0;
      total = 0;
      node.snd(from, 'hi');
    },
    m: (i: number, x: string) => {
      if (counting === 0) return node.snd(reply!, 'm', i, x);
      if (i !== next) throw new Error(`message ${i} arrived, expected ${next}`);
      next++;
      if (++total % ACK_EVERY === 0) node.snd(reply!, 'ack', total);
      if (next === counting) {
        counting = 0;
        node.snd(reply!, 'done');
      }
    },
  });
  return p;
}

if (args.role === 'node') {
  // The relayed node, in its own process: the seed's relaying and the receiver's work do not share a core.
  const relayed = await createNode({ nodeid: 'bench_relayed', seeds: [args.seed!], secret: SECRET, direct: false });
  io.emit({ ev: 'ready', port: serve(relayed) });
  await new Promise(() => {});
}

// The pages are measured, not throttled: the seed's relay quota for pages (docs/security.md) is lifted here.
const seed = await createNode({ nodeid: 'bench_seed', binds: ['127.0.0.1:0'], secret: SECRET, pageRelayMessagesPerSec: 0, pageRelayBytesPerSec: 0 });
const seedUrl = seed.net!.seedLink!.listening()[0]!;
const node = await createNode({ nodeid: 'bench_node', seeds: [seedUrl], secret: SECRET });
const token = await createToken(globalThis.crypto.subtle, SECRET, { node: 'web/bench-*', ttlSec: 3600, nowMs: Date.now() });

// ---- raw baselines ------------------------------------------------------------------

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
wss.on('connection', (ws, req) => {
  const u = new URL(req.url ?? '/', 'http://x');
  if (u.pathname === '/echo') {
    ws.on('message', (d) => ws.send(encoder.encode(decoder.decode(bytesOf(d)))));
  } else if (u.pathname === '/recv') {
    const count = Number(u.searchParams.get('count'));
    const counter = counterOf(count, () => ws.send('done'));
    ws.on('message', (d) => counter(bytesOf(d)));
  } else if (u.pathname === '/sig') {
    ws.on('message', (d) => void answerOffer(JSON.parse(String(d))).then((a) => ws.send(JSON.stringify(a)), (e) => io.emit({ ev: 'error', error: String(e) })));
  } else ws.close();
});

/** Count packets of msgpack batches in order; done() after `count` of them. */
function counterOf(count: number, done: () => void): (bytes: Uint8Array) => void {
  let next = 0;
  return (bytes) => {
    const batch = decoder.decode(bytes) as Array<[string, string, [string, number, string]]>;
    for (const p of batch) {
      if (p[2][1] !== next) throw new Error(`raw: packet ${p[2][1]} arrived, expected ${next}`);
      next++;
    }
    if (next === count) {
      next = 0;
      done();
    }
  };
}

const peers = new Set<RTCPeerConnection>();
async function answerOffer(offer: RTCSessionDescriptionInit): Promise<RTCSessionDescriptionInit> {
  const pc = new (wrtc as unknown as { RTCPeerConnection: typeof RTCPeerConnection }).RTCPeerConnection({ iceServers: [] });
  peers.add(pc);
  pc.ondatachannel = ({ channel: dc }) => {
    dc.binaryType = 'arraybuffer';
    const [mode, n] = dc.label.split(':');
    if (mode === 'echo') dc.onmessage = (ev) => dc.send(encoder.encode(decoder.decode(new Uint8Array(ev.data as ArrayBuffer))));
    else {
      const counter = counterOf(Number(n), () => dc.send('done'));
      dc.onmessage = (ev) => counter(new Uint8Array(ev.data as ArrayBuffer));
    }
  };
  await pc.setRemoteDescription(offer);
  await pc.setLocalDescription(await pc.createAnswer());
  if (pc.iceGatheringState !== 'complete')
    await new Promise<void>((r) => pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && r()));
  return { type: 'answer', sdp: pc.localDescription!.sdp };
}

await new Promise<void>((r) => (wss.address() ? r() : wss.once('listening', () => r())));
const raw = `ws://127.0.0.1:${(wss.address() as { port: number }).port}`;
io.on('exit', () => {
  for (const pc of peers) pc.close();
  process.exit(0);
});
io.emit({ ev: 'ready', url: seedUrl.replace(/^ws/, 'http'), seed: seedUrl, seedPort: serve(seed), nodePort: serve(node), token, raw });
