/**
 * `npm run bench [-- --json] [--runs N] [--only PREFIX[,PREFIX…]]`
 *
 * Measures the figures of the benchmark contract (bench.md). Each figure runs several times
 * (default 5, after a warm-up) and reports the median; with --json, one
 * line per figure: {"name", "value", "unit", "baseline"?, "ratio"?} or
 * {"name", "error"}. ratio = value/baseline for rates, baseline/value for
 * times and sizes, so higher is always better.
 *
 * ── How to add a figure ───────────────────────────────────────────────────
 * Append an entry to `figures` in figures.ts:
 *
 *   {
 *     name: 'remote.throughput', unit: 'msg/s', better: 'higher',
 *     about: 'node → node over ws, 2 processes',
 *     measure: async ({ runs, signal }) => ({
 *       baseline: await rawWsThroughput({ runs, signal }),        // memoised: shared with raw.ws.throughput
 *       value: await measureThroughput({
 *         senderScript: 'aemp-ws.ts', receiverScript: 'aemp-ws.ts',
 *         count: WS_COUNT, runs, signal,                         // same count as the baseline
 *       }),
 *     }),
 *   },
 *
 * `measure` returns per-run values (arrays; the harness takes medians) and
 * optionally a `note` for the table. Anything in separate processes is a
 * child script (see child-io.ts for the stdio protocol and raw-ws.ts for an
 * example): measure.ts runs a pair of them — measureThroughput({ senderScript,
 * receiverScript, count }) and measureRtt({ echoScript, pingScript, count }) —
 * with optional `helpers` started first (e.g. a seed for relay.throughput,
 * whose `ready` event reaches the pair as args.helpers). For other shapes
 * (detect.*: kill a child, time a monitor) use startChild/pairUp from
 * child.ts directly. `signal` kills every child on the figure's timeout,
 * which is reported as an error line; the harness never hangs on a child.
 * An aemp-side script must do the same work as its raw baseline: same
 * count, same message shape (args.dst sets the raw packets' port ID, so it
 * can match aemp's real port IDs), same batching limits.
 */
import { killAllChildren } from './child.ts';
import { type Figure, type Measured, figures } from './figures.ts';
import { median, round } from './stats.ts';

// ── output ────────────────────────────────────────────────────────────────

/** One JSON output line. */
interface Line {
  name: string;
  value?: number;
  unit?: string;
  baseline?: number;
  ratio?: number;
  error?: string;
}

/** Decimals kept per unit: whole msg/s, bytes to 0.1, milliseconds to 0.1 µs. */
const digits = { 'msg/s': 0, ms: 4, bytes: 1, 'µs': 3 } as const;

function toLine(f: Figure, m: Measured): Line {
  const value = median(m.value);
  if (!Number.isFinite(value)) return { name: f.name, error: 'no measurement' };
  const line: Line = { name: f.name, value: round(value, digits[f.unit]), unit: f.unit };
  if (m.baseline && m.baseline.length > 0) {
    const base = median(m.baseline);
    line.baseline = round(base, digits[f.unit]);
    line.ratio = round(f.better === 'higher' ? value / base : base / value, 2);
  }
  return line;
}

/** One JSON object on one line, spaced as in docs/bench.md: {"name": "…", "value": 1}. */
const jsonLine = (line: Line): string =>
  '{' + Object.entries(line).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(', ') + '}';

const fmt = (x: number | undefined, unit: string | undefined): string =>
  x === undefined ? '' : unit === 'msg/s' ? Math.round(x).toLocaleString('en-US') : String(x);

function tableRow(cells: string[]): string {
  const w = [26, 14, 6, 14, 6];
  return cells.map((c, i) => (i < w.length ? (i === 1 || i === 3 || i === 4 ? c.padStart(w[i]!) : c.padEnd(w[i]!)) : c)).join('  ');
}

// ── main ──────────────────────────────────────────────────────────────────

interface Cli {
  json: boolean;
  runs: number;
  only: string[];
}

function parseArgs(argv: string[]): Cli {
  const cli: Cli = { json: false, runs: 5, only: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') cli.json = true;
    else if (a === '--runs') cli.runs = Number(argv[++i]);
    else if (a.startsWith('--runs=')) cli.runs = Number(a.slice(7));
    else if (a === '--only') cli.only.push(...String(argv[++i] ?? '').split(','));
    else if (a.startsWith('--only=')) cli.only.push(...a.slice(7).split(','));
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: npm run bench -- [--json] [--runs N] [--only PREFIX[,PREFIX...]]\n');
      process.exit(0);
    } else throw new Error(`bench: unknown argument ${a}`);
  }
  if (!Number.isInteger(cli.runs) || cli.runs < 1 || cli.runs > 100) throw new Error('bench: --runs must be an integer in 1..100');
  cli.only = cli.only.filter((p) => p !== '');
  return cli;
}

/** Run one figure with its timeout; errors become an error line. */
async function runFigure(f: Figure, runs: number): Promise<{ line: Line; note?: string }> {
  const ac = new AbortController();
  const ms = f.timeoutMs ?? 180_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => {
      ac.abort();
      rej(new Error(`timed out after ${ms} ms`));
    }, ms);
  });
  try {
    const m = await Promise.race([f.measure({ runs, signal: ac.signal }), timeout]);
    return { line: toLine(f, m), note: m.note };
  } catch (e) {
    return { line: { name: f.name, error: e instanceof Error ? e.message : String(e) } };
  } finally {
    clearTimeout(timer);
  }
}

async function main(): Promise<void> {
  const cli = parseArgs(process.argv.slice(2));
  const chosen = figures.filter((f) => cli.only.length === 0 || cli.only.some((p) => f.name.startsWith(p)));
  if (chosen.length === 0) throw new Error(`bench: no figure matches ${cli.only.join(', ')}`);
  process.on('SIGINT', () => {
    killAllChildren();
    process.exit(130);
  });

  const t0 = performance.now();
  if (!cli.json) {
    process.stdout.write(`aemp bench: median of ${cli.runs} runs\n`);
    process.stdout.write(tableRow(['figure', 'value', 'unit', 'baseline', 'ratio', 'what']) + '\n');
  }
  let failed = 0;
  for (const f of chosen) {
    const { line, note } = await runFigure(f, cli.runs);
    if (line.error !== undefined) failed++;
    if (cli.json) {
      process.stdout.write(jsonLine(line) + '\n');
    } else if (line.error !== undefined) {
      process.stdout.write(tableRow([f.name, 'ERROR', '', '', '', line.error.split('\n')[0]!.slice(0, 300)]) + '\n');
    } else {
      const what = note ? `${f.about} (${note})` : f.about;
      process.stdout.write(
        tableRow([f.name, fmt(line.value, f.unit), f.unit, fmt(line.baseline, f.unit), line.ratio?.toFixed(2) ?? '', what]) + '\n',
      );
    }
  }
  if (!cli.json) process.stdout.write(`${chosen.length} figures in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  process.exitCode = failed > 0 ? 1 : 0;
}

await main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 2;
});
