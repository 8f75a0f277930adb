/**
 * Failure detection over direct links: a node that dies (SIGKILL) or hangs
 * (SIGSTOP) while its peers reach it over a data channel still fires their
 * monitors with transport_error — at once through the seed, which sees
 * the dead node's WebSocket close, or by heartbeats over the channel.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RtcPeer, killAll, pathIs } from './fixtures/rtc-driver.ts';

const SECRET = 'rtc-detect-secret';
const MT = 1000;
const base = { secret: SECRET, monitor_timeout: MT, connect_interval: 200 };


after(() => killAll());

describe('a node on a direct link dies', () => {
  let s: RtcPeer, w: RtcPeer, vKill: RtcPeer, vStop: RtcPeer;

  before(async () => {
    s = await RtcPeer.start({ nodeid: 'ds', binds: ['127.0.0.1:0'], ...base });
    const nodeProc = (nodeid: string) => RtcPeer.start({ nodeid, seeds: [s.url!], ...base });
    [w, vKill, vStop] = await Promise.all([nodeProc('dw'), nodeProc('dv-kill'), nodeProc('dv-stop')]);
  });

  /** A port on v monitored by w, with traffic both ways until both sides send directly. */
  async function watchDirect(v: RtcPeer): Promise<number> {
    await w.cmd('watchPath', { node: v.node });
    await v.cmd('watchPath', { node: w.node });
    const target = await v.cmd<string>('port', { name: 'target' });
    const back = await w.cmd<string>('port', { name: `from-${v.node}` });
    const mid = await w.cmd<number>('mon', { port: target });
    await w.cmd('snd', { port: target, msg: ['hello'] });
    await v.cmd('snd', { port: back, msg: ['hello'] });
    await w.waitFor(pathIs(v.node, 'direct'), { timeoutMs: 10_000 });
    await v.waitFor(pathIs(w.node, 'direct'), { timeoutMs: 10_000 });
    // A message over the direct link, after the monitor request: it is in place.
    const since = w.mark();
    await v.cmd('snd', { port: back, msg: ['ready'] });
    await w.waitFor((e) => e.ev === 'msg' && e.name === `from-${v.node}` && e.msg[0] === 'ready', { since });
    return mid;
  }

  test('detect — SIGKILL of a node on a direct link fires monitors with transport_error at once, not by heartbeat timeout', async (t) => {
    const mid = await watchDirect(vKill);
    const t0 = vKill.signal('SIGKILL');
    const fired = await w.waitFor((e) => e.ev === 'mon' && e.mid === mid, { timeoutMs: 5000 });
    assert.equal(fired.reason[0], 'transport_error');
    // The closed socket says so, not the heartbeat; the time is the bench's (rtc detect), with a loaded machine's margin here.
    assert.doesNotMatch(String(fired.reason[1]), /heartbeat/);
    const ms = fired.t - t0;
    assert.ok(ms < 5000, `monitor fired ${ms} ms after SIGKILL`);
    // The dead node's direct link is gone too.
    assert.equal(await w.cmd('linkInfo', { node: 'dv-kill' }), null);
    t.diagnostic(`rtc detect kill ${ms} ms: ${JSON.stringify(fired.reason)}`);
  });

  test('detect — SIGSTOP of a node on a direct link fires monitors by heartbeat timeout, after monitor_timeout', async (t) => {
    const mid = await watchDirect(vStop);
    const t0 = vStop.signal('SIGSTOP');
    try {
      const fired = await w.waitFor((e) => e.ev === 'mon' && e.mid === mid, { timeoutMs: MT + 10_000 });
      assert.equal(fired.reason[0], 'transport_error');
      const ms = fired.t - t0;
      assert.ok(ms <= MT + 5000, `monitor fired ${ms} ms after SIGSTOP (monitor_timeout ${MT})`);
      assert.ok(ms >= MT / 2, `monitor fired only ${ms} ms after SIGSTOP: not a timeout`);
      t.diagnostic(`rtc detect hang ${ms} ms: ${JSON.stringify(fired.reason)}`);
    } finally {
      vStop.signal('SIGCONT');
    }
  });
});
