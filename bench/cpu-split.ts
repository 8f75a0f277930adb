/**
 * `npx tsx bench/cpu-split.ts [relay|remote|raw] [runs] [--cpu-prof DIR] [ARGS-JSON]`
 *
 * Where a throughput figure's time goes, process by process: runs the
 * workload of relay.throughput (sender, seed, receiver), remote.throughput
 * or raw.ws.throughput and prints, per run, msg/s and each process's CPU
 * time per message (µs, user + system from /proc) and share of a core.
 * A process near 1.0 core is the limit; all of them well under it means
 * they wait on each other (flow), not on the CPU. --cpu-prof writes a V8
 * profile per process into DIR. ARGS-JSON goes to the scripts (e.g.
 * '{"window":1000000,"ackEvery":20000}' for the aemp loops). Not a figure:
 * a tool for reading one (docs/bench.md, "Where the relay's and the round
 * trip's time goes").
 */
import { startChild, pairUp, type Child } from './child.ts';
import { cpuMicros } from './measure.ts';
import { WS_COUNT } from './figures.ts';

const argv = process.argv.slice(2);
let profDir: string | undefined;
const pos: string[] = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--cpu-prof') profDir = argv[++i];
  else pos.push(argv[i]!);
}
const mode = pos[0] ?? 'relay';
const runs = Number(pos[1] ?? 3);
const extra = JSON.parse(pos[2] ?? '{}') as Record<string, unknown>;
if (!['relay', 'remote', 'raw'].includes(mode) || !(runs >= 1)) throw new Error('usage: cpu-split.ts [relay|remote|raw] [runs] [--cpu-prof DIR] [ARGS-JSON]');
const count = WS_COUNT;
const nodeFlags = profDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
const script = mode === 'raw' ? 'raw-ws.ts' : 'aemp-remote.ts';
const kids: Child[] = [];
const names: string[] = [];
try {
  const helpers: unknown[] = [];
  if (mode === 'relay') {
    const s = startChild('aemp-remote.ts', { args: { role: 'seed', count }, nodeFlags });
    kids.push(s);
    names.push('seed');
    helpers.push(await s.next('ready', 30_000));
  }
  const common = { ...(mode === 'relay' ? { expectPath: 'relay' } : {}), ...extra, count, helpers };
  const recv = startChild(script, { args: { ...common, role: 'recv' }, nodeFlags });
  const send = startChild(script, { args: { ...common, role: 'send' }, nodeFlags });
  kids.push(recv, send);
  names.push('recv', 'send');
  pairUp(recv, send);
  await Promise.all([recv.next('ready', 30_000), send.next('ready', 30_000)]);
  const cpu = (): number[] => kids.map((c) => cpuMicros(c.proc.pid) ?? NaN);
  for (let k = 0; k < runs; k++) {
    const c0 = cpu();
    send.send({ cmd: 'go', run: k });
    const [st, dn] = await Promise.all([send.next('started', 60_000, (e) => e.run === k), recv.next('done', 60_000, (e) => e.run === k)]);
    const ms = (dn.t as number) - (st.t as number);
    const c1 = cpu();
    const cols = names.map((n, i) => `${n} ${((c1[i]! - c0[i]!) / count).toFixed(3)} µs/msg ${((c1[i]! - c0[i]!) / 1000 / ms).toFixed(2)} core`);
    process.stdout.write(`${mode} run ${k}: ${Math.round((count / ms) * 1000).toLocaleString('en-US')} msg/s | ${cols.join(' | ')}\n`);
  }
} finally {
  for (const c of kids) c.send({ cmd: 'exit' });
  await Promise.all(kids.map((c) => c.exited));
}
