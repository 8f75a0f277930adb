/**
 * The package figures: how long the installed `aemp` command takes to start
 * (dist/node/bin.js, as `npm install aemp` runs it; baseline: `node -e 0`,
 * the same process start doing nothing), and the browser bundle's size
 * (built in memory with the repository's vite.config.ts, minified, gzip -9):
 * the core is dist/aemp.js with the chunks it imports statically; direct is
 * what the first direct link loads on top (rtc.ts, simple-peer and its
 * polyfills). The hub's groups (a page without a mesh) are a lazy chunk too,
 * counted in neither.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Figure } from './figures.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = `${ROOT}dist/node/bin.js`;

/** Wall time from spawn to exit of one process, ms. */
function timeProcess(args: string[], signal: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { stdio: 'ignore', signal, env: { ...process.env, AEMP_RC: `${ROOT}bench/.no-such-rc.json` } });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${args.join(' ')} exited ${code}`))));
  });
}

interface Sizes {
  core: number;
  direct: number;
}

let sizes: Promise<Sizes> | undefined;

/** Build the browser bundle in memory and gzip its parts. */
function bundleSizes(): Promise<Sizes> {
  sizes ??= (async () => {
    const { build } = await import('vite');
    const out = await build({ configFile: `${ROOT}vite.config.ts`, mode: 'lib', logLevel: 'silent', build: { write: false } });
    const outputs = (Array.isArray(out) ? out : [out]).flatMap((o) => ('output' in o ? o.output : []));
    const chunks = new Map(outputs.flatMap((c) => (c.type === 'chunk' ? [[c.fileName, c] as const] : [])));
    const gz = (name: string) => gzipSync(chunks.get(name)!.code, { level: 9 }).length;
    const reach = (names: string[], seen: Set<string>): Set<string> => {
      for (const n of names) if (!seen.has(n)) seen.add(n), reach(chunks.get(n)!.imports, seen);
      return seen;
    };
    const entry = [...chunks.values()].find((c) => c.isEntry)!;
    const core = reach([entry.fileName], new Set());
    const rtc = [...core].flatMap((n) => chunks.get(n)!.dynamicImports).filter((n) => chunks.get(n)!.moduleIds.some((id) => id.endsWith('/lib/links/rtc.ts')));
    if (rtc.length !== 1) throw new Error(`expected one lazy chunk holding lib/links/rtc.ts, found ${rtc.length}`);
    const lazy = [...reach(rtc, new Set())].filter((n) => !core.has(n));
    const sum = (names: Iterable<string>) => [...names].reduce((s, n) => s + gz(n), 0);
    return { core: sum(core), direct: sum(lazy) };
  })();
  return sizes;
}

export const packageFigures: Figure[] = [
  {
    name: 'cli.startup_ms',
    unit: 'ms',
    better: 'lower',
    about: '`aemp --help` (dist/node/bin.js), process start to exit; baseline `node -e 0`; target ≤ 150 ms',
    timeoutMs: 120_000,
    measure: async ({ runs, signal }) => {
      if (!existsSync(BIN)) throw new Error('dist/node/bin.js is missing: npm run build first');
      const n = Math.max(runs, 10);
      await timeProcess([BIN, '--help'], signal); // warm the file cache
      const value: number[] = [];
      const baseline: number[] = [];
      for (let i = 0; i < n; i++) {
        baseline.push(await timeProcess(['-e', '0'], signal));
        value.push(await timeProcess([BIN, '--help'], signal));
      }
      return { value, baseline, note: `${n} runs each` };
    },
  },
  {
    name: 'bundle.core_gzip_bytes',
    unit: 'bytes',
    better: 'lower',
    about: 'browser bundle dist/aemp.js with its static chunks, minified + gzip -9; target ≤ 35 kB',
    measure: async () => ({ value: [(await bundleSizes()).core] }),
  },
  {
    name: 'bundle.direct_gzip_bytes',
    unit: 'bytes',
    better: 'lower',
    about: 'the lazily loaded direct-link chunks (simple-peer and its polyfills), minified + gzip -9',
    measure: async () => ({ value: [(await bundleSizes()).direct] }),
  },
];
