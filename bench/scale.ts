/**
 * `npm run bench:scale [-- --json] [--nodes N] [--runs R] [--only PREFIX]`
 *
 * The seed-at-scale figures (docs/scaling.md; targets in issue 13). Takes
 * minutes. Simulated nodes live in 4 client processes (scale-child.ts
 * 'nodes'), each seed in its own process.
 *
 *   seed.*    one seed; 4 clients start together, N nodes in all (default
 *             10,000), each watching one group.
 *     seed.join_rate       node links completed per second at the seed (first
 *                          to last handshake, seed clock) during a join storm
 *                          of N simulated nodes (scale-child.ts 'joiners': a
 *                          real WebSocket link and handshake each, from 4
 *                          processes), before the real nodes join
 *     seed.bytes_per_node  seed heap + external after full GCs, (after − before) / N
 *     seed.idle_cpu_pct    seed CPU over 10 s with every node joined and idle
 *   groups.propagation_p99_ms_10k  on the same seed: grpReg on one more node →
 *                          grpMon fires on all N watchers; p99 per run, median of runs
 *     Baselines (measured first, in the same run: scale-raw.ts): a plain `ws`
 *     server with N plain `ws` clients in 4 processes, pinged as the seed pings
 *     (seed.idle_cpu_pct), and one 64-byte frame sent to all N
 *     (groups.propagation_p99_ms_10k: p99 at the clients; groups.seed_fanout_ms_10k:
 *     the server's send-complete time) — this machine's floor for the same work.
 *   seeds4.*  4 seeds in one mesh, N/4 nodes on each (client k on seed k).
 *     seeds4.propagation_p99_ms  grpReg on seed 1 → watchers on all four seeds
 *     seeds4.relay_throughput    node on seed 1 → node on seed 4, msg/s; baseline:
 *                                relay.throughput (one idle seed) measured in the same run
 *
 * Join concurrency stays under the seed's default maxPendingHandshakes
 * (256): 4 clients × 60 joins in flight. Every wait has a limit.
 */
import { type Child, killAllChildren, team } from './child.ts';
import { measureThroughput } from './measure.ts';
import { median, quantile, round } from './stats.ts';

const SCRIPT = 'scale-child.ts';
const RAW_SCRIPT = 'scale-raw.ts';
const CLIENTS = 4;
const INFLIGHT = 60;
const START_MS = 300_000;
const RUN_MS = 60_000;
const IDLE_SETTLE_MS = 5_000;
const CPU_WINDOW_MS = 10_000;
const RELAY_COUNT = 500_000;

interface Line {
  name: string;
  value?: number;
  unit?: string;
  baseline?: number;
  ratio?: number;
  note?: string;
  error?: string;
}

/** What a child logged (its queued 'log' events; 200 at most), for an error message. */
async function logsOf(c: Child): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < 200; i++) {
    const e = await c.next('log', 1).catch(() => undefined);
    if (e === undefined) break;
    out.push(String(e.msg));
  }
  return [`${out.length} lines`, ...out.slice(0, 2), ...out.slice(-2)];
}

/**
 * Development aid: with BENCH_SCALE_PROF=dir, the CPU profile of one phase in
 * each of `children` goes to dir/<name>-<phase>.cpuprofile (open in Chrome DevTools).
 */
async function profiled<T>(children: Record<string, Child>, phase: string, fn: () => Promise<T>): Promise<T> {
  const dir = process.env.BENCH_SCALE_PROF;
  if (!dir) return fn();
  const all = Object.entries(children);
  for (const [, c] of all) c.send({ cmd: 'profStart' });
  for (const [, c] of all) await c.next('profStart', RUN_MS);
  const r = await fn();
  for (const [name, c] of all) c.send({ cmd: 'profStop', path: `${dir}/${name}-${phase}.cpuprofile` });
  for (const [, c] of all) await c.next('profStop', RUN_MS);
  return r;
}

/**
 * Per run: grpReg on `reg` → every watcher saw the port; the p99 (ms) over all of them. With `seed` (watching
 * the group itself: scale-child.ts 'watch'), also grpReg → that seed sent the change to all its watchers (ms).
 */
