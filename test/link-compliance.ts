/**
 * The link compliance suite: the contract in lib/link.ts, checked the same
 * way over every link kind. Not a test file itself; test/links.test.ts runs
 * it once per transport.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Frame, Link } from '../lib/link.ts';

export interface LinkPair {
  a: Link;
  b: Link;
  cleanup(): Promise<void>;
}

export interface ComplianceOptions {
  /** False for transports whose peer cannot learn the close reason (WebRTC). Default true. */
  carriesReason?: boolean;
  /** Bytes each side sends in the bulk test. Default 20 MB. */
  bulkBytes?: number;
}

/** A short pause, only where the point is that nothing more happens (no event to wait for). */
const settle = (ms = 50) => new Promise((r) => setTimeout(r, ms));

function describe(f: Frame): string {
  if (typeof f === 'string') return `text:${f}`;
  assert.equal(f.constructor, Uint8Array, 'binary frames arrive as plain Uint8Array');
  return `bin:${Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('hex')}`;
}

/**
 * Resolves with the first `n` frames `link` delivers, described as strings.
 * The frames are kept and described only at the end, so a transport that
 * reused a buffer it had handed out would show here.
 */
function collect(link: Link, n: number): Promise<string[]> {
  return new Promise((resolve) => {
    const got: Frame[] = [];
    if (n === 0) resolve([]);
    link.setHandlers({
      frame: (f) => {
        got.push(f);
        if (got.length === n) resolve(got.map(describe));
      },
    });
  });
}

function closed(link: Link): { promise: Promise<string>; count: () => number } {
  let n = 0;
  const promise = new Promise<string>((resolve) =>
    link.setHandlers({
      close: (reason) => {
        n++;
        resolve(reason);
      },
    }),
  );
  return { promise, count: () => n };
}

function bytes(...v: number[]): Uint8Array {
  return new Uint8Array(v);
}

