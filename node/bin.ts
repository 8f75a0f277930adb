#!/usr/bin/env node
// The `aemp` command (dist/node/bin.js in the package; node/bin.js runs this file from a clone).
import { main } from './cli.ts';

process.exitCode = await main(process.argv.slice(2));