async function propagation(reg: Child, clients: Child[], nodes: number, runs: number, signal: AbortSignal, seed?: Child): Promise<{ p99: number[]; fanout: number[]; watchersCpuMs: number[] }> {
  const out: number[] = [];
  const fanout: number[] = [];
  const watchersCpuMs: number[] = [];
  const warm = 2;
  for (let k = 0; k < warm + runs; k++) {
    if (signal.aborted) throw new Error('aborted');
    // The last run's port leaves first, and every watcher sees it go: the add is timed on a quiet mesh.
    reg.send({ cmd: 'kill' });
    const killed = (await reg.next('killed', RUN_MS)).port;
    if (killed !== null) await Promise.all(clients.map((w) => w.next('gone', RUN_MS, (e) => e.port === killed)));
    reg.send({ cmd: 'go', run: k });
    const st = await reg.next('started', RUN_MS, (e) => e.run === k);
    const sent = seed?.next('fanout', RUN_MS, (e) => e.port === st.port);
    const seen = await Promise.all(
      clients.map((w, i) =>
        w.next('seen', RUN_MS, (e) => e.port === st.port).catch(async (e: Error) => {
          throw new Error(`${e.message}; client ${i} logged: ${JSON.stringify(await logsOf(w))}`);
        }),
      ),
    );
    const lat = seen.flatMap((e) => (e.times as number[]).map((x) => x - (st.t as number)));
    if (lat.length !== nodes) throw new Error(`run ${k}: ${lat.length} of ${nodes} watchers saw the port`);
    const f = sent === undefined ? undefined : ((await sent).t as number) - (st.t as number);
    if (k >= warm) {
      out.push(quantile(lat, 0.99));
      if (f !== undefined) fanout.push(f);
      watchersCpuMs.push(seen.reduce((a, e) => a + (e.cpuMs as number), 0));
    }
  }
  return { p99: out, fanout, watchersCpuMs };
}

/** baseline and ratio of a cost (a time or CPU share: baseline / value, so higher is better, as bench.md says). */
function versus(value: number, baseline: number): { baseline: number; ratio: number } {
  return { baseline: round(baseline, 2), ratio: round(baseline / value, 2) };
}

/** Link closes the clients logged so far (a figure taken while links drop and rejoin measures churn, not idleness). */
async function linksLost(clients: Child[]): Promise<string> {
  let n = 0;
  const why = new Set<string>();
  for (const c of clients) {
    for (let i = 0; i < 100_000; i++) {
      const e = await c.next('log', 1).catch(() => undefined);
      if (e === undefined) break;
      const msg = String(e.msg);
      if (!msg.includes('closed')) continue;
      n++;
      if (why.size < 3) why.add(msg.replace(/\d+/g, 'N'));
    }
  }
  return n === 0 ? '0' : `${n} (${[...why].join('; ')})`;
}

/** Start `CLIENTS` node processes together; client k joins urls[k % urls.length]. */
async function clientsJoin(t: ReturnType<typeof team>, urls: string[], nodes: number, group: string, tag: string): Promise<Child[]> {
  const per = Math.ceil(nodes / CLIENTS);
  const cs = Array.from({ length: CLIENTS }, (_, k) =>
    t.start({ role: 'nodes', count: Math.min(per, nodes - k * per), seedUrls: [urls[k % urls.length]], group, inflight: INFLIGHT, prefix: `${tag}${k}_` }, `nodes ${k}`),
  );
  const joined = await Promise.all(cs.map((c) => c.next('joined', START_MS)));
  const failed = joined.reduce((a, e) => a + (e.failed as number), 0);
  if (failed > 0) throw new Error(`${failed} of ${nodes} nodes could not join: ${JSON.stringify(joined.flatMap((e) => (e.why as string[] | undefined) ?? []).slice(0, 3))}`);
  await Promise.all(cs.map((c) => c.next('ready', START_MS)));
  return cs;
}

