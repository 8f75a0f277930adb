/**
 * Child script of `npm run bench:scale`: the raw baselines of the seed's
 * idle and fan-out figures (scale.ts 'raw'), the same work done by plain
 * `ws` sockets with nothing of aemp on them — what this machine's kernel
 * and `ws` cost for 10,000 links before any protocol.
 *
 * Roles (stdio protocol in child-io.ts):
 *   'server'  a `ws` server on 127.0.0.1; ready {url}. Pings every client
 *             as the seed does a Node node (a WebSocket ping frame per
 *             client after 0.8 × `idleMs` of silence, checked every
 *             idleMs / 40; the client's ws answers with a pong by itself),
 *             counting any frame or pong as life.
 *             'cpu' {ms} → {"ev":"cpu", pct, packetsPerS}; 'fan' {run} →
 *             one FAN_BYTES frame (run number, server wall time) to every
 *             client, then {"ev":"fanout", run, start, t} once all went to
 *             the sockets (setImmediate after the loop, as the seed measures).
 *   'clients' args.count `ws` clients of args.url, at most args.inflight
 *             connecting at once; {"ev":"joined", failed}. For every
 *             fan-out frame, once all clients of this
 *             process got it: {"ev":"seen", run, lat: [ms from the frame's
 *             send time to its arrival, …], cpuMs} (CPU from its first
 *             arrival to its last).
 */
import { WebSocket, WebSocketServer } from 'ws';
import { childIo, wallNow, type Command } from './child-io.ts';

const io = childIo();
const args = io.args as { role: string; url?: string; count?: number; inflight?: number; idleMs?: number };

/** Bytes of the fan-out frame: about aemp's group change to one watcher. */
const FAN_BYTES = 64;

function fail(e: unknown): void {
  io.emit({ ev: 'error', error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  process.exit(1);
}

switch (args.role) {
  case 'server': {
    const idleMs = args.idleMs ?? 6000;
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    /** Each client and when it was last heard from (performance.now()). */
    const heard = new Map<WebSocket, number>();
    let sent = 0;
    wss.on('connection', (ws) => {
      heard.set(ws, performance.now());
      ws.on('message', () => heard.set(ws, performance.now()));
      ws.on('pong', () => heard.set(ws, performance.now()));
      ws.on('close', () => heard.delete(ws));
    });
    // One sweep for all links, as lib/mesh/liveness.ts: ping what was silent for 0.8 × idleMs.
    setInterval(() => {
      const due = performance.now() - 0.8 * idleMs;
      for (const [ws, t] of heard) {
        if (t > due) continue;
        heard.set(ws, performance.now());
        ws.ping();
        sent++;
      }
    }, idleMs / 40).unref();
    io.on('cpu', (c: Command) => {
      const u0 = process.cpuUsage();
      const t0 = performance.now();
      const p0 = sent;
      setTimeout(() => {
        const u = process.cpuUsage(u0);
        const dt = performance.now() - t0;
        io.emit({ ev: 'cpu', pct: ((u.user + u.system) / 1000 / dt) * 100, packetsPerS: ((sent - p0) / dt) * 1000 });
      }, c.ms as number);
    });
    io.on('fan', (c: Command) => {
      const frame = Buffer.alloc(FAN_BYTES);
      const start = wallNow();
      frame.writeUInt32LE(c.run as number, 0);
      frame.writeDoubleLE(start, 4);
      for (const ws of heard.keys()) ws.send(frame);
      sent += heard.size;
      setImmediate(() => io.emit({ ev: 'fanout', run: c.run, start, t: wallNow() }));
    });
    wss.on('listening', () => {
      const a = wss.address() as { port: number };
      io.emit({ ev: 'ready', url: `ws://127.0.0.1:${a.port}` });
    });
    wss.on('error', fail);
    break;
  }
  case 'clients': {
    const count = args.count!;
    const inflight = args.inflight ?? 50;
    const times = new Map<number, number[]>();
    const cpuFrom = new Map<number, NodeJS.CpuUsage>();
    let failed = 0;
    let started = 0;
    let done = 0;
    const onMessage = (data: Buffer): void => {
      const lat = wallNow() - data.readDoubleLE(4);
      const run = data.readUInt32LE(0);
      let ts = times.get(run);
      if (!ts) {
        times.set(run, (ts = []));
        cpuFrom.set(run, process.cpuUsage());
      }
      ts.push(lat);
      if (ts.length === count - failed) {
        const u = process.cpuUsage(cpuFrom.get(run));
        times.delete(run);
        cpuFrom.delete(run);
        io.emit({ ev: 'seen', run, lat: ts, cpuMs: (u.user + u.system) / 1000 });
      }
    };
    await new Promise<void>((resolve) => {
      const one = (): void => {
        if (started === count) return;
        started++;
        const ws = new WebSocket(args.url!, { perMessageDeflate: false });
        let settled = false;
        const settle = (ok: boolean): void => {
          if (settled) return;
          settled = true;
          if (!ok) failed++;
          if (++done === count) resolve();
          else one();
        };
        ws.once('open', () => settle(true));
        ws.once('error', () => settle(false));
        ws.on('message', onMessage);
      };
      for (let i = 0; i < Math.min(inflight, count); i++) one();
    });
    io.emit({ ev: 'joined', failed });
    break;
  }
  default:
    fail(new Error(`scale-raw: unknown role ${args.role}`));
}
