/**
 * Two builds (`npm run build` runs both):
 *   vite build             the chat demo page → dist/demo/ (served by `npm start`)
 *   vite build --mode lib  aemp for web pages: one ESM file dist/aemp.js, its
 *                          type declarations dist/aemp.d.ts → dist/types/
 *
 * simple-peer (direct links) is CommonJS written for Node: it and its
 * readable-stream want `process`, `Buffer` and `global`. `global` is
 * rewritten to `globalThis` here; web/shim.ts (imported first by
 * web/index.ts) supplies `process` (and `global`, for bundlers without this
 * define); `Buffer` is the `buffer` package simple-peer imports itself, and
 * readable-stream needs the `events` package (a dependency). An app that
 * bundles aemp/web from source needs nothing more than this `define`.
 */
import { defineConfig, type Plugin } from 'vite';
import { fileURLToPath } from 'node:url';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/** dist/types/** (tsc, declarations only, the repo's tsconfig) and dist/aemp.d.ts pointing at them. */
function declarations(): Plugin {
  return {
    name: 'aemp-declarations',
    apply: 'build',
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: 'aemp.d.ts', source: "export * from './types/web/index.ts';\n" });
    },
    async closeBundle() {
      const { default: ts } = await import('typescript');
      const cfg = ts.getParsedCommandLineOfConfigFile(here('./tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
      if (!cfg) throw new Error('cannot read tsconfig.json');
      const options = {
        ...cfg.options,
        noEmit: false,
        declaration: true,
        emitDeclarationOnly: true,
        rootDir: here('.'),
        outDir: here('./dist/types'),
      };
      const program = ts.createProgram([here('./web/index.ts')], options);
      const res = program.emit();
      const diags = [...ts.getPreEmitDiagnostics(program), ...res.diagnostics].filter((d) => d.category === ts.DiagnosticCategory.Error);
      // Reported, not fatal: `npm run typecheck` is the gate; a type error elsewhere must not stop `npm test`.
      if (diags.length) {
        this.warn(`type errors in the declarations' sources:\n${ts.formatDiagnostics(diags, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => here('.'), getNewLine: () => '\n' })}`);
      }
    },
  };
}

export default defineConfig(({ mode }) => {
  const common = {
    define: { global: 'globalThis' },
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
        emptyOutDir: false, // dist/demo is built separately
        lib: { entry: here('./web/index.ts'), formats: ['es'], fileName: () => 'aemp.js' },
        // Vite keeps an ES library readable (no whitespace minification); a page loads it as is, so minify fully.
        rolldownOptions: { output: { minify: true } },
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
