/**
 * Child script of `npm run bench:scale` (scale.ts; stdio protocol in
 * child-io.ts). Every node is on the WebSocket mesh on 127.0.0.1, with
 * `direct: false` (seeds relay everything).
 *
 * Roles:
 *   'seed'    a seed (args.seeds: other seeds' URLs); ready {url, node}.
 *             Commands: 'mem' → {"ev":"mem", heap, external, rss} after full
 *             GCs (run with --expose-gc); 'cpu' {ms} → {"ev":"cpu", pct}
 *             (process CPU over the next ms, % of one core, and packets sent per second); 'profStart' /
 *             'profStop' {path} (a CPU profile, development aid); 'joins' →
 *             {"ev":"joins", count, first, last, cpuMs}: node links completed
 *             (after the handshake), first and last on this process's clock
 *             (ms), and this process's CPU time between them. 'watch' {group}
 *             → {"ev":"fanout", port, t} for every port added to the group,
 *             once the seed sent the change to all its watchers.
 *   'nodes'   args.count nodes in this process, node i joined to
 *             args.seedUrls[i % length], at most args.inflight joining at
 *             once; each grpMon(args.group). Emits {"ev":"joined", failed}
 *             once all tried, then ready once every monitor had its first
 *             call; for every port added, once all nodes of this process saw
 *             it: {"ev":"seen", port, times: [wall ms, …], cpuMs} (this
 *             process's CPU from the port's first arrival to its last); for
 *             every port removed, once all saw it go: {"ev":"gone", port}.
 *   'joiners' the join storm: args.count simulated nodes, at most
 *             args.inflight at once, each a WebSocket link and a real
 *             handshake (the seed does exactly the work of a node joining),
 *             joined once the seed's first packet (its seed list) arrived;
 *             then {"ev":"joined", failed}. The links stay open (and quiet)
 *             until {"cmd":"exit"}. Lighter than createNode(), so four such
 *             processes can outrun the seed and its rate is what is measured.
 *   'reg'     one node on args.seedUrls[0]; on {"cmd":"kill"}: kills its
 *             port (if any), emits {"ev":"killed", port}; on
 *             {"cmd":"go","run":k}: makes a new port, emits {"ev":"started",
 *             run, port, t} right before grpReg(args.group, port).
 *   'recv' / 'send'  the relay throughput pair (aemp-loops.ts), joined to
 *             args.recvUrl / args.sendUrl (default: the helper seed); the receiver's port travels as a
 *             `peer` event. The sender fails unless linkInfo(receiver).path
 *             is 'relay'.
 */
import { tmpdir } from 'node:os';
import type { Session as InspectorSession } from 'node:inspector/promises';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { createNode, nodeOf, setLogLevel, setLogSink, type MpNode, type PortId } from '../node/index.ts';
import { viewOf } from '../lib/mesh/mesh-view.ts';
import { systemClock } from '../lib/clock.ts';
import { runHandshake } from '../lib/mesh/dial.ts';
import { FrameDecoder, FrameEncoder } from '../lib/protocol/codec.ts';
import { fastSubtle } from '../node/fast-subtle.ts';
import { connectWs } from '../node/ws.ts';
import { activeLoop, passiveLoop } from './aemp-loops.ts';
import { childIo, wallNow, type Command } from './child-io.ts';

process.env.AEMP_RC = join(tmpdir(), `aemp-bench-no-rc-${process.pid}`, 'rc.json');
setLogLevel(3);

const io = childIo();
const args = io.args as {
  role: string;
  seeds?: string[];
  seedUrls?: string[];
  count?: number;
  inflight?: number;
  group?: string;
  prefix?: string;
  sendUrl?: string;
  recvUrl?: string;
  /** The ready events of helper processes (measure.ts): a lone seed for the one-seed relay baseline. */
  helpers?: Array<{ url?: string }>;
};
const SECRET = 'bench-scale';
const common = { secret: SECRET, direct: false };

