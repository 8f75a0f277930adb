/**
 * The `aemp` tool's entry (node/bin.ts runs main); its parts live in node/cli/:
 *   args.ts             the argument reader, UsageError, AEMP's JSON-or-string rule
 *   config-commands.ts  the chainable configuration commands
 *   mesh-args.ts        the mesh commands' arguments, parsed once
 *   mesh.ts             the mesh commands at work (loaded only for them)
 *   help.ts             `aemp help`
 *   main.ts             one invocation, its exit code
 */
export { main } from './cli/main.ts';
export { UsageError, jsonOrString, type CliIo } from './cli/args.ts';
export { MESH_COMMANDS, parseMeshArgs, type MeshArgs } from './cli/mesh-args.ts';
