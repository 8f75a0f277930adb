/**
 * One codec core (limits, and a decoder's msgpack reader: codec.ts
 * CodecCore) for all codecs of a process with the same options, instead of
 * one per link: a seed with 10,000 links holds one reader per kind of
 * peer. Node installs it (node/env.ts, setCodecPool); a page, with one
 * link, does without and bundles none of it.
 *
 * Keyed by the option values and by the identity of `relay` and `now`
 * (weakly: a clock gone takes its entries); options that differ only in a
 * default spelt out get an entry each.
 */
import { codecCore, type CodecCore, type CodecOptions, type CodecPool, type Limits } from './codec.ts';

type Cache = WeakMap<object, WeakMap<object, Map<string, CodecCore<unknown>>>>;
const NONE = {};
/** Distinct options per (relay, now) remembered at most (a process has a handful; a fuzz test may make many). */
const MAX_ENTRIES = 32;
const readers: Cache = new WeakMap();
const writers: Cache = new WeakMap();

export const codecPool: CodecPool = <T>(o: CodecOptions, make: (l: Limits) => T, writer: boolean): CodecCore<T> => {
  const cache = writer ? writers : readers;
  let byNow = cache.get(o.relay ?? NONE);
  if (byNow === undefined) cache.set(o.relay ?? NONE, (byNow = new WeakMap()));
  let byOptions = byNow.get(o.now ?? NONE);
  if (byOptions === undefined) byNow.set(o.now ?? NONE, (byOptions = new Map()));
  const key = `${o.framing} ${o.maxFrameSize} ${o.maxMessageSize} ${o.maxDepth} ${o.maxBatchPackets} ${o.maxBatchElements} ${o.fragmentTimeoutMs}`;
  let c = byOptions.get(key) as CodecCore<T> | undefined;
  if (c === undefined) {
    // Checked (and refused) exactly as a codec of its own would be.
    c = codecCore(o, make);
    if (byOptions.size >= MAX_ENTRIES) byOptions.clear();
    byOptions.set(key, c as CodecCore<unknown>);
  }
  return c;
};