function fail(e: unknown): void {
  io.emit({ ev: 'error', error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  process.exit(1);
}

/** A node that waits for its seed link as long as `ms` (a seed under a join storm may take longer than createNode waits). */
async function joinPatiently(nodeid: string, url: string, ms = 120_000): Promise<MpNode> {
  const n = await createNode({ nodeid, seeds: [url], ...common });
  const link = n.net!.seedLink!;
  if (link.current() === undefined) {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${nodeid}: no link to seed ${url} after ${ms} ms`)), ms);
      link.monitor((s) => s !== undefined && (clearTimeout(t), resolve()));
    });
  }
  return n;
}

/** A command pair `${name}Start` / `${name}Stop` {path}: an inspector session from one to the other, its result written to path. */
function inspectorWindow(name: string, start: (s: InspectorSession) => Promise<void>, stop: (s: InspectorSession) => Promise<unknown>): void {
  let session: InspectorSession | undefined;
  io.on(`${name}Start`, () => {
    void import('node:inspector/promises').then(async ({ Session }) => {
      session = new Session();
      session.connect();
      await start(session);
      io.emit({ ev: `${name}Start` });
    });
  });
  io.on(`${name}Stop`, (c: Command) => {
    void (async () => {
      const result = await stop(session!);
      const { writeFileSync } = await import('node:fs');
      writeFileSync(c.path as string, JSON.stringify(result));
      session!.disconnect();
      io.emit({ ev: `${name}Stop`, path: c.path });
    })();
  });
}

// Development aids for every role. 'profStart' / 'profStop' {path}: a CPU profile over a window (BENCH_SCALE_PROF, scale.ts).
inspectorWindow('prof', async (s) => {
  await s.post('Profiler.enable');
  await s.post('Profiler.start');
}, async (s) => (await s.post('Profiler.stop')).profile);
// 'allocStart' / 'allocStop' {path}: what the process allocates over a window, a sampling heap profile (bench/mem.ts --prof).
inspectorWindow('alloc', async (s) => {
  await s.post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
}, async (s) => (await s.post('HeapProfiler.stopSampling')).profile);
// 'snap' {path}: a heap snapshot of the process (node:v8).
io.on('snap', (c: Command) => {
  void import('node:v8').then((v8) => io.emit({ ev: 'snap', path: v8.writeHeapSnapshot(c.path as string) }));
});

switch (args.role) {
  case 'seed': {
    // All simulated nodes join from 127.0.0.1: one address may use the whole handshake table (docs/security.md, admission).
    const n = await createNode({ nodeid: args.prefix ?? 'seed', binds: ['127.0.0.1:0'], seeds: args.seeds ?? [], maxPendingPerAddress: 256, ...common });
    // The seed's links (lib/mesh/mesh-view.ts) time each join.
    let count = 0;
    let first = 0;
    let last = 0;
    let cpu0: NodeJS.CpuUsage | undefined;
    let cpuLast: NodeJS.CpuUsage = { user: 0, system: 0 };
    let sampling = false;
    viewOf(n.net)!.monLinks((link, up) => {
      if (!up || link.seed) return;
      const t = performance.now();
      if (count++ === 0) {
        first = t;
        cpu0 = process.cpuUsage();
      }
      last = t;
      // CPU time read once per 100 ms of joins (a getrusage call per join would be a cost of its own).
      if (!sampling) {
        sampling = true;
        setTimeout(() => {
          sampling = false;
          cpuLast = process.cpuUsage(cpu0);
        }, 100);
      }
    });
    // The seed's own watch on a group: once the seed learnt of a port added, and everything it queued meanwhile
    // (the fan-out to its watchers) went to the sockets — setImmediate runs after the flush microtask — it
    // emits {"ev":"fanout", port, t} (wall ms): the seed's send-complete time, apart from the watchers' side.
    io.on('watch', (c: Command) => {
      n.grpMon(c.group as string, (_ports, added) => {
        for (const p of added) setImmediate(() => io.emit({ ev: 'fanout', port: p, t: wallNow() }));
      });
    });
    io.on('joins', () => io.emit({ ev: 'joins', count, first, last, cpuMs: (cpuLast.user + cpuLast.system) / 1000 }));
    io.on('mem', () => {
      const gc = (globalThis as { gc?: () => void }).gc;
      for (let i = 0; i < 3; i++) gc?.();
      const m = process.memoryUsage();
      io.emit({ ev: 'mem', heap: m.heapUsed, external: m.external, rss: m.rss });
    });
    // Packets the seed sent on all its links (heartbeats included): what an idle window's CPU paid for.
    const sent = (): number => viewOf(n.net)!.sentPackets();
    io.on('cpu', (c: Command) => {
      const ms = c.ms as number;
      // GC pauses in the window by kind (minor, major, ...): ms and count.
      const gc: Record<string, [number, number]> = {};
      const obs = new PerformanceObserver((list) => {
        for (const e of list.getEntries()) {
          const kind = String((e as { detail?: { kind?: number } }).detail?.kind ?? '?');
          const g = (gc[kind] ??= [0, 0]);
          g[0] += e.duration;
          g[1]++;
        }
      });
      obs.observe({ entryTypes: ['gc'] });
      const u0 = process.cpuUsage();
      const t0 = performance.now();
      const p0 = sent();
      setTimeout(() => {
        const u = process.cpuUsage(u0);
        const dt = performance.now() - t0;
        obs.disconnect();
        io.emit({ ev: 'cpu', pct: ((u.user + u.system) / 1000 / dt) * 100, packetsPerS: ((sent() - p0) / dt) * 1000, gc });
      }, ms);
    });
    io.emit({ ev: 'ready', url: n.net!.seedLink!.listening()[0], node: n.NODE });
    break;
  }
  case 'nodes': {
    const count = args.count!;
    const urls = args.seedUrls!;
    const inflight = args.inflight ?? 50;
    const group = args.group!;
    const nodes: MpNode[] = [];
    let failed = 0;
    let next = 0;
    const why = new Set<string>();
    // A pool of `inflight` joiners; each node is tried once (the loop is bounded by count).
    const worker = async (): Promise<void> => {
      while (next < count) {
        const i = next++;
        try {
          // Patiently: on a loaded machine a join in a storm may take longer than createNode waits for its seed.
          nodes.push(await joinPatiently(`${args.prefix ?? 'n'}${i}`, urls[i % urls.length]!));
        } catch (e) {
          failed++;
          if (why.size < 3) why.add(e instanceof Error ? e.message : String(e));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(inflight, count) }, worker));
    io.emit({ ev: 'joined', failed, why: [...why] });
    // A node losing its seed link (a figure then may never complete): say so, with the reason.
    setLogSink((level, ns, msg) => {
      if (level <= 5 || (ns === 'conn' && msg.includes('closed'))) io.emit({ ev: 'log', level, ns, msg });
    });
    setLogLevel(7);
    const seen = new Map<PortId, number[]>();
    // CPU this process spent from a port's first arrival to its last (what the watchers cost, beside the seed).
    const cpuFrom = new Map<PortId, NodeJS.CpuUsage>();
    /** Ports removed from the group: how many of this process's nodes have yet to see it. */
    const gone = new Map<PortId, number>();
    await Promise.all(
      nodes.map(
        (n) =>
          new Promise<void>((ready) => {
            let first = true;
            n.grpMon(group, (_ports, added, removed) => {
              if (first) {
                first = false;
                ready();
              }
              const t = wallNow();
              for (const p of added) {
                let ts = seen.get(p);
                if (!ts) {
                  seen.set(p, (ts = []));
                  cpuFrom.set(p, process.cpuUsage());
                }
                ts.push(t);
                if (ts.length === nodes.length) {
                  const u = process.cpuUsage(cpuFrom.get(p));
                  seen.delete(p);
                  cpuFrom.delete(p);
                  io.emit({ ev: 'seen', port: p, times: ts, cpuMs: (u.user + u.system) / 1000 });
                }
              }
              for (const p of removed) {
                const left = (gone.get(p) ?? nodes.length) - 1;
                if (left > 0) gone.set(p, left);
                else {
                  gone.delete(p);
                  io.emit({ ev: 'gone', port: p });
                }
              }
            });
          }),
      ),
    );
    io.emit({ ev: 'ready', nodes: nodes.length });
    break;
  }
  case 'joiners': {
    const count = args.count!;
    let failed = 0;
    let next = 0;
    const links: unknown[] = [];
    const joinOne = async (i: number): Promise<void> => {
      const link = await connectWs(args.seedUrls![0]!, { timeoutMs: 60_000 });
      const hs = await runHandshake(
        link,
        {
          nodeId: `${args.prefix ?? 'j'}${i}`, isSeed: false, secret: SECRET, authOffer: ['hmac_sha256'], authAccept: ['hmac_sha256'],
          framings: ['msgpack'], nonce: globalThis.crypto.getRandomValues(new Uint8Array(16)), subtle: fastSubtle, now: () => Date.now(),
        },
        60_000,
        systemClock,
      );
      const dec = new FrameDecoder({ framing: hs.result.framing, maxFrameSize: link.maxFrameSize });
      const enc = new FrameEncoder({ framing: hs.result.framing, maxFrameSize: link.maxFrameSize });
      await new Promise<void>((resolve, reject) => {
        link.setHandlers({ close: (r) => reject(new Error(r)) });
        hs.attach((f) => {
          const ps = dec.decode(f);
          // Answer the seed's heartbeats, as a node does: a storm longer than monitor_timeout must not
          // have the seed closing its first joiners meanwhile (that is not what is measured).
          for (const p of ps) if (p[0] === 'p') for (const out of enc.encode([['P', p[1]]])) link.send(out);
          if (ps.some((p) => p[0] === 'seeds')) resolve();
        });
      });
      links.push(link);
    };
    const worker = async (): Promise<void> => {
      while (next < count) {
        const i = next++;
        await joinOne(i).catch(() => failed++);
      }
    };
    await Promise.all(Array.from({ length: Math.min(args.inflight ?? 50, count) }, worker));
    io.emit({ ev: 'joined', failed, links: links.length });
    break;
  }
  case 'reg': {
    const n = await joinPatiently(args.prefix ?? 'registrar', args.seedUrls![0]!);
    let port: PortId | undefined;
    // The previous run's port goes first, by itself ('kill'; the harness waits until every watcher saw it go):
    // a removal still fanning out to 10,000 watchers would otherwise be timed as part of the next add.
    io.on('kill', () => {
      if (port) n.kil(port);
      io.emit({ ev: 'killed', port: port ?? null });
      port = undefined;
    });
    io.on('go', (c) => {
      const p = (port = n.port(() => {}));
      io.emit({ ev: 'started', run: c.run, port: p, t: wallNow() });
      n.grpReg(args.group!, p);
    });
    io.emit({ ev: 'ready' });
    break;
  }
  case 'recv': {
    const node = await joinPatiently('scale-recv', args.recvUrl ?? args.helpers![0]!.url!);
    const port = node.port();
    let peerPort: PortId | undefined;
    node.rcv(port, 'hello', (from: PortId) => {
      peerPort = from;
      node.snd(from, 'hi');
      io.emit({ ev: 'ready' });
    });
    passiveLoop('recv', node, port, () => peerPort, io, { count: args.count!, fail });
    node.mon(port, (...reason: unknown[]) => fail(new Error(`receiving port died: ${JSON.stringify(reason)}`)));
    io.emit({ ev: 'peer', data: { port } });
    break;
  }
  case 'send': {
    io.on('peer', (c: Command) => {
      void (async () => {
        const dst = (c.data as { port: PortId }).port;
        const node = await joinPatiently('scale-send', args.sendUrl ?? args.helpers![0]!.url!);
        const me = node.port();
        const hi = new Promise<void>((r) => node.rcv(me, 'hi', () => r()));
        node.snd(dst, 'hello', me);
        await hi;
        const path = node.linkInfo(nodeOf(dst))?.path;
        if (path !== 'relay') throw new Error(`linkInfo(${nodeOf(dst)}).path is ${String(path)}, expected relay`);
        node.mon(dst, (...reason: unknown[]) => fail(new Error(`peer port died: ${JSON.stringify(reason)}`)));
        activeLoop('send', node, me, dst, io, { count: args.count!, fail });
        io.emit({ ev: 'ready', path });
      })().catch(fail);
    });
    break;
  }
  default:
    throw new Error(`scale-child: unknown role ${args.role}`);
}
