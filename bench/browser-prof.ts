/**
 * Where a browser figure's time goes (BENCH_PROFILE=DIR with `--only
 * browser`; docs/bench.md): around every measured call, raw and aemp alike,
 *
 * - the page's main-thread CPU time and script time (CDP Performance
 *   metrics ThreadTime, ScriptDuration: exact, not sampled),
 * - each host process's CPU time and the ws frames and bytes it took and
 *   sent (host-prof.ts),
 * - the CPU time of Chromium's other processes (/proc, 10 ms ticks):
 *   browser, network service, GPU,
 *
 * one line per call in DIR/cost.txt; with BENCH_PROFILE_CPU=1 also CPU
 * profiles of the page (CDP Profiler) and the hosts, DIR/{page,seed,
 * relayed}-FIGURE-SIDE-RUN.cpuprofile, open them in Chrome DevTools. The
 * profilers cost CPU themselves, so cost.txt is the one to compare with
 * them off.
 */
import { appendFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { Child } from './child.ts';

export const PROFILE_DIR = process.env.BENCH_PROFILE || undefined;
const CPU_PROFILES = process.env.BENCH_PROFILE_CPU === '1';

/** What browser-host.ts takes as args.profile. */
export const hostProfileArgs = PROFILE_DIR ? { dir: PROFILE_DIR, cpuprofile: CPU_PROFILES } : undefined;

/** CPU ms of Chromium's processes started by this one, by --type (network service apart; none = the browser). */
function chromiumCpu(): Record<string, number> {
  const tickMs = 10; // USER_HZ 100
  const parent = new Map<number, number>();
  const ticks = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      parent.set(+d, +f[1]!);
      ticks.set(+d, +f[11]! + +f[12]!);
    } catch {
      // gone meanwhile
    }
  }
  const out: Record<string, number> = {};
  for (const [pid, t] of ticks) {
    let a = parent.get(pid);
    while (a !== undefined && a > 1 && a !== process.pid) a = parent.get(a);
    if (a !== process.pid) continue;
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (!/chrom/i.test(cmd) || /--type=renderer/.test(cmd)) continue;
    const kind = /--utility-sub-type=network/.test(cmd) ? 'network' : (/--type=([\w-]+)/.exec(cmd)?.[1] ?? 'browser');
    out[kind] = (out[kind] ?? 0) + t * tickMs;
  }
  return out;
}

async function pageMetrics(cdp: { send(m: 'Performance.getMetrics'): Promise<{ metrics: { name: string; value: number }[] }> }) {
  const m = new Map((await cdp.send('Performance.getMetrics')).metrics.map((x) => [x.name, x.value]));
  return { thread: (m.get('ThreadTime') ?? 0) * 1000, script: (m.get('ScriptDuration') ?? 0) * 1000 };
}

/** Run fn (one measured call on `page`) with the cost accounting of the file comment when BENCH_PROFILE is set. */
export async function profiled<T>(page: Page, hosts: Record<string, Child>, name: string, fn: () => Promise<T>): Promise<T> {
  if (!PROFILE_DIR) return fn();
  mkdirSync(PROFILE_DIR, { recursive: true });
  const each = (cmd: (h: Child, label: string) => void) =>
    Promise.all(Object.entries(hosts).map(async ([label, h]) => (cmd(h, label), [label, await h.next('prof', 10_000)] as const)));
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  if (CPU_PROFILES) {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
    await cdp.send('Profiler.start');
  }
  await each((h) => h.send({ cmd: 'prof', start: true }));
  const c0 = chromiumCpu();
  const p0 = await pageMetrics(cdp);
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    const wall = performance.now() - t0;
    const p1 = await pageMetrics(cdp);
    const c1 = chromiumCpu();
    const hostEvs = await each((h, label) => h.send({ cmd: 'prof', name: `${label}-${name}` }));
    const ms = (x: number) => x.toFixed(1);
    const parts = [`wall ${ms(wall)}`, `page.thread ${ms(p1.thread - p0.thread)}`, `page.script ${ms(p1.script - p0.script)}`];
    for (const [label, ev] of hostEvs) {
      const e = ev as unknown as { cpuMs: number; rxFrames: number; rxBytes: number; txFrames: number; txBytes: number };
      parts.push(`${label}.cpu ${ms(e.cpuMs)}`, `${label}.rx ${e.rxFrames}/${e.rxBytes}`, `${label}.tx ${e.txFrames}/${e.txBytes}`);
    }
    for (const k of Object.keys(c1)) parts.push(`${k}.cpu ${c1[k]! - (c0[k] ?? 0)}`);
    appendFileSync(join(PROFILE_DIR, 'cost.txt'), `${name}: ${parts.join(', ')}\n`);
    if (CPU_PROFILES) {
      const { profile } = await cdp.send('Profiler.stop');
      writeFileSync(join(PROFILE_DIR, `page-${name}.cpuprofile`), JSON.stringify(profile));
    }
    await cdp.detach();
  }
}