export function linkCompliance(name: string, makePair: () => Promise<LinkPair>, opts: ComplianceOptions = {}): void {
  const carriesReason = opts.carriesReason ?? true;
  const bulkBytes = opts.bulkBytes ?? 20_000_000;
  const it = (what: string, fn: (p: LinkPair) => Promise<void>) =>
    test(`link ${name} — ${what}`, { timeout: 20_000 }, async () => {
      const p = await makePair();
      try {
        await fn(p);
      } finally {
        await p.cleanup();
      }
    });

  it('frames arrive in order, exactly once (10,000 mixed binary and text, both ways)', async ({ a, b }) => {
    const N = 10_000;
    const frameOf = (side: number, i: number): Frame =>
      i % 3 === 0 ? `${side}:${i}` : bytes(side, i >>> 24, (i >>> 16) & 255, (i >>> 8) & 255, i & 255);
    const expect = (side: number) => {
      const out: string[] = [];
      for (let i = 0; i < N; i++) out.push(describe(frameOf(side, i)));
      out.push('text:end');
      return out;
    };
    const atB = collect(b, N + 1);
    const atA = collect(a, N + 1);
    for (let i = 0; i < N; i++) {
      a.send(frameOf(1, i));
      b.send(frameOf(2, i));
    }
    a.send('end');
    b.send('end');
    assert.deepEqual(await atB, expect(1));
    assert.deepEqual(await atA, expect(2));
  });

  it('frames that arrive before the peer sets handlers are held, then delivered in order', async ({ a, b }) => {
    a.send('first');
    a.send(bytes(1, 2, 3));
    a.send('');
    a.send(new Uint8Array(0));
    a.send('last');
    await settle(100); // let them reach b, which has no handlers yet
    assert.deepEqual(await collect(b, 5), ['text:first', 'bin:010203', 'text:', 'bin:', 'text:last']);
  });

  it('frames and a close that arrive before handlers are set come out in order', async ({ a, b }) => {
    a.send('one');
    a.send('two');
    a.close('done early');
    await settle(100);
    const order: string[] = [];
    const done = new Promise<void>((resolve) =>
      b.setHandlers({
        frame: (f) => order.push(describe(f)),
        close: (reason) => {
          order.push(carriesReason ? `close:${reason}` : 'close');
          resolve();
        },
      }),
    );
    await done;
    assert.deepEqual(order, ['text:one', 'text:two', carriesReason ? 'close:done early' : 'close']);
  });

  it('binary bytes and text arrive exactly as sent, both ways', async ({ a, b }) => {
    const run = async (from: Link, to: Link) => {
      const all = new Uint8Array(256).map((_, i) => i);
      const big = new Uint8Array(Math.min(from.maxFrameSize, 12_345)).map((_, i) => (i * 7919) & 255);
      const backing = new Uint8Array(64).map((_, i) => i);
      const view = backing.subarray(10, 20); // only these ten bytes go
      const reused = bytes(9, 9, 9);
      const frames: Frame[] = [all, big, view, 'héllo ✓ 😀 \u0000 end', '', reused];
      const want = frames.map(describe);
      const got = collect(to, frames.length);
      for (const f of frames) from.send(f);
      reused.fill(0); // the caller's later writes must not change what was sent
      backing.fill(0);
      assert.deepEqual(await got, want);
    };
    await run(a, b);
    await run(b, a);
  });

  it('a frame of exactly maxFrameSize passes; one byte more throws AEMP_ERR_FRAME_TOO_LARGE', async ({ a, b }) => {
    const max = a.maxFrameSize;
    const bin = new Uint8Array(max).fill(0xab);
    bin[0] = 1;
    bin[max - 1] = 2;
    const ascii = 'x'.repeat(max);
    const twoByte = 'é'.repeat(Math.floor(max / 2)) + (max % 2 ? 'x' : '');
    const tooBig = { code: 'AEMP_ERR_FRAME_TOO_LARGE' };
    assert.throws(() => a.send(new Uint8Array(max + 1)), tooBig);
    assert.throws(() => a.send(ascii + 'x'), tooBig);
    assert.throws(() => a.send(twoByte + 'x'), tooBig);
    assert.equal(a.isOpen, true);
    const got = collect(b, 4);
    a.send(bin);
    a.send(ascii);
    a.send(twoByte);
    a.send('after');
    const [g0, g1, g2, g3] = await got;
    assert.equal(g0, describe(bin));
    assert.equal(g1, `text:${ascii}`);
    assert.equal(g2, `text:${twoByte}`);
    assert.equal(g3, 'text:after');
  });

  for (const side of ['a', 'b'] as const) {
    it(`close from ${side} fires close exactly once on both ends`, async (p) => {
      const closer = p[side];
      const other = side === 'a' ? p.b : p.a;
      const mine = closed(closer);
      const theirs = closed(other);
      closer.close(`bye from ${side}`);
      assert.equal(closer.isOpen, false);
      assert.equal(await mine.promise, `bye from ${side}`);
      const reason = await theirs.promise;
      if (carriesReason) assert.equal(reason, `bye from ${side}`);
      else assert.ok(typeof reason === 'string' && reason.length > 0);
      assert.equal(other.isOpen, false);
      closer.close('again');
      other.close('again');
      await settle();
      assert.equal(mine.count(), 1);
      assert.equal(theirs.count(), 1);
    });
  }

  it('send after close is a no-op on both ends', async ({ a, b }) => {
    let framesAtA = 0;
    let framesAtB = 0;
    a.setHandlers({ frame: () => framesAtA++ });
    b.setHandlers({ frame: () => framesAtB++ });
    const bClosed = closed(b);
    const aClosed = closed(a);
    a.close('closing');
    a.send('late');
    a.send(bytes(1));
    await bClosed.promise;
    await aClosed.promise;
    b.send('too late');
    await settle();
    assert.equal(framesAtA, 0);
    assert.equal(framesAtB, 0);
  });

  it('bulk: 20 MB each way as maxFrameSize frames arrives complete, and drain fires', async ({ a, b }) => {
    const run = (from: Link, to: Link) => {
      const size = from.maxFrameSize;
      const n = Math.ceil(bulkBytes / size);
      const received = new Promise<number>((resolve, reject) => {
        let next = 0;
        let total = 0;
        to.setHandlers({
          frame: (f) => {
            if (typeof f === 'string' || f.byteLength !== size) return reject(new Error('unexpected frame'));
            const seq = new DataView(f.buffer, f.byteOffset).getUint32(0);
            if (seq !== next || f[size - 1] !== (seq & 255)) return reject(new Error(`frame ${seq} where ${next} was due`));
            next++;
            total += f.byteLength;
            if (next === n) resolve(total);
          },
          close: (reason) => reject(new Error(`closed during bulk: ${reason}`)),
        });
      });
      const drained = new Promise<void>((resolve) => from.setHandlers({ drain: resolve }));
      for (let i = 0; i < n; i++) {
        const f = new Uint8Array(size);
        new DataView(f.buffer).setUint32(0, i);
        f[size - 1] = i & 255;
        from.send(f);
      }
      assert.ok(from.bufferedAmount > 0, 'a burst this size is buffered');
      return Promise.all([received, drained]).then(([total]) => {
        assert.equal(total, n * size);
        assert.equal(from.isOpen, true);
      });
    };
    await Promise.all([run(a, b), run(b, a)]);
  });
}
