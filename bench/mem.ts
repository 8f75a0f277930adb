/**
 * What a joined, idle node costs its seed in memory, quickly (seconds, not
 * the minutes of `npm run bench:scale`): one seed process (scale-child.ts
 * 'seed', --expose-gc), N nodes (default 2,000) joined from one client
 * process the way bench:scale joins them (scale-child.ts 'nodes', each
 * watching one group), then heap + external after full GCs, per node.
 *
 *   npx tsx bench/mem.ts [--nodes N] [--snap]
 *
 * --snap also takes a heap snapshot of the seed before and after the joins
 * and prints what the joins added, per node, by constructor (count and self
 * bytes), with the totals for closures, bound functions, plain objects and
 * arrays (V8's out-of-line property and element stores among them).
 * --keep DIR keeps the snapshots there (for DevTools' Memory tab).
 * --cpu MS: then the seed's CPU over MS with every node idle (% of one core,
 * packets sent per second, GC pauses), with --prof DIR its CPU profile and a
 * sampling heap profile (what it allocates) over that window
 * (DIR/seed-idle.cpuprofile, DIR/seed-idle.heapprofile).
 * A development aid: the figure the issue names is bench:scale's
 * seed.bytes_per_node (10,000 nodes).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { team } from './child.ts';

const START_MS = 120_000;
const RUN_MS = 60_000;

let nodes = 2000;
let snap = false;
let keep: string | undefined;
let cpuMs = 0;
let prof: string | undefined;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--nodes') nodes = Number(argv[++i]);
  else if (argv[i] === '--snap') snap = true;
  else if (argv[i] === '--keep') keep = argv[++i];
  else if (argv[i] === '--cpu') cpuMs = Number(argv[++i]);
  else if (argv[i] === '--prof') prof = argv[++i];
  else throw new Error(`bench/mem: unknown argument ${argv[i]} (usage: [--nodes N] [--snap] [--keep DIR] [--cpu MS [--prof DIR]])`);
}

interface Row {
  count: number;
  bytes: number;
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** The key a snapshot node is summed under: "type name" (closures by function name, arrays by their kind). */
function keyOf(s: Snapshot, i: number): string {
  const f = s.snapshot.meta.node_fields;
  const type = s.snapshot.meta.node_types[0][s.nodes[i + f.indexOf('type')]!]!;
  const name = s.strings[s.nodes[i + f.indexOf('name')]!]!;
  if (type === 'object' || type === 'closure' || type === 'native') return `${type} ${name}`;
  if (type === 'array' || type === 'code' || type === 'hidden') return `${type} ${name.slice(0, 40)}`;
  return type;
}

/** Self sizes and counts by key in one heap snapshot. */
function summarise(s: Snapshot): Map<string, Row> {
  const f = s.snapshot.meta.node_fields;
  const width = f.length;
  const iSize = f.indexOf('self_size');
  const out = new Map<string, Row>();
  for (let i = 0; i < s.nodes.length; i += width) {
    const key = keyOf(s, i);
    let r = out.get(key);
    if (!r) out.set(key, (r = { count: 0, bytes: 0 }));
    r.count++;
    r.bytes += s.nodes[i + iSize]!;
  }
  return out;
}

/** For nodes under `keys`: counts by "retainer key . edge name" (every retainer, weak edges left out). */
function retainers(s: Snapshot, keys: Set<string>): Map<string, Map<string, number>> {
  const f = s.snapshot.meta.node_fields;
  const width = f.length;
  const iEdges = f.indexOf('edge_count');
  const ef = s.snapshot.meta.edge_fields;
  const ew = ef.length;
  const eTypes = s.snapshot.meta.edge_types[0];
  const iEType = ef.indexOf('type');
  const iEName = ef.indexOf('name_or_index');
  const iETo = ef.indexOf('to_node');
  const out = new Map<string, Map<string, number>>();
  let e = 0;
  for (let i = 0; i < s.nodes.length; i += width) {
    const from = keyOf(s, i);
    const n = s.nodes[i + iEdges]!;
    for (let k = 0; k < n; k++, e += ew) {
      const et = eTypes[s.edges[e + iEType]!]!;
      if (et === 'weak') continue;
      const to = keyOf(s, s.edges[e + iETo]!);
      if (!keys.has(to)) continue;
      const nm = et === 'element' || et === 'hidden' ? `[${et}]` : s.strings[s.edges[e + iEName]!]!;
      let m = out.get(to);
      if (!m) out.set(to, (m = new Map()));
      const rk = `${from} .${nm}`;
      m.set(rk, (m.get(rk) ?? 0) + 1);
    }
  }
  return out;
}

const load = (path: string): Snapshot => JSON.parse(readFileSync(path, 'utf8')) as Snapshot;

