/**
 * Child script: the raw `ws` baseline (see measure.ts for the protocol).
 * Roles: 'recv' / 'echo' run a WebSocketServer on 127.0.0.1:0 and send its
 * URL as a `peer` event; 'send' / 'ping' connect to it.
 *
 * args: role, count; dst (port ID in the packets, default 'node#port');
 * batch (packets per frame, default 1000); highWater (bytes queued in ws
 * before the sender waits for a quarter of it to drain, default 4 MiB);
 * warmup (untimed round trips per ping run).
 */
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { childIo, wallNow, type Command } from './child-io.ts';
import { BatchCounter, DEFAULT_DST, decoder, encodeBatch, encoder } from './raw-wire.ts';

const io = childIo();
const { role, count } = io.args as { role: string; count: number };
const dst: string = io.args.dst ?? DEFAULT_DST;
const batch: number = io.args.batch ?? 1000;
const highWater: number = io.args.highWater ?? 4 * 1024 * 1024;
const lowWater = highWater / 4;
const maxPayload = 64 * 1024 * 1024;

const bytesOf = (d: RawData): Uint8Array => (Array.isArray(d) ? Buffer.concat(d) : d instanceof ArrayBuffer ? new Uint8Array(d) : d);

if (role === 'recv' || role === 'echo') {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload });
  wss.on('listening', () => {
    const addr = wss.address() as { port: number };
    io.emit({ ev: 'peer', data: { url: `ws://127.0.0.1:${addr.port}` } });
  });
  wss.on('connection', (ws) => {
    if (role === 'recv') {
      const counter = new BatchCounter(io, count);
      ws.on('message', (d) => counter.frame(bytesOf(d)));
    } else {
      // Decode and re-encode, as a node replying to a message would.
      ws.on('message', (d) => ws.send(encoder.encode(decoder.decode(bytesOf(d)))));
    }
    io.emit({ ev: 'ready' });
  });
} else if (role === 'send' || role === 'ping') {
  io.on('peer', (c: Command) => {
    const ws = new WebSocket((c.data as { url: string }).url, { perMessageDeflate: false, maxPayload });
    ws.on('open', () => io.emit({ ev: 'ready' }));
    ws.on('error', (e) => io.emit({ ev: 'error', error: e.message }));
    if (role === 'send') io.on('go', (g) => void sendRun(ws, g.run as number));
    else pinger(ws);
  });
} else {
  throw new Error(`raw-ws: unknown role ${role}`);
}

/** Send `count` packets in batches, never more than highWater bytes queued in ws. */
async function sendRun(ws: WebSocket, run: number): Promise<void> {
  let queued = 0;
  let wake: (() => void) | undefined;
  const written = (n: number) => (err?: Error) => {
    if (err) io.emit({ ev: 'error', error: err.message });
    queued -= n;
    if (wake && queued <= lowWater) {
      const w = wake;
      wake = undefined;
      w();
    }
  };
  io.emit({ ev: 'started', run, t: wallNow() });
  for (let i = 0; i < count; ) {
    const n = Math.min(batch, count - i);
    const bytes = encodeBatch(i, n, dst);
    i += n;
    queued += bytes.length;
    ws.send(bytes, written(bytes.length));
    if (queued > highWater) await new Promise<void>((r) => (wake = r));
  }
}

/** On each `go`: warm-up round trips, then `count` timed ones of one packet each. */
function pinger(ws: WebSocket): void {
  const warmup: number = io.args.warmup ?? 200;
  let reply: (() => void) | undefined;
  ws.on('message', () => {
    const r = reply;
    reply = undefined;
    r?.();
  });
  io.on('go', async (g) => {
    const samples: number[] = [];
    for (let i = 0; i < warmup + count; i++) {
      const t0 = performance.now();
      const got = new Promise<void>((r) => (reply = r));
      ws.send(encodeBatch(i, 1, dst));
      await got;
      if (i >= warmup) samples.push(performance.now() - t0);
    }
    io.emit({ ev: 'rtts', run: g.run, samples });
  });
}
