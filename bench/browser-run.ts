/**
 * The browser figures' session: the Node side (browser-host.ts, its own
 * process), headless Chromium with two pages loading the built library
 * (dist/aemp.js) and the bench page (browser-page.ts, bundled here with
 * Vite), and every run measured raw and aemp from the same page, so a
 * baseline and its figure share the machine's state: throughput one after
 * the other, round trips alternating in blocks (rttPair).
 *
 * One session measures all five figures; figures-browser.ts memoises it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../e2e/browser.ts';
import { benchDir, repoRoot, startChild } from './child.ts';
import { PROFILE_DIR, hostProfileArgs, profiled } from './browser-prof.ts';

/** Messages per throughput run, page → Node over ws (raw ~300 k msg/s here). */
export const BROWSER_WS_COUNT = 200_000;
/** Messages per throughput run over data channels. */
export const BROWSER_RTC_COUNT = 100_000;
/** Timed round trips per RTT run (after 200 untimed). */
export const BROWSER_RTT_COUNT = 1000;
const WARMUP = 200;
/** Round trips per block when raw and aemp alternate (rttPair in browser-page.ts). */
const RTT_BLOCK = 25;
/** Packets per frame of the raw ws baseline, and aemp's chunk per macrotask (one frame each). */
const WS_BATCH = 1000;
/** The same for data channels (as raw-rtc.ts). */
const RTC_BATCH = 256;
/** aemp: messages sent but not yet acked by the receiver (it acks every 10,000); as aemp-loops.ts. */
const WINDOW = 200_000;

export interface BrowserSeries {
  value: number[];
  baseline: number[];
}
export type BrowserResults = Record<'rtc_rtt_p50' | 'ws_rtt_p50' | 'rtc_throughput' | 'ws_throughput' | 'page_page_throughput' | 'relay_rtt_p50' | 'relay_throughput', BrowserSeries>;

/**
 * Build dist/aemp.js from the sources now: a dist/ left from an older build would measure old code (or a
 * page speaking an older protocol than the Node side). A second or two.
 */
