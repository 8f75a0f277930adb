/**
 * Child script: the raw WebRTC baseline, a simple-peer data channel over
 * @roamhq/wrtc (see measure.ts for the protocol). Signals travel as `peer`
 * events through the harness; 'send' / 'ping' initiate, 'recv' / 'echo'
 * answer. No STUN (`iceServers: []`): both ends are on this machine, so
 * host candidates suffice.
 *
 * args: role, count; dst (port ID in the packets, default 'node#port');
 * batch (packets per channel message, default 256); highWater
 * (bufferedAmount above which the sender waits, default 1 MiB); lowWater
 * (it resumes below this, default 256 KiB); warmup (untimed round trips
 * per ping run).
 */
import Peer from 'simple-peer';
import wrtc from '@roamhq/wrtc';
import { childIo, wallNow } from './child-io.ts';
import { BatchCounter, DEFAULT_DST, decoder, encodeBatch, encoder } from './raw-wire.ts';

const io = childIo();
const { role, count } = io.args as { role: string; count: number };
const dst: string = io.args.dst ?? DEFAULT_DST;
const batch: number = io.args.batch ?? 256;
const highWater: number = io.args.highWater ?? 1024 * 1024;
const lowWater: number = io.args.lowWater ?? 256 * 1024;
/** A sender stuck this long on a full channel gives up (the harness would kill it anyway). */
const drainTimeoutMs = 10_000;

if (!['recv', 'send', 'echo', 'ping'].includes(role)) throw new Error(`raw-rtc: unknown role ${role}`);

const peer = new Peer({
  initiator: role === 'send' || role === 'ping',
  wrtc: wrtc as unknown as Peer.Options['wrtc'],
  config: { iceServers: [] },
});
peer.on('signal', (data) => io.emit({ ev: 'peer', data }));
peer.on('error', (e) => io.emit({ ev: 'error', error: `simple-peer: ${e.message}` }));
io.on('peer', (c) => peer.signal(c.data as Peer.SignalData));
peer.on('connect', () => io.emit({ ev: 'ready' }));
io.on('exit', () => {
  peer.destroy();
  process.exit(0);
});

/** The RTCDataChannel under simple-peer, for bufferedAmount and its event. */
const channel = (): RTCDataChannel => (peer as unknown as { _channel: RTCDataChannel })._channel;

if (role === 'recv') {
  const counter = new BatchCounter(io, count);
  peer.on('data', (d: Uint8Array) => counter.frame(d));
} else if (role === 'echo') {
  peer.on('data', (d: Uint8Array) => peer.send(encoder.encode(decoder.decode(d))));
} else if (role === 'send') {
  io.on('go', (g) => void sendRun(g.run as number));
} else {
  pinger();
}

/** Resolve once bufferedAmount is at or below lowWater (event, with a poll as a safety net). */
async function drain(ch: RTCDataChannel): Promise<void> {
  const deadline = performance.now() + drainTimeoutMs;
  while (ch.bufferedAmount > lowWater) {
    if (performance.now() > deadline) throw new Error(`data channel did not drain within ${drainTimeoutMs} ms`);
    await new Promise<void>((resolve) => {
      const done = (): void => {
        ch.removeEventListener('bufferedamountlow', done);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(done, 50);
      ch.addEventListener('bufferedamountlow', done);
    });
  }
}

/** Send `count` packets in batches, waiting whenever more than highWater bytes are buffered. */
async function sendRun(run: number): Promise<void> {
  const ch = channel();
  ch.bufferedAmountLowThreshold = lowWater;
  io.emit({ ev: 'started', run, t: wallNow() });
  for (let i = 0; i < count; ) {
    const n = Math.min(batch, count - i);
    peer.send(encodeBatch(i, n, dst));
    i += n;
    if (ch.bufferedAmount > highWater) await drain(ch);
  }
}

/** On each `go`: warm-up round trips, then `count` timed ones of one packet each. */
function pinger(): void {
  const warmup: number = io.args.warmup ?? 200;
  let reply: (() => void) | undefined;
  peer.on('data', () => {
    const r = reply;
    reply = undefined;
    r?.();
  });
  io.on('go', async (g) => {
    const samples: number[] = [];
    for (let i = 0; i < warmup + count; i++) {
      const t0 = performance.now();
      const got = new Promise<void>((r) => (reply = r));
      peer.send(encodeBatch(i, 1, dst));
      await got;
      if (i >= warmup) samples.push(performance.now() - t0);
    }
    io.emit({ ev: 'rtts', run: g.run, samples });
  });
}
