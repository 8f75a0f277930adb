/**
 * The groups figures (measurements in groups-measure.ts, child processes in
 * groups-child.ts). No raw baseline: nothing underneath does this work.
 */
import type { Figure } from './figures.ts';
import { fmtMs, measureJoinFirst, measurePropagation, measureSeedBytes } from './groups-measure.ts';
import { median, round } from './stats.ts';

/** Watchers of the propagation figure, and nodes joined for the memory figure. */
const NODES = 500;

export const groupsFigures: Figure[] = [
  {
    name: 'groups.propagation_p99_ms',
    unit: 'ms',
    better: 'lower',
    about: `grpReg on one node → grpMon fires on all of ${NODES} nodes (2 processes of ${NODES / 2}, each half on either seed), p99 per run; target ≤ 100 ms`,
    timeoutMs: 300_000,
    measure: async ({ runs, signal }) => {
      const r = await measurePropagation({ runs: Math.max(runs, 5), nodes: NODES, procs: 2, signal });
      return { value: r.p99, note: `p50 ${fmtMs(r.p50)}, ${r.p99.length} runs` };
    },
  },
  {
    name: 'groups.seed_bytes_per_node',
    unit: 'bytes',
    better: 'lower',
    about: `seed heap per joined node (its link, one registration, one watched group), ${NODES} nodes`,
    timeoutMs: 300_000,
    measure: async ({ runs, signal }) => {
      const r = await measureSeedBytes({ runs: Math.min(runs, 3), nodes: NODES, signal });
      const links = await measureSeedBytes({ runs: 1, nodes: NODES, linksOnly: true, signal });
      return {
        value: r.heap,
        note: `of which the link alone ${round(median(links.heap), 0)} B; rss +${round(median(r.rss) / 1024, 1)} KiB per node; ${r.heap.length} runs`,
      };
    },
  },
  {
    name: 'join.first_message_ms',
    unit: 'ms',
    better: 'lower',
    about: 'fresh node process: createNode() → joined, grpMon first call (the seed answers) → snd → delivered; target ≤ 500 ms',
    timeoutMs: 180_000,
    measure: async ({ runs, signal }) => {
      const r = await measureJoinFirst({ runs, signal });
      return { value: r.value, note: `process spawn → createNode(): ${fmtMs(r.spawnToStart)} more (tsx, imports)` };
    },
  },
];
