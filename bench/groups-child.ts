/**
 * Child script of the groups.* and join.* figures (figures-groups.ts; stdio
 * protocol in child-io.ts). All nodes are on the WebSocket mesh on 127.0.0.1.
 *
 * Roles:
 *   'seed'    a seed (args.seeds: other seeds' URLs); ready {url}. On
 *             {"cmd":"mem"} emits {"ev":"mem","heap","rss"} after full GCs
 *             (run with --expose-gc).
 *   'nodes'   args.count nodes in this process, node i joined to
 *             args.seedUrls[i % length] (in batches of args.batch, default 25);
 *             each grpMon(args.group) and, with args.regEach, registers a port
 *             in its own group `${args.regEach}${i}`. Ready once every node has
 *             had its first grpMon call. When every node's monitor has seen a
 *             port added: {"ev":"seen","port","times":[wall ms, …]}. With
 *             args.noGroups the nodes only join (no grpMon, no grpReg).
 *   'reg'     one node on args.seedUrls[0]; on {"cmd":"go","run":k} kills its
 *             previous port, makes a new one and emits {"ev":"started","run",
 *             "port","t"} right before grpReg(args.group, port).
 *   'recv'    one node on args.seedUrls[0] with a port in args.group; emits
 *             {"ev":"got","run","t","t0"} for every ['hello', run, t0] it receives.
 *   'fresh'   a node that starts, joins args.seedUrls[0], waits for
 *             grpMon(args.group)'s first call (the seed's answer) and sends
 *             ['hello', args.run, t0] to the first member; t0 = wall clock
 *             right before createNode. Emits {"ev":"sent","t0","tImport"}
 *             (tImport: when this script began to run).
 */
const tImport = performance.timeOrigin + performance.now();
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNode, setLogLevel, type MpNode, type PortId } from '../node/index.ts';
import { childIo, wallNow } from './child-io.ts';

process.env.AEMP_RC = join(tmpdir(), `aemp-bench-no-rc-${process.pid}`, 'rc.json');
setLogLevel(4);

const io = childIo();
const args = io.args as {
  role: string;
  seeds?: string[];
  seedUrls?: string[];
  count?: number;
  batch?: number;
  group?: string;
  regEach?: string;
  run?: number;
  prefix?: string;
  noGroups?: boolean;
};
const SECRET = 'bench-groups';
const common = { secret: SECRET };

function seedUrlOf(n: MpNode): string {
  return n.net!.seedLink!.listening()[0]!;
}

async function join1(nodeid: string, url: string): Promise<MpNode> {
  const n = await createNode({ nodeid, seeds: [url], ...common });
  if (n.upNodes().length === 0) throw new Error(`${nodeid}: could not link to seed ${url}`);
  return n;
}

switch (args.role) {
  case 'seed': {
    const n = await createNode({ nodeid: args.prefix ?? 'seed', binds: ['127.0.0.1:0'], seeds: args.seeds ?? [], ...common });
    io.on('mem', () => {
      const gc = (globalThis as { gc?: () => void }).gc;
      for (let i = 0; i < 3; i++) gc?.();
      const m = process.memoryUsage();
      io.emit({ ev: 'mem', heap: m.heapUsed, rss: m.rss, external: m.external });
    });
    io.emit({ ev: 'ready', url: seedUrlOf(n), node: n.NODE });
    break;
  }
  case 'nodes': {
    const count = args.count!;
    const urls = args.seedUrls!;
    const batch = args.batch ?? 25;
    const group = args.group!;
    const seen = new Map<PortId, number[]>();
    const nodes: MpNode[] = [];
    for (let i = 0; i < count; i += batch) {
      const made = await Promise.all(
        Array.from({ length: Math.min(batch, count - i) }, (_, j) => join1(`${args.prefix ?? 'n'}${i + j}`, urls[(i + j) % urls.length]!)),
      );
      nodes.push(...made);
    }
    // Links only (the memory figure's comparison): no registration, no watch.
    if (args.noGroups) {
      io.emit({ ev: 'ready', nodes: nodes.length });
      break;
    }
    await Promise.all(
      nodes.map(
        (n, i) =>
          new Promise<void>((ready) => {
            // Registration first: the monitor's first call (the seed's answer to the watch) then
            // also means the seed has the registration.
            if (args.regEach !== undefined) n.grpReg(`${args.regEach}${i}`, n.port(() => {}));
            let first = true;
            n.grpMon(group, (_ports, added) => {
              if (first) {
                first = false;
                ready();
              }
              const t = wallNow();
              for (const p of added) {
                let ts = seen.get(p);
                if (!ts) seen.set(p, (ts = []));
                ts.push(t);
                if (ts.length === count) io.emit({ ev: 'seen', port: p, times: ts });
              }
            });
          }),
      ),
    );
    io.emit({ ev: 'ready', nodes: nodes.length });
    break;
  }
  case 'reg': {
    const n = await join1(args.prefix ?? 'registrar', args.seedUrls![0]!);
    let port: PortId | undefined;
    io.on('go', (c) => {
      if (port) n.kil(port);
      port = n.port(() => {});
      const p = port;
      // Let the kill's unregistration go out first: only the add is timed.
      setTimeout(() => {
        io.emit({ ev: 'started', run: c.run, port: p, t: wallNow() });
        n.grpReg(args.group!, p);
      }, 20);
    });
    io.emit({ ev: 'ready' });
    break;
  }
  case 'recv': {
    const n = await join1(args.prefix ?? 'receiver', args.seedUrls![0]!);
    const p = n.port();
    n.rcv(p, 'hello', (run: number, t0: number) => io.emit({ ev: 'got', run, t0, t: wallNow() }));
    n.grpReg(args.group!, p);
    io.emit({ ev: 'ready', port: p });
    break;
  }
  case 'fresh': {
    const t0 = wallNow();
    const n = await createNode({ nodeid: `fresh${args.run}`, seeds: [args.seedUrls![0]!], ...common });
    let sent = false;
    n.grpMon(args.group!, (ports) => {
      if (sent || ports.length === 0) return;
      sent = true;
      n.snd(ports[0]!, 'hello', args.run, t0);
      io.emit({ ev: 'sent', t0, tImport });
    });
    break;
  }
  default:
    throw new Error(`groups-child: unknown role ${args.role}`);
}
