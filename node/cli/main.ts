/**
 * The `aemp` tool: one invocation, a chain of configuration commands or one
 * mesh command (loaded only then: the configuration commands and --help
 * start without the mesh).
 *
 * Exit codes: 0 done; 1 the database is unreadable or corrupt, a profile does
 * not resolve, a mesh command failed; 2 unknown command or bad argument.
 */
import { AempError } from '../../lib/errors.ts';
import { ArgReader, UsageError, rcPath, type CliIo } from './args.ts';
import { applyOps, lookup, type Op } from './config-commands.ts';
import { helpFor, helpText } from './help.ts';
import { MESH, parseMeshInvocation } from './mesh-args.ts';

/** Runs one `aemp` invocation; returns the exit code. */
export async function main(argv: string[], ioIn: Partial<CliIo> = {}): Promise<number> {
  const io: CliIo = {
    out: ioIn.out ?? ((l) => process.stdout.write(l + '\n')),
    err: ioIn.err ?? ((l) => process.stderr.write(l + '\n')),
    env: ioIn.env ?? process.env,
  };
  try {
    return await run(argv, io);
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    if (e instanceof AempError && e.code === 'AEMP_ERR_BAD_ARGUMENT') {
      const cmd = e instanceof UsageError ? e.cmd : undefined;
      io.err(`aemp: ${msg}; try 'aemp help${cmd && helpFor(cmd) ? ` ${cmd}` : ''}'`);
      return 2;
    }
    if (e instanceof AempError) {
      io.err(`aemp: ${msg}`);
      return 1;
    }
    io.err(`aemp: internal error: ${(e as Error).stack ?? String(e)}`);
    return 1;
  }
}

async function run(argv: string[], io: CliIo): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h') {
    io.out(helpText());
    return 0;
  }
  if (argv[0] === 'help') {
    if (argv.length > 2) throw new UsageError(`help: unexpected argument '${argv[2]}'`, 'help');
    if (argv[1] === undefined) {
      io.out(helpText());
      return 0;
    }
    const h = helpFor(argv[1]);
    if (!h) throw new UsageError(`help: unknown command '${argv[1]}'`);
    io.out(h);
    return 0;
  }
  // A leading --profile P is the same as 'profile P'.
  if (argv[0] === '--profile') argv = ['profile', ...argv.slice(1)];
  else if (argv[0]?.startsWith('--profile=')) argv = ['profile', argv[0].slice(10), ...argv.slice(1)];
  const ops: Op[] = [];
  let meshProfile: string | undefined;
  for (let i = 0; i < argv.length; ) {
    const name = argv[i++]!;
    if (Object.hasOwn(MESH, name)) {
      if (ops.some((o) => o.name !== 'profile') || ops.length > 1) throw new UsageError(`${name}: mesh commands cannot be chained with other commands`, name);
      return runMesh(name, argv.slice(i), meshProfile, io);
    }
    const cmd = lookup(name);
    if (!cmd) throw new UsageError(`unknown command '${name}'`);
    const a = new ArgReader(name, argv, i);
    const op = cmd.parse(a);
    if (op.name === 'profile') meshProfile = argv[i];
    i = a.i;
    ops.push(op);
  }
  for (const l of await applyOps(ops, rcPath(io))) io.out(l);
  return 0;
}

async function runMesh(cmd: string, argv: string[], chainProfile: string | undefined, io: CliIo): Promise<number> {
  const { profile, args } = parseMeshInvocation(cmd, argv, chainProfile);
  const m = await import('./mesh.ts');
  return m.runMeshCommand(args, { profile, rcPath: rcPath(io), out: io.out, err: io.err });
}