/** N simulated nodes join at once from 4 processes, then leave; joins/s at the seed. */
async function joinStorm(t: ReturnType<typeof team>, seed: Child, url: string, nodes: number): Promise<{ rate: number; cpuUsPerJoin: number }> {
  const per = Math.ceil(nodes / CLIENTS);
  const js = Array.from({ length: CLIENTS }, (_, k) =>
    t.start({ role: 'joiners', count: Math.min(per, nodes - k * per), seedUrls: [url], inflight: INFLIGHT, prefix: `j${k}_` }, `joiners ${k}`),
  );
  const joined = await Promise.all(js.map((c) => c.next('joined', START_MS)));
  const failed = joined.reduce((a, e) => a + (e.failed as number), 0);
  if (failed > 0) throw new Error(`${failed} of ${nodes} simulated nodes could not join`);
  seed.send({ cmd: 'joins' });
  const j = await seed.next('joins', RUN_MS);
  if (j.count !== nodes) throw new Error(`seed counted ${j.count} joins, expected ${nodes}`);
  for (const c of js) c.send({ cmd: 'exit' });
  await Promise.all(js.map((c) => c.exited));
  return { rate: ((j.count as number) - 1) / (((j.last as number) - (j.first as number)) / 1000), cpuUsPerJoin: ((j.cpuMs as number) * 1000) / ((j.count as number) - 1) };
}

interface RawFloor {
  idleCpuPct: number;
  p99: number;
  fanout: number;
  /** CPU of the clients' processes per run, from first arrival to last (ms). */
  clientsCpuMs: number;
}

/** The raw `ws` baselines of the one-seed figures (scale-raw.ts): idle pings, and one frame to all N clients. */
async function rawFloor(nodes: number, runs: number, signal: AbortSignal): Promise<RawFloor> {
  const t = team(RAW_SCRIPT, signal);
  try {
    const server = t.start({ role: 'server' }, 'raw server');
    const url = (await server.next('ready', START_MS)).url as string;
    const per = Math.ceil(nodes / CLIENTS);
    const cs = Array.from({ length: CLIENTS }, (_, k) => t.start({ role: 'clients', url, count: Math.min(per, nodes - k * per), inflight: INFLIGHT }, `raw clients ${k}`));
    const joined = await Promise.all(cs.map((c) => c.next('joined', START_MS)));
    const failed = joined.reduce((a, e) => a + (e.failed as number), 0);
    if (failed > 0) throw new Error(`raw baseline: ${failed} of ${nodes} clients could not connect`);
    await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
    const cpus: number[] = [];
    for (let k = 0; k < Math.min(runs, 3); k++) {
      server.send({ cmd: 'cpu', ms: CPU_WINDOW_MS });
      cpus.push((await server.next('cpu', CPU_WINDOW_MS + RUN_MS)).pct as number);
    }
    const p99: number[] = [];
    const fanout: number[] = [];
    const clientsCpuMs: number[] = [];
    const warm = 2;
    for (let k = 0; k < warm + runs; k++) {
      if (signal.aborted) throw new Error('aborted');
      server.send({ cmd: 'fan', run: k });
      const sent = server.next('fanout', RUN_MS, (e) => e.run === k);
      // Latency from the frame's send time (written into it by the server) to its arrival at each client.
      const seen = await Promise.all(cs.map((c) => c.next('seen', RUN_MS, (e) => e.run === k)));
      const lat = seen.flatMap((e) => e.lat as number[]);
      if (lat.length !== nodes) throw new Error(`raw baseline run ${k}: ${lat.length} of ${nodes} clients got the frame`);
      const f = await sent;
      if (k >= warm) {
        p99.push(quantile(lat, 0.99));
        fanout.push((f.t as number) - (f.start as number));
        clientsCpuMs.push(seen.reduce((a, e) => a + (e.cpuMs as number), 0));
      }
    }
    return { idleCpuPct: median(cpus), p99: median(p99), fanout: median(fanout), clientsCpuMs: median(clientsCpuMs) };
  } finally {
    await t.stop();
  }
}

