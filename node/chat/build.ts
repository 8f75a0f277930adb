/**
 * `npm start` on a fresh clone: build the demo page and the library (vite)
 * when dist/ is missing them or they are older than any source they are
 * built from.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Newest modification time (ms) of the files below `dir` (0 when there are none). */
async function newest(dir: string): Promise<number> {
  let t = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (!e.isFile()) continue;
    const s = await stat(join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
    if (s.mtimeMs > t) t = s.mtimeMs;
  }
  return t;
}

const mtime = (path: string) => stat(path).then((s) => s.mtimeMs, () => 0);

/** Build dist/demo (the page) and dist/aemp.js (the library, for /embed.html) unless newer than lib/, web/ and vite.config.ts. */
export async function ensureDemoBuilt(root: string, say: (line: string) => void): Promise<void> {
  const sources = Math.max(await newest(join(root, 'lib')), await newest(join(root, 'web')), await mtime(join(root, 'vite.config.ts')));
  const builds = [
    { what: 'the page', mode: 'production', built: await mtime(join(root, 'dist/demo/index.html')) },
    { what: 'the library', mode: 'lib', built: await mtime(join(root, 'dist/aemp.js')) },
  ].filter((b) => b.built <= sources);
  if (builds.length === 0) return;
  const { build } = await import('vite');
  for (const b of builds) {
    say(`demo: ${b.built ? 'sources changed, rebuilding' : 'building'} ${b.what} (vite)`);
    await build({ configFile: join(root, 'vite.config.ts'), mode: b.mode, logLevel: 'warn' });
  }
}
