/**
 * Where a browser figure's time goes on the Node side (BENCH_PROFILE,
 * browser-prof.ts): the host process answers {cmd: 'prof', start: true}
 * and {cmd: 'prof', name} with {ev: 'prof', cpuMs, rx, tx}: its CPU time
 * (process.cpuUsage, all threads) and the WebSocket frames and bytes it
 * took and sent in between. With `cpuprofile`, its V8 profiler runs in
 * between too and the profile goes to DIR/NAME.cpuprofile.
 */
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import type { ChildIo } from './child-io.ts';

export interface HostProfileOptions {
  dir: string;
  /** Also run the V8 CPU profiler (it costs CPU itself: leave it off when counting CPU). */
  cpuprofile: boolean;
}

const count = { rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0 };
const size = (d: unknown): number => (typeof d === 'string' ? Buffer.byteLength(d) : ((d as { byteLength?: number }).byteLength ?? 0));

/** Count every ws frame of this process, aemp's links and the raw baselines alike (bench only: patches ws). */
function countFrames(): void {
  const proto = WebSocket.prototype as unknown as { send(d: unknown, ...r: unknown[]): void; emit(ev: string, ...a: unknown[]): boolean };
  const send = proto.send;
  const emit = proto.emit;
  proto.send = function (d, ...r) {
    count.txFrames++;
    count.txBytes += size(d);
    return send.call(this, d, ...r);
  };
  proto.emit = function (ev, ...a) {
    if (ev === 'message') {
      count.rxFrames++;
      count.rxBytes += Array.isArray(a[0]) ? (a[0] as unknown[]).reduce<number>((n, b) => n + size(b), 0) : size(a[0]);
    }
    return emit.call(this, ev, ...a);
  };
}

export async function hostProfiler(io: ChildIo, o: HostProfileOptions): Promise<void> {
  countFrames();
  const session = new Session();
  session.connect();
  const post = (m: string, p?: object) => new Promise<any>((ok, no) => session.post(m, p, (e, r) => (e ? no(e) : ok(r))));
  if (o.cpuprofile) {
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 100 });
  }
  let cpu0 = process.cpuUsage();
  io.on('prof', (c) => {
    const step = async () => {
      if (c.start) {
        if (o.cpuprofile) await post('Profiler.start');
        for (const k of Object.keys(count) as (keyof typeof count)[]) count[k] = 0;
        cpu0 = process.cpuUsage();
        return { ev: 'prof' };
      }
      const used = process.cpuUsage(cpu0);
      const out = { ev: 'prof', cpuMs: (used.user + used.system) / 1000, ...count };
      if (o.cpuprofile) {
        const r = (await post('Profiler.stop')) as { profile: unknown };
        await writeFile(join(o.dir, `${String(c.name)}.cpuprofile`), JSON.stringify(r.profile));
      }
      return out;
    };
    step().then((ev) => io.emit(ev), (e) => io.emit({ ev: 'error', error: String(e) }));
  });
}