async function oneSeed(nodes: number, runs: number, signal: AbortSignal, out: Line[]): Promise<void> {
  const raw = await rawFloor(nodes, runs, signal);
  const t = team(SCRIPT, signal);
  try {
    const seed = t.start({ role: 'seed', prefix: 'scale-seed' }, 'seed', ['--expose-gc']);
    const url = (await seed.next('ready', START_MS)).url as string;
    seed.send({ cmd: 'mem' });
    const before = await seed.next('mem', RUN_MS);
    const join = await profiled({ seed }, 'join', () => joinStorm(t, seed, url, nodes));
    out.push({
      name: 'seed.join_rate', value: Math.round(join.rate), unit: 'joins/s',
      note: `${nodes} simulated nodes from ${CLIENTS} processes, ${CLIENTS * INFLIGHT} in flight; seed CPU ${Math.round(join.cpuUsPerJoin)} µs per join (${Math.round(1e6 / join.cpuUsPerJoin)} joins per CPU-second)`,
    });
    const group = 'scale_watch';
    const clients = await clientsJoin(t, [url], nodes, group, 'c');
    await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
    const cpus: number[] = [];
    const pps: number[] = [];
    for (let k = 0; k < Math.min(runs, 3); k++) {
      seed.send({ cmd: 'cpu', ms: CPU_WINDOW_MS });
      const e = await profiled({ seed }, `idle${k}`, () => seed.next('cpu', CPU_WINDOW_MS + RUN_MS));
      cpus.push(e.pct as number);
      pps.push(e.packetsPerS as number);
    }
    const lost = await linksLost(clients);
    out.push({ name: 'seed.idle_cpu_pct', value: round(median(cpus), 2), unit: '%', ...versus(median(cpus), raw.idleCpuPct), note: `${nodes} idle nodes, ${CPU_WINDOW_MS / 1000} s windows: ${cpus.map((x) => round(x, 2)).join(', ')}; packets sent/s ${pps.map((x) => Math.round(x)).join(', ')}; links lost since joining: ${lost}` });
    const reg = t.start({ role: 'reg', seedUrls: [url], group }, 'registrar');
    await reg.next('ready', START_MS);
    seed.send({ cmd: 'watch', group });
    const { p99, fanout, watchersCpuMs } = await profiled({ seed, watchers0: clients[0]! }, 'propagation', () => propagation(reg, clients, nodes, runs, signal, seed));
    out.push({
      name: 'groups.propagation_p99_ms_10k', value: round(median(p99), 1), unit: 'ms', ...versus(median(p99), raw.p99),
      note: `${nodes} watchers, runs ${p99.map((x) => round(x, 1)).join(', ')}; the watchers' processes spent ${Math.round(median(watchersCpuMs))} ms CPU per run (${round((median(watchersCpuMs) * 1000) / nodes, 1)} µs per watcher) on the same 2 cores; raw clients ${Math.round(raw.clientsCpuMs)} ms`,
    });
    out.push({
      name: 'groups.seed_fanout_ms_10k', value: round(median(fanout), 1), unit: 'ms', ...versus(median(fanout), raw.fanout),
      note: `grpReg → the seed sent the change to all ${nodes} watchers (its part of the propagation), runs ${fanout.map((x) => round(x, 1)).join(', ')}`,
    });
    // Last: three forced full GCs of a 10,000-node heap stop the seed for a while (seconds on a loaded machine).
    seed.send({ cmd: 'mem' });
    const after = await seed.next('mem', RUN_MS);
    const bytes = ((after.heap as number) + (after.external as number) - (before.heap as number) - (before.external as number)) / nodes;
    const rss = ((after.rss as number) - (before.rss as number)) / nodes;
    out.push({ name: 'seed.bytes_per_node', value: round(bytes, 1), unit: 'bytes', note: `heap + external after GC; RSS ${Math.round(rss)} bytes/node` });
  } finally {
    await t.stop();
  }
}

