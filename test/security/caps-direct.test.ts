/**
 * Capabilities over a direct WebRTC link: a direct link has no handshake of
 * its own, so the Conn takes the kind the seeds vouched for when they
 * relayed the peer's signals. A token page linked directly to a service
 * (real @roamhq/wrtc, separate processes) is refused kil and spawn by the
 * service itself — the seed never sees those requests — and a kil its token
 * grants works over the same kind of link.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createToken } from '../../lib/protocol/token.ts';
import { RtcPeer, killAll, pathIs } from '../fixtures/rtc-driver.ts';

const SECRET = 'caps-direct-secret';
const base = { monitor_timeout: 2000, connect_interval: 200 };

after(() => killAll());

const token = (caps: string[]) => createToken(globalThis.crypto.subtle, SECRET, { node: 'web/*', ttlSec: 600, nowMs: Date.now(), caps });

async function directPair(pageCaps: string[]) {
  const s = await RtcPeer.start({ nodeid: 'cd_seed', binds: ['127.0.0.1:0'], secret: SECRET, auth_accept: ['hmac_sha256', 'token'], ...base });
  // 'cd_svc' < 'web/…': the service offers the direct link.
  const svc = await RtcPeer.start({ nodeid: 'cd_svc', seeds: [s.url!], secret: SECRET, ...base });
  const page = await RtcPeer.start({ nodeid: `web/cd-page-${pageCaps.join('-') || 'none'}`, seeds: [s.url!], token: await token(pageCaps), ...base });
  await svc.cmd('watchPath', { node: page.node });
  await page.cmd('watchPath', { node: svc.node });
  const victim = await svc.cmd<string>('port', { name: 'victim' });
  await page.cmd('snd', { port: victim, msg: ['hello'] });
  await svc.waitFor((e) => e.ev === 'msg' && e.name === 'victim', { timeoutMs: 20_000 });
  await page.waitFor(pathIs(svc.node, 'direct'), { timeoutMs: 20_000, what: 'direct link (page side)' });
  await svc.waitFor(pathIs(page.node, 'direct'), { timeoutMs: 20_000, what: 'direct link (service side)' });
  return { s, svc, page, victim };
}

test('caps — over a direct link, the service refuses a token page\'s kil and spawn itself; the page hears it from the service', async () => {
  const { s, svc, page, victim } = await directPair([]);
  const relayed = await s.cmd<number>('relayed');
  const since = page.mark();
  await page.cmd('snd', { port: svc.node, msg: ['kil', victim, 'die', 'over direct'] });
  await page.cmd('snd', { port: svc.node, msg: ['spawn', `${svc.node}#web.1`, 'echo'] });
  const mid = await page.cmd<number>('mon', { port: `${svc.node}#web.1` });
  const fired = await page.waitFor((e) => e.ev === 'mon' && e.mid === mid, { since, timeoutMs: 20_000, what: 'spawn monitor' });
  assert.equal(fired.reason[0], 'denied');
  assert.match(fired.reason[1], /^AEMP_ERR_DENIED: spawn of cd_svc#web\.1 refused: a token node may not send 'spawn'/);
  await page.waitFor((e) => e.ev === 'log' && /node cd_svc refused our kil request: AEMP_ERR_DENIED/.test(e.msg), { since, timeoutMs: 20_000, what: 'kil refusal' });
  // The port lives (it still takes messages), and none of this went through the seed.
  await page.cmd('snd', { port: victim, msg: ['still here'] });
  await svc.waitFor((e) => e.ev === 'msg' && e.name === 'victim' && e.msg[0] === 'still here', { timeoutMs: 20_000 });
  assert.equal(await s.cmd<number>('relayed'), relayed);
  assert.equal((await page.cmd('linkInfo', { node: svc.node })).path, 'direct');
});

test('caps — over a direct link, a token granting kil may kil', async () => {
  const { svc, page, victim } = await directPair(['kil']);
  const mid = await svc.cmd<number>('mon', { port: victim });
  await page.cmd('snd', { port: svc.node, msg: ['kil', victim, 'die', 'granted'] });
  const fired = await svc.waitFor((e) => e.ev === 'mon' && e.mid === mid, { timeoutMs: 20_000, what: 'victim killed' });
  assert.deepEqual(fired.reason, ['die', 'granted']);
});
