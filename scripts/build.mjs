/**
 * `npm run build` (and `prepack`): everything the package ships, into dist/.
 *
 *   dist/lib, dist/node, dist/web  tsc: ESM .js, .d.ts and source maps (with
 *                                  their sources inlined) of the entry points
 *                                  aemp/core, aemp/node, aemp/web and the CLI
 *   dist/aemp.js (+ dist/*.js)     vite --mode lib: the browser bundle for a
 *                                  plain <script type="module">
 *   dist/demo/                     vite: the chat demo page (`npm start`; not packed)
 *
 * Plain JavaScript, so a fresh clone builds with nothing but its devDependencies.
 */
import { chmodSync, existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { build } from 'vite';

const root = fileURLToPath(new URL('..', import.meta.url));
const at = (p) => root + p;

for (const d of ['dist/lib', 'dist/node', 'dist/web', 'dist/types']) rmSync(at(d), { recursive: true, force: true });
// The bundle's chunks are named by content hash: drop the previous build's.
for (const f of existsSync(at('dist')) ? readdirSync(at('dist')) : []) if (/\.(js|js\.map|d\.ts)$/.test(f)) rmSync(at(`dist/${f}`));

// Declarations keep the sources' `.ts` specifiers; a consumer's TypeScript wants the emitted `.js` names.
const relTs = /((?:from|import)\s*\(?\s*['"])(\.{1,2}\/[^'"]*?)\.ts(['"])/g;
const cfg = ts.getParsedCommandLineOfConfigFile(at('tsconfig.build.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n')); } });
const program = ts.createProgram(cfg.fileNames, cfg.options);
const emitted = program.emit(undefined, (file, text, bom) => {
  ts.sys.writeFile(file, file.endsWith('.d.ts') ? text.replace(relTs, '$1$2.js$3') : text, bom);
});
const errors = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics].filter((d) => d.category === ts.DiagnosticCategory.Error);
if (errors.length) {
  // Reported, not fatal: `npm run typecheck` is the gate; a type error must not stop `npm test` from running.
  console.warn(ts.formatDiagnosticsWithColorAndContext(errors, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' }));
}
if (emitted.emitSkipped) throw new Error('tsc emitted nothing');
if (!readFileSync(at('dist/node/bin.js'), 'utf8').startsWith('#!')) throw new Error('dist/node/bin.js lost its #! line');
chmodSync(at('dist/node/bin.js'), 0o755);

await build({ configFile: at('vite.config.ts'), mode: 'production' });
await build({ configFile: at('vite.config.ts'), mode: 'lib' });