function ensureLibrary(): void {
  const r = spawnSync(process.execPath, [join(repoRoot, 'node_modules/vite/bin/vite.js'), 'build', '--mode', 'lib'], { cwd: repoRoot, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('browser bench: building dist/aemp.js failed');
}

/** Bundle browser-page.ts (with @msgpack/msgpack; /aemp.js stays an import) into dir/bench-page.js. */
async function buildPage(dir: string): Promise<string> {
  const { build } = await import('vite');
  await build({
    configFile: false,
    logLevel: 'warn',
    define: { global: 'globalThis' },
    build: {
      outDir: dir,
      emptyOutDir: false,
      target: 'es2022',
      minify: false,
      lib: { entry: join(benchDir, 'browser-page.ts'), formats: ['es'], fileName: () => 'bench-page.js' },
      rolldownOptions: { external: ['/aemp.js'] },
    },
  });
  return join(dir, 'bench-page.js');
}

/** BENCH_BROWSER_ONLY=ws_throughput,… measures only those pairs (with BENCH_PROFILE: browser-prof.ts). */
const ONLY = process.env.BENCH_BROWSER_ONLY?.split(',').filter((x) => x !== '');

type Bench = Record<string, (...a: any[]) => Promise<any>>;
const call = <T>(page: Page, fn: string, ...args: unknown[]): Promise<T> =>
  (process.env.BENCH_VERBOSE && process.stderr.write(`bench: ${fn} ${JSON.stringify(args).slice(0, 120)}\n`),
  page.evaluate(([f, a]) => ((window as unknown as { bench: Bench }).bench[f as string]!(...(a as unknown[])) as Promise<T>), [fn, args] as const));

async function openPage(browser: Browser, url: string): Promise<Page> {
  const context = await browser.newContext();
  // Chromium offers host candidates on a loopback-only machine once media was asked for (e2e/browser.ts).
  await context.addInitScript(() => void navigator.mediaDevices.getUserMedia({ audio: true }).catch(() => undefined));
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  if (process.env.BENCH_VERBOSE) page.on('console', (m) => process.stderr.write(`page: ${m.text()}\n`));
  await page.goto(url);
  await page.waitForFunction(() => (window as unknown as { bench?: unknown }).bench !== undefined, undefined, { timeout: 15_000 }).catch((e) => {
    throw new Error(`bench page did not load: ${errors.join('; ') || (e as Error).message}`);
  });
  await page.evaluate(() => navigator.mediaDevices.getUserMedia({ audio: true }).catch(() => undefined));
  return page;
}

/** Measure every browser figure, `runs` times each (after one warm-up run), raw and aemp interleaved. */
export async function measureBrowser(runs: number, signal: AbortSignal): Promise<BrowserResults> {
  ensureLibrary();
  const dir = mkdtempSync(join(tmpdir(), 'aemp-bench-page-'));
  const host = startChild('browser-host.ts', { args: { pageJs: await buildPage(dir), profile: hostProfileArgs }, signal });
  let relayedHost: ReturnType<typeof startChild> | undefined;
  let browser: Browser | undefined;
  const abort = () => void browser?.close();
  signal.addEventListener('abort', abort, { once: true });
  try {
    const h = (await host.next('ready', 30_000)) as unknown as { url: string; seed: string; seedPort: string; nodePort: string; relayedPort: string; token: string; raw: string };
    relayedHost = startChild('browser-host.ts', { args: { role: 'node', seed: h.seed, profile: hostProfileArgs }, signal, label: 'bench_relayed' });
    h.relayedPort = (await relayedHost.next('ready', 30_000)).port as string;
    browser = await launchChromium();
    const [a, b] = await Promise.all([openPage(browser, h.url), openPage(browser, h.url)]);
    await call(a, 'aempJoin', h.seed, 'web/bench-a', h.token);
    await call(b, 'aempJoin', h.seed, 'web/bench-b', h.token);

    // Links: page a ↔ seed over ws; a ↔ bench_node direct; a ↔ b direct; raw channels to the host and between the pages.
    await call(a, 'hello', h.seedPort);
    await call(a, 'aempPath', h.seedPort, 'seed', 10_000);
    await call(a, 'hello', h.relayedPort);
    await call(a, 'aempPath', h.relayedPort, 'relay', 10_000);
    await call(a, 'hello', h.nodePort);
    await call(a, 'aempPath', h.nodePort, 'direct', 20_000);
    const bPort = await call<string>(b, 'aempServe');
    await call(a, 'hello', bPort);
    await call(a, 'aempPath', bPort, 'direct', 20_000);
    await call(a, 'rtcToHost', 'host-echo', `${h.raw}/sig`, 'echo');
    await call(a, 'rtcToHost', 'host-recv', `${h.raw}/sig`, `recv:${BROWSER_RTC_COUNT}`);
    const offer = await call(a, 'rtcOffer', 'pp', 'pp');
    await call(a, 'rtcFinish', 'pp', await call(b, 'rtcAnswer', 'pp', offer));
    await call(b, 'rawRtcCount', 'pp', BROWSER_RTC_COUNT);

    const out: BrowserResults = {
      ws_rtt_p50: { value: [], baseline: [] },
      rtc_rtt_p50: { value: [], baseline: [] },
      ws_throughput: { value: [], baseline: [] },
      rtc_throughput: { value: [], baseline: [] },
      page_page_throughput: { value: [], baseline: [] },
      relay_rtt_p50: { value: [], baseline: [] },
      relay_throughput: { value: [], baseline: [] },
    };
    let k = 0;
    // Round trips: raw and aemp alternate in blocks within one call (rttPair), except under BENCH_PROFILE,
    // which accounts each side's CPU in a call of its own.
    const pair = async (s: BrowserSeries, keep: boolean, raw: () => Promise<number>, aemp: () => Promise<number>, both?: () => Promise<[number, number]>) => {
      const key = (Object.keys(out) as (keyof BrowserResults)[]).find((x) => out[x] === s)!;
      if (ONLY && !ONLY.includes(key)) return;
      const hosts = { seed: host, relayed: relayedHost! };
      let r: number, v: number;
      if (both && !PROFILE_DIR) [r, v] = await both();
      else {
        r = await profiled(a, hosts, `${key}-raw-${k}`, raw);
        v = await profiled(a, hosts, `${key}-aemp-${k}`, aemp);
      }
      if (keep) s.baseline.push(r), s.value.push(v);
    };
    const rttPair = (raw: { ws?: string; rtc?: string }, dst: string) => () => call<[number, number]>(a, 'rttPair', raw, dst, BROWSER_RTT_COUNT, WARMUP, RTT_BLOCK);
    for (; k <= runs; k++) {
      if (signal.aborted) throw new Error('aborted');
      const keep = k > 0; // run 0 warms up both sides
      await pair(
        out.relay_rtt_p50,
        keep,
        () => call(a, 'rawWsRtt', `${h.raw}/echo`, BROWSER_RTT_COUNT, WARMUP, h.relayedPort),
        () => call(a, 'aempRtt', h.relayedPort, BROWSER_RTT_COUNT, WARMUP),
        rttPair({ ws: `${h.raw}/echo` }, h.relayedPort),
      );
      await pair(
        out.ws_rtt_p50,
        keep,
        () => call(a, 'rawWsRtt', `${h.raw}/echo`, BROWSER_RTT_COUNT, WARMUP, h.seedPort),
        () => call(a, 'aempRtt', h.seedPort, BROWSER_RTT_COUNT, WARMUP),
        rttPair({ ws: `${h.raw}/echo` }, h.seedPort),
      );
      await pair(
        out.rtc_rtt_p50,
        keep,
        () => call(a, 'rawRtcRtt', 'host-echo', BROWSER_RTT_COUNT, WARMUP, h.nodePort),
        () => call(a, 'aempRtt', h.nodePort, BROWSER_RTT_COUNT, WARMUP),
        rttPair({ rtc: 'host-echo' }, h.nodePort),
      );
      await pair(
        out.relay_throughput,
        keep,
        () => call(a, 'rawWsThroughput', `${h.raw}/recv?count=${BROWSER_WS_COUNT}`, BROWSER_WS_COUNT, WS_BATCH, 4 * 1024 * 1024, h.relayedPort),
        () => call(a, 'aempThroughput', h.relayedPort, BROWSER_WS_COUNT, WS_BATCH, WINDOW),
      );
      await pair(
        out.ws_throughput,
        keep,
        () => call(a, 'rawWsThroughput', `${h.raw}/recv?count=${BROWSER_WS_COUNT}`, BROWSER_WS_COUNT, WS_BATCH, 4 * 1024 * 1024, h.seedPort),
        () => call(a, 'aempThroughput', h.seedPort, BROWSER_WS_COUNT, WS_BATCH, WINDOW),
      );
      await pair(
        out.rtc_throughput,
        keep,
        () => call(a, 'rawRtcThroughput', 'host-recv', BROWSER_RTC_COUNT, RTC_BATCH, 1024 * 1024, 256 * 1024, h.nodePort),
        () => call(a, 'aempThroughput', h.nodePort, BROWSER_RTC_COUNT, RTC_BATCH, WINDOW),
      );
      await pair(
        out.page_page_throughput,
        keep,
        () => call(a, 'rawRtcThroughput', 'pp', BROWSER_RTC_COUNT, RTC_BATCH, 1024 * 1024, 256 * 1024, bPort),
        () => call(a, 'aempThroughput', bPort, BROWSER_RTC_COUNT, RTC_BATCH, WINDOW),
      );
    }
    // Every aemp figure must have stayed on its path.
    await call(a, 'aempPath', h.nodePort, 'direct', 5000);
    await call(a, 'aempPath', bPort, 'direct', 5000);
    return out;
  } finally {
    signal.removeEventListener('abort', abort);
    await browser?.close().catch(() => undefined);
    await relayedHost?.stop();
    await host.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
