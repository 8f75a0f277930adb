/**
 * One decoder core (limits and msgpack reader: codec.ts DecoderCore) for
 * all decoders of a process with the same options, instead of one per
 * link: a seed with 10,000 links holds one reader per kind of peer. Node
 * installs it (node/env.ts, setCodecPool); a page, with one link, does
 * without and bundles none of it. A new decoder's own core (made, and its
 * options checked, as without a pool) is dropped for the shared one.
 *
 * Keyed by the option values and by the identity of `relay` and `now`
 * (weakly: a clock gone takes its entries); options that differ only in a
 * default spelt out get an entry each.
 */
import type { CodecOptions, DecoderCore } from './codec.ts';

type Cache = WeakMap<object, WeakMap<object, Map<string, DecoderCore>>>;
const NONE = {};
/** Distinct options per (relay, now) remembered at most (a process has a handful; a fuzz test may make many). */
const MAX_ENTRIES = 32;
const cache: Cache = new WeakMap();

export function codecPool(d: DecoderCore, o: CodecOptions): void {
  let byNow = cache.get(o.relay ?? NONE);
  if (byNow === undefined) cache.set(o.relay ?? NONE, (byNow = new WeakMap()));
  let byOptions = byNow.get(o.now ?? NONE);
  if (byOptions === undefined) byNow.set(o.now ?? NONE, (byOptions = new Map()));
  const key = `${o.framing} ${o.maxFrameSize} ${o.maxMessageSize} ${o.maxDepth} ${o.maxBatchPackets} ${o.maxBatchElements} ${o.fragmentTimeoutMs}`;
  const c = byOptions.get(key);
  if (c !== undefined) {
    d.o = c.o;
    d.budget = c.budget;
    d.dec = c.dec;
    return;
  }
  if (byOptions.size >= MAX_ENTRIES) byOptions.clear();
  byOptions.set(key, { o: d.o, budget: d.budget, dec: d.dec });
}