const t = team('scale-child.ts', undefined);
const dir = keep ?? mkdtempSync(join(tmpdir(), 'aemp-mem-'));
try {
  const seed = t.start({ role: 'seed', prefix: 'mem-seed' }, 'seed', ['--expose-gc', ...(process.env.MEM_SEED_FLAGS ?? '').split(' ').filter(Boolean)]);
  const url = (await seed.next('ready', START_MS)).url as string;
  const mem = async () => {
    seed.send({ cmd: 'mem' });
    return seed.next('mem', RUN_MS);
  };
  const shot = async (name: string) => {
    seed.send({ cmd: 'snap', path: join(dir, name) });
    return (await seed.next('snap', RUN_MS)).path as string;
  };
  const before = await mem();
  const snap0 = snap ? await shot('before.heapsnapshot') : undefined;
  const c = t.start({ role: 'nodes', count: nodes, seedUrls: [url], inflight: 50, group: 'mem', prefix: 'm' }, 'nodes');
  const joined = await c.next('joined', START_MS);
  if ((joined.failed as number) > 0) throw new Error(`${joined.failed as number} of ${nodes} nodes could not join: ${JSON.stringify(joined.why)}`);
  await c.next('ready', START_MS);
  if (cpuMs > 0) {
    if (prof !== undefined) {
      seed.send({ cmd: 'profStart' });
      await seed.next('profStart', RUN_MS);
      seed.send({ cmd: 'allocStart' });
      await seed.next('allocStart', RUN_MS);
    }
    seed.send({ cmd: 'cpu', ms: cpuMs });
    const e = await seed.next('cpu', cpuMs + RUN_MS);
    if (prof !== undefined) {
      seed.send({ cmd: 'profStop', path: join(prof, 'seed-idle.cpuprofile') });
      await seed.next('profStop', RUN_MS);
      seed.send({ cmd: 'allocStop', path: join(prof, 'seed-idle.heapprofile') });
      await seed.next('allocStop', RUN_MS);
    }
    console.log(`${nodes} idle nodes: seed CPU ${(e.pct as number).toFixed(2)} % of one core over ${cpuMs} ms, ${Math.round(e.packetsPerS as number)} packets sent/s; GC by kind (ms, count): ${JSON.stringify(e.gc)}`);
  }
  const after = await mem();
  const per = (k: string) => ((after[k] as number) - (before[k] as number)) / nodes;
  console.log(`${nodes} nodes: heap ${per('heap').toFixed(0)} + external ${per('external').toFixed(0)} = ${(per('heap') + per('external')).toFixed(0)} bytes/node (rss ${per('rss').toFixed(0)})`);
  if (snap0 !== undefined) {
    const a = summarise(load(snap0));
    const sb = load(await shot('after.heapsnapshot'));
    const b = summarise(sb);
    const rows = [...b].map(([k, r]) => ({ k, count: (r.count - (a.get(k)?.count ?? 0)) / nodes, bytes: (r.bytes - (a.get(k)?.bytes ?? 0)) / nodes }));
    rows.sort((x, y) => y.bytes - x.bytes);
    let total = 0;
    for (const r of rows) total += r.bytes;
    console.log(`snapshot: ${total.toFixed(0)} bytes/node of self sizes added; by kind (per node: count, bytes):`);
    const kinds = new Map<string, Row>();
    for (const r of rows) {
      const kind = r.k.split(' ')[0]!;
      const e = kinds.get(kind) ?? { count: 0, bytes: 0 };
      e.count += r.count;
      e.bytes += r.bytes;
      kinds.set(kind, e);
    }
    for (const [k, e] of [...kinds].sort((x, y) => y[1].bytes - x[1].bytes)) console.log(`  ${k.padEnd(40)} ${e.count.toFixed(2).padStart(7)} ${e.bytes.toFixed(0).padStart(6)}`);
    console.log('top entries:');
    for (const r of rows.slice(0, 60)) if (r.bytes >= 4) console.log(`  ${r.k.slice(0, 60).padEnd(60)} ${r.count.toFixed(2).padStart(7)} ${r.bytes.toFixed(0).padStart(6)}`);
    // Who holds the many small things (retainers counted in the whole heap, per node).
    const many = rows.filter((r) => r.count >= 0.9 && r.bytes >= 20 && /^(closure|object Object|object system|array|hidden|object Array)/.test(r.k)).map((r) => r.k);
    const by = retainers(sb, new Set(many));
    for (const k of many) {
      const m = [...(by.get(k) ?? new Map<string, number>())].filter(([, n]) => n / nodes >= 0.5).sort((x, y) => y[1] - x[1]);
      console.log(`held: ${k}: ${m.slice(0, 20).map(([r, n]) => `${r} ${(n / nodes).toFixed(1)}`).join('; ')}`);
    }
  }
} finally {
  await t.stop();
  if (keep === undefined) rmSync(dir, { recursive: true, force: true });
}
