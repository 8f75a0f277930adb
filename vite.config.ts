/**
 * Two builds (`npm run build`, scripts/build.mjs, runs both after tsc):
 *   vite build             the chat demo page → dist/demo/ (served by `npm start`)
 *   vite build --mode lib  aemp for plain web pages: one ESM file dist/aemp.js
 *                          with its chunks next to it (dist/*.js), and
 *                          dist/aemp.d.ts pointing at tsc's dist/web/index.d.ts
 *
 * No `define` or alias: simple-peer (direct links) is CommonJS written for
 * Node and wants `process`, `global` and `Buffer`; web/shim.ts (imported
 * first by web/index.ts) supplies `process` and `global` before simple-peer
 * is loaded, `Buffer` is the `buffer` package simple-peer imports itself,
 * and readable-stream's `events` is a dependency. So an app bundling
 * aemp/web needs no configuration either.
 */
import { defineConfig, type Plugin } from 'vite';
import { fileURLToPath } from 'node:url';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/** dist/aemp.d.ts: the bundle's types are aemp/web's (tsc writes them to dist/web/). */
function declarations(): Plugin {
  return {
    name: 'aemp-declarations',
    apply: 'build',
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: 'aemp.d.ts', source: "export * from './web/index.js';\n" });
    },
  };
}

export default defineConfig(({ mode }) => {
  const common = {
    logLevel: 'warn' as const,
    build: { target: 'es2022', sourcemap: true, reportCompressedSize: true },
  };
  if (mode === 'lib') {
    return {
      ...common,
      logLevel: 'info',
      plugins: [declarations()],
      build: {
        ...common.build,
        outDir: here('./dist'),
        emptyOutDir: false, // dist/demo and tsc's output live there too
        lib: { entry: here('./web/index.ts'), formats: ['es'], fileName: () => 'aemp.js' },
        // Vite keeps an ES library readable (no whitespace minification); a page loads it as is, so minify fully.
        // The entry may export internals too: then what it shares with a lazy chunk (rtc.ts, the hub's groups)
        // stays in it, where the lazy chunk imports it from, instead of in small common chunks that the page
        // loads anyway and that gzip worse apart (bench: bundle.core_gzip_bytes).
        rolldownOptions: { preserveEntrySignatures: 'allow-extension', output: { minify: true } },
      },
    };
  }
  return {
    ...common,
    root: here('./web/demo'),
    base: './',
    build: { ...common.build, outDir: here('./dist/demo'), emptyOutDir: true },
  };
});