async function fourSeeds(nodes: number, runs: number, signal: AbortSignal, out: Line[]): Promise<void> {
  // Baseline first, on an otherwise idle machine state: relay.throughput through one seed.
  const baseline = median(
    await measureThroughput({
      senderScript: SCRIPT, receiverScript: SCRIPT, count: RELAY_COUNT, runs: Math.min(runs, 3), signal,
      helpers: [{ script: SCRIPT, args: { role: 'seed', prefix: 'relay-seed' } }],
    }),
  );
  const t = team(SCRIPT, signal);
  try {
    const s1 = t.start({ role: 'seed', prefix: 'scale-s1' }, 'seed 1');
    const u1 = (await s1.next('ready', START_MS)).url as string;
    const urls = [u1];
    for (let k = 2; k <= 4; k++) {
      const s = t.start({ role: 'seed', prefix: `scale-s${k}`, seeds: [u1] }, `seed ${k}`);
      urls.push((await s.next('ready', START_MS)).url as string);
    }
    const group = 'scale_watch4';
    const clients = await clientsJoin(t, urls, nodes, group, 'q');
    const reg = t.start({ role: 'reg', seedUrls: [u1], group }, 'registrar');
    await reg.next('ready', START_MS);
    const { p99, watchersCpuMs } = await propagation(reg, clients, nodes, runs, signal);
    out.push({
      name: 'seeds4.propagation_p99_ms', value: round(median(p99), 1), unit: 'ms',
      note: `${nodes} watchers on 4 seeds, runs ${p99.map((x) => round(x, 1)).join(', ')}; the watchers' processes spent ${Math.round(median(watchersCpuMs))} ms CPU per run`,
    });
    const relay = await measureThroughput({
      senderScript: SCRIPT, receiverScript: SCRIPT, count: RELAY_COUNT, runs: Math.min(runs, 3), signal,
      args: { sendUrl: u1, recvUrl: urls[3] },
    });
    const v = median(relay);
    out.push({ name: 'seeds4.relay_throughput', value: Math.round(v), unit: 'msg/s', baseline: Math.round(baseline), ratio: round(v / baseline, 2), note: `seed 1 → seed 4 with ${nodes} nodes joined; baseline one idle seed` });
  } finally {
    await t.stop();
  }
}

const jsonLine = (line: Line): string =>
  '{' + Object.entries(line).filter(([k]) => k !== 'note').map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(', ') + '}';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let json = false;
  let nodes = 10_000;
  let runs = 5;
  const only: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') json = true;
    else if (a === '--nodes') nodes = Number(argv[++i]);
    else if (a === '--runs') runs = Number(argv[++i]);
    else if (a === '--only') only.push(...String(argv[++i]).split(','));
    else throw new Error(`bench:scale: unknown argument ${a} (usage: [--json] [--nodes N] [--runs R] [--only seed|seeds4])`);
  }
  if (!Number.isInteger(nodes) || nodes < CLIENTS || nodes > 100_000) throw new Error('--nodes must be an integer in 4..100000');
  if (!Number.isInteger(runs) || runs < 1 || runs > 20) throw new Error('--runs must be an integer in 1..20');
  process.on('SIGINT', () => {
    killAllChildren();
    process.exit(130);
  });
  const parts: Array<[string, (n: number, r: number, s: AbortSignal, out: Line[]) => Promise<void>, string[]]> = [
    ['seed', oneSeed, ['seed.idle_cpu_pct', 'seed.bytes_per_node', 'seed.join_rate', 'groups.propagation_p99_ms_10k', 'groups.seed_fanout_ms_10k']],
    ['seeds4', fourSeeds, ['seeds4.relay_throughput', 'seeds4.propagation_p99_ms']],
  ];
  let failed = 0;
  for (const [name, fn, names] of parts) {
    if (only.length > 0 && !only.includes(name)) continue;
    const ac = new AbortController();
    // Every part is bounded: 15 minutes at most.
    const timer = setTimeout(() => ac.abort(), 15 * 60_000);
    // Figures measured before a failure are still reported; the rest get the error.
    const lines: Line[] = [];
    try {
      await fn(nodes, runs, ac.signal, lines);
    } catch (e) {
      failed++;
      const error = e instanceof Error ? e.message.split('\n')[0]!.slice(0, 500) : String(e);
      for (const n of names) if (!lines.some((l) => l.name === n)) lines.push({ name: n, error });
    } finally {
      clearTimeout(timer);
    }
    for (const l of lines) process.stdout.write((json ? jsonLine(l) : `${l.name.padEnd(32)} ${l.error ?? `${l.value} ${l.unit}${l.baseline !== undefined ? ` (baseline ${l.baseline}, ratio ${l.ratio})` : ''}  ${l.note ?? ''}`}`) + '\n');
  }
  process.exitCode = failed > 0 ? 1 : 0;
}

await main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 2;
});
