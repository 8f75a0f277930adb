/**
 * The few Node globals simple-peer and its readable-stream expect, for
 * browsers: `process` (env, browser, nextTick) and `global`. `Buffer` comes
 * from the `buffer` package simple-peer imports itself. web/index.ts imports
 * this module first, and simple-peer is only loaded later (on a page's
 * first direct link attempt), so the globals exist before it is evaluated:
 * an app bundling aemp needs no `define`, alias or polyfill of its own.
 * Existing globals are left alone (a page that has its own polyfills wins).
 */
const g = globalThis as Record<string, unknown>;
g.global ??= globalThis;
g.process ??= {
  env: {},
  browser: true,
  version: '',
  versions: {},
  nextTick: (f: (...a: unknown[]) => void, ...a: unknown[]) => queueMicrotask(() => f(...a)),
};

export {};
