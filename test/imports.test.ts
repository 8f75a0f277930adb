/**
 * The import graph of what ships (lib/, node/, web/) and the demo: no
 * circular imports at runtime. A static import or re-export counts unless
 * it is `import type` / `export type` (erased); dynamic import() does not
 * count (it runs after both modules have loaded).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DIRS = ['lib', 'node', 'web'];

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => join(e.parentPath, e.name));
}

/** Runtime imports of one file: relative specifiers of static import/export ... from, side-effect imports included. */
export function runtimeImports(text: string): string[] {
  const out: string[] = [];
  const re = /^\s*(import|export)\s+(type\s+)?([^'";]*?\s+from\s+)?['"](\.{1,2}\/[^'"]+)['"]/gm;
  for (const m of text.matchAll(re)) if (!m[2]) out.push(m[4]!);
  return out;
}

/** Every cycle's path (each listed once, from its smallest member). */
export function cycles(graph: Map<string, string[]>): string[][] {
  const found = new Map<string, string[]>();
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string) => {
    state.set(n, 'open');
    stack.push(n);
    for (const m of graph.get(n) ?? []) {
      if (state.get(m) === 'open') {
        const cyc = stack.slice(stack.indexOf(m));
        const start = cyc.indexOf([...cyc].sort()[0]!);
        const norm = [...cyc.slice(start), ...cyc.slice(0, start)];
        found.set(norm.join(' → '), norm);
      } else if (!state.has(m)) visit(m);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of [...graph.keys()].sort()) if (!state.has(n)) visit(n);
  return [...found.values()];
}

test('imports — the helpers see type-only imports as erased and find a cycle', () => {
  assert.deepEqual(runtimeImports("import type { A } from './a.ts';\nimport { b } from './b.ts';\nexport { c } from '../c.ts';\nimport './d.ts';\nexport type { E } from './e.ts';"), ['./b.ts', '../c.ts', './d.ts']);
  assert.deepEqual(cycles(new Map([['b', ['c']], ['c', ['a', 'b']], ['a', []]])), [['b', 'c']]);
});

test('imports — no circular runtime imports in lib/, node/ and web/', () => {
  const graph = new Map<string, string[]>();
  for (const dir of DIRS) {
    for (const file of sources(dir)) {
      const deps = runtimeImports(readFileSync(file, 'utf8')).map((s) => relative(ROOT, resolve(dirname(file), s)));
      graph.set(relative(ROOT, file), deps);
    }
  }
  assert.ok(graph.size > 50, `read ${graph.size} files`);
  assert.deepEqual(cycles(graph).map((c) => c.join(' → ')), []);
});
