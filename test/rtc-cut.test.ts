/**
 * A direct link cut hard while both sides stream: the far side (a child
 * process, so a native crash shows as its exit signal) must see the close
 * and live on. `@roamhq/wrtc` frees a remotely closed channel on its own
 * thread, and a send racing that dereferenced it (SIGSEGV in
 * RTCDataChannel::Send); the cut now asks the peer to close instead
 * (lib/links/rtc.ts, askPeerToCut). Before that change, one cut in ten to
 * twenty killed the far side, and this test failed in every one of 7 runs.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChildProc, killAllChildren } from './fixtures/child.ts';
import { createNodeRtcLink } from '../node/rtc-env.ts';
import type { RtcLinkHandle } from '../lib/links/rtc.ts';

const here = dirname(fileURLToPath(import.meta.url));

after(() => killAllChildren());

/** Cuts in all, PARALLEL at a time; past MIN_CUTS no new ones start after BUDGET_MS (a loaded machine runs fewer, never none). */
const CUTS = 90;
const MIN_CUTS = 18;
const PARALLEL = 6;
const BUDGET_MS = 12_000;
/** Frames taken from the far side before the cut: both directions are streaming by then. */
const FRAMES_BEFORE_CUT = 40;

test('rtc cut — a link cut hard mid-stream closes on the far side, which never dies of a signal', { timeout: 60_000 }, async (t) => {
  const links = new Map<number, RtcLinkHandle>();
  // Signals go to their link the moment the line arrives.
  const onLine = (line: string, stream: 'out' | 'err'): void => {
    if (stream !== 'out' || !line.startsWith('{"ev":"sig"')) return;
    const e = JSON.parse(line) as { link: number; d: object };
    links.get(e.link)?.receiveSignal(e.d);
  };
  const far = new ChildProc({ name: 'rtc-cut-peer', args: ['--import', 'tsx', join(here, 'fixtures/rtc-cut-peer.ts')], onLine });
  await far.waitFor((e) => e.ev === 'ready');
  const text = 'y'.repeat(4000);

  /** One link: open it, stream both ways, cut it after FRAMES_BEFORE_CUT frames came in, await the far close. */
  const cutOne = async (id: number): Promise<string> => {
    const mark = far.mark();
    const h = createNodeRtcLink({ initiator: true, signal: (d) => far.writeLine(JSON.stringify({ id: 0, cmd: 'sig', link: id, d })) });
    links.set(id, h);
    let got = 0;
    let cut!: () => void;
    const enough = new Promise<void>((resolve) => (cut = resolve));
    h.link.setHandlers({ frame: () => ++got === FRAMES_BEFORE_CUT && cut(), close: () => {} });
    far.writeLine(JSON.stringify({ id: 0, cmd: 'open', link: id }));
    await h.ready;
    const pump = (): void => {
      if (!h.link.isOpen) return;
      for (let i = 0; i < 50 && h.link.bufferedAmount < 2 * 1024 * 1024; i++) h.link.send(text);
      setImmediate(pump);
    };
    pump();
    await enough;
    for (let i = 0; i < 1000; i++) h.link.send(text);
    h.destroy('cut by test');
    const closed = await far.waitFor((e) => e.ev === 'closed' && e.link === id, { since: mark, timeoutMs: 20_000 });
    links.delete(id);
    return closed.reason as string;
  };

  const start = Date.now();
  let done = 0;
  const reasons = new Set<string>();
  while (done < CUTS && (done < MIN_CUTS || Date.now() - start < BUDGET_MS)) {
    const batch = Array.from({ length: PARALLEL }, (_, i) => done + i + 1);
    for (const r of await Promise.all(batch.map(cutOne))) reasons.add(r);
    done += PARALLEL;
  }
  t.diagnostic(`${done} cuts in ${Date.now() - start} ms`);
  assert.deepEqual([...reasons], ['rtc: closed by peer']);
  far.child.stdin!.end();
  assert.deepEqual(await far.finished(), { code: 0, signal: null });
});

test('rtc cut — the peer closes on the cut request, not after closeTimeoutMs, and both connections end', { timeout: 30_000 }, async () => {
  // A minute of closeTimeoutMs on both sides: only the cut request can end this test in time.
  const opts = { closeTimeoutMs: 60_000 };
  const a: RtcLinkHandle = createNodeRtcLink({ initiator: true, signal: (d) => b.receiveSignal(d), ...opts });
  const b: RtcLinkHandle = createNodeRtcLink({ initiator: false, signal: (d) => a.receiveSignal(d), ...opts });
  await Promise.all([a.ready, b.ready]);
  const peerOf = (h: RtcLinkHandle) => (h.link as unknown as { peer: { once(ev: 'close', f: () => void): void; destroyed: boolean } }).peer;
  const gone = (h: RtcLinkHandle) => new Promise<void>((resolve) => peerOf(h).once('close', resolve));
  const bClosed = new Promise<string>((resolve) => b.link.setHandlers({ close: resolve }));
  const aGone = gone(a);
  const bGone = gone(b);
  a.link.setHandlers({ close: () => {} });
  a.destroy('cut by test');
  assert.equal(a.link.isOpen, false);
  assert.equal(await bClosed, 'rtc: closed by peer');
  await Promise.all([aGone, bGone]);
  assert.equal(peerOf(a).destroyed, true);
  assert.equal(peerOf(b).destroyed, true);
});
