/**
 * The measurements behind the groups.* and join.* figures; every process is
 * a groups-child.ts (see its header for the roles) and is killed before a
 * function returns.
 *
 *   propagation  2 seeds, `procs` processes hosting `nodes` watchers in all
 *                (alternating between the seeds), one registering node on
 *                seed 1. Per run: the registrar's wall clock right before
 *                grpReg → each watcher's wall clock when its grpMon call
 *                with the port runs; the run's value is the p99 over all
 *                watchers.
 *   seedBytes    one seed (--expose-gc); heap after full GCs before and after
 *                `nodes` nodes joined, each with one registration (its own
 *                group) and one watched group; (after − before) / nodes.
 *   joinFirst    a seed and a receiver registered in a group; per run a
 *                fresh process: wall clock right before createNode() → the
 *                receiver's wall clock when the first message arrives.
 */
import { type Child, team } from './child.ts';
import { wallNow } from './child-io.ts';
import { median, quantile, round } from './stats.ts';

const SCRIPT = 'groups-child.ts';
const START_MS = 120_000;
const RUN_MS = 30_000;

async function seedPair(t: ReturnType<typeof team>): Promise<[string, string]> {
  const s1 = t.start({ role: 'seed', prefix: 'bs1' }, 'seed 1');
  const u1 = (await s1.next('ready', START_MS)).url as string;
  const s2 = t.start({ role: 'seed', prefix: 'bs2', seeds: [u1] }, 'seed 2');
  const u2 = (await s2.next('ready', START_MS)).url as string;
  return [u1, u2];
}

export interface PropagationResult {
  p99: number[];
  p50: number[];
}

/** grpReg on one node → grpMon on all `nodes` watchers; p99 (and p50) per measured run. */
export async function measurePropagation(o: { runs: number; nodes?: number; procs?: number; warmupRuns?: number; signal?: AbortSignal }): Promise<PropagationResult> {
  const nodes = o.nodes ?? 500;
  const procs = o.procs ?? 2;
  const t = team(SCRIPT, o.signal);
  try {
    const [u1, u2] = await seedPair(t);
    const group = 'bench_prop';
    const per = Math.ceil(nodes / procs);
    const watchers = Array.from({ length: procs }, (_, k) =>
      t.start({ role: 'nodes', count: Math.min(per, nodes - k * per), seedUrls: k % 2 ? [u2, u1] : [u1, u2], group, prefix: `p${k}_` }, `watchers ${k}`),
    );
    await Promise.all(watchers.map((w) => w.next('ready', START_MS)));
    const reg = t.start({ role: 'reg', seedUrls: [u1], group }, 'registrar');
    await reg.next('ready', START_MS);
    const out: PropagationResult = { p99: [], p50: [] };
    const warm = o.warmupRuns ?? 2;
    for (let k = 0; k < warm + o.runs; k++) {
      if (o.signal?.aborted) throw new Error('aborted');
      reg.send({ cmd: 'go', run: k });
      const st = await reg.next('started', RUN_MS, (e) => e.run === k);
      const seen = await Promise.all(watchers.map((w) => w.next('seen', RUN_MS, (e) => e.port === st.port)));
      const lat = seen.flatMap((e) => (e.times as number[]).map((x) => x - (st.t as number)));
      if (lat.length !== nodes) throw new Error(`run ${k}: ${lat.length} of ${nodes} watchers saw the port`);
      if (k >= warm) {
        out.p99.push(quantile(lat, 0.99));
        out.p50.push(quantile(lat, 0.5));
      }
    }
    return out;
  } finally {
    await t.stop();
  }
}

/**
 * Seed heap growth per joined node (one registration, one watch each; with
 * linksOnly, neither), one fresh seed per run.
 */
export async function measureSeedBytes(o: { runs: number; nodes?: number; procs?: number; linksOnly?: boolean; signal?: AbortSignal }): Promise<{ heap: number[]; rss: number[] }> {
  const nodes = o.nodes ?? 500;
  const procs = o.procs ?? 2;
  const heap: number[] = [];
  const rss: number[] = [];
  for (let k = 0; k < o.runs; k++) {
    const t = team(SCRIPT, o.signal);
    try {
      const seed = t.start({ role: 'seed' }, 'seed', ['--expose-gc']);
      const url = (await seed.next('ready', START_MS)).url as string;
      seed.send({ cmd: 'mem' });
      const before = await seed.next('mem', RUN_MS);
      const per = Math.ceil(nodes / procs);
      const ps = Array.from({ length: procs }, (_, j) =>
        t.start(
          { role: 'nodes', count: Math.min(per, nodes - j * per), seedUrls: [url], group: 'bench_mem_watch', regEach: `bench_mem_${j}_`, prefix: `m${j}_`, noGroups: o.linksOnly },
          `nodes ${j}`,
        ),
      );
      await Promise.all(ps.map((p) => p.next('ready', START_MS)));
      seed.send({ cmd: 'mem' });
      const after = await seed.next('mem', RUN_MS);
      heap.push(((after.heap as number) - (before.heap as number)) / nodes);
      rss.push(((after.rss as number) - (before.rss as number)) / nodes);
    } finally {
      await t.stop();
    }
  }
  return { heap, rss };
}

/** Fresh node start → first message delivered to a port found through the group; ms per measured run. */
export async function measureJoinFirst(o: { runs: number; warmupRuns?: number; signal?: AbortSignal }): Promise<{ value: number[]; spawnToStart: number[] }> {
  const t = team(SCRIPT, o.signal);
  try {
    const seed = t.start({ role: 'seed' }, 'seed');
    const url = (await seed.next('ready', START_MS)).url as string;
    const group = 'bench_join';
    const recv = t.start({ role: 'recv', seedUrls: [url], group }, 'receiver');
    await recv.next('ready', START_MS);
    const value: number[] = [];
    const spawnToStart: number[] = [];
    const warm = o.warmupRuns ?? 1;
    for (let k = 0; k < warm + o.runs; k++) {
      if (o.signal?.aborted) throw new Error('aborted');
      const tSpawn = wallNow();
      const f = t.start({ role: 'fresh', seedUrls: [url], group, run: k }, `fresh ${k}`);
      const got = await recv.next('got', RUN_MS, (e) => e.run === k);
      const sent = await f.next('sent', RUN_MS);
      f.kill();
      await f.exited;
      if (k < warm) continue;
      value.push((got.t as number) - (got.t0 as number));
      spawnToStart.push((sent.t0 as number) - tSpawn);
    }
    return { value, spawnToStart };
  } finally {
    await t.stop();
  }
}

export const fmtMs = (xs: number[]): string => `${round(median(xs), 1)} ms`;
