#!/usr/bin/env node
// The `aemp` command from a clone: loads tsx (a devDependency) so the TypeScript sources run as they are.
// The package's bin is the compiled dist/node/bin.js (node/bin.ts).
import { register } from 'tsx/esm/api';

register();
await import('./bin.ts');
