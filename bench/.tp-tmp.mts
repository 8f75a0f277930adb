import { measureThroughput } from './measure.ts';
import { median } from './stats.ts';
for (const [count, args] of [[8_000_000, { window: 1e12 }], [3_000_000, { window: 1e12, chunk: 3_000_000 }]] as const) {
  try {
  const v = await measureThroughput({ senderScript: 'aemp-remote.ts', receiverScript: 'aemp-remote.ts', count, runs: 1, warmupRuns: 0, args, runTimeoutMs: 30000 });
  console.log(count, JSON.stringify(args), median(v).toFixed(0));
  } catch (e) { console.log(count, JSON.stringify(args), 'ERR', String(e).slice(0, 800)); }
}
