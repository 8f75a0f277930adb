/**
 * The mesh commands' descriptions and their arguments, checked and parsed
 * once (node/cli/mesh.ts runs what this returns).
 */
import { badGroupName, GROUP_DEFAULTS } from '../../lib/groups/options.ts';
import { checkNodeId, checkProfileName, parseCliValue } from '../config-keys.ts';
import { ArgReader, UsageError, jsonOrString, word, wrap } from './args.ts';

export const DEFAULT_CAL_TIMEOUT_SEC = 10;

export const MESH: Record<string, { usage: string; summary: string; more?: string }> = {
  run: {
    usage: 'run [PROFILE] [KEY=VALUE ...]',
    summary: 'run a node from PROFILE (a seed when it has binds) and start its services',
    more: 'KEY=VALUE pairs override the profile (database units: seconds). With a cert\n'
      + '(gencert, setcert) the binds listen with wss://. Logs go to stderr;\n'
      + 'SIGINT/SIGTERM leave the mesh cleanly.',
  },
  snd: { usage: 'snd PORT [ARG ...]', summary: 'send the message [ARG, ...] to PORT' },
  mon: { usage: 'mon PORT', summary: 'wait until PORT dies, print the reason, exit' },
  cal: {
    usage: `cal [--timeout SECONDS] PORT [ARG ...]`,
    summary: 'call PORT with [ARG, ..., replyPort], print the reply as JSON',
    more: `Default timeout ${DEFAULT_CAL_TIMEOUT_SEC} s; on timeout exit 1.`,
  },
  trace: { usage: 'trace NODE|PORT', summary: 'print messages sent to and received from NODE or PORT as they happen' },
  nodes: { usage: 'nodes', summary: 'list known nodes and whether they are up' },
  grp: {
    usage: 'grp [--watch] GROUP',
    summary: 'print the members of GROUP (--watch: follow changes)',
    more: 'Prints the member ports as a JSON array ([] when none). With --watch, one JSON\n'
      + 'line per change, {"members":[...],"added":[...],"removed":[...]}, the first with\n'
      + 'the current members, until SIGINT/SIGTERM.',
  },
};
export const MESH_COMMANDS = Object.keys(MESH);

export type MeshArgs =
  | { cmd: 'run'; overrides: Record<string, unknown> }
  | { cmd: 'snd'; port: string; msg: unknown[] }
  | { cmd: 'mon'; port: string }
  | { cmd: 'cal'; port: string; msg: unknown[]; timeoutSec: number }
  | { cmd: 'trace'; target: string }
  | { cmd: 'nodes' }
  | { cmd: 'grp'; group: string; watch: boolean };

const checkPort = (s: string) => {
  const [node = '', ...rest] = s.split('#');
  checkNodeId(node);
  if (rest.length && !/^\S+$/.test(rest.join('#'))) throw 'port names have no spaces';
};

/**
 * Checks a mesh command's arguments (as runMeshCommand gets them: without
 * --profile and without run's PROFILE) and returns them parsed. ARGs follow
 * jsonOrString. Throws UsageError.
 */
export function parseMeshArgs(cmd: string, args: string[]): MeshArgs {
  const a = new ArgReader(cmd, args, 0);
  const port = word(cmd, 'PORT', checkPort);
  const done = <T>(v: T): T => {
    if (a.more()) throw new UsageError(`${cmd}: unexpected argument '${a.peek()}'`, cmd);
    return v;
  };
  switch (cmd) {
    case 'run': {
      const overrides: Record<string, unknown> = {};
      for (const kv of args) {
        const eq = kv.indexOf('=');
        if (eq <= 0) throw new UsageError(`run: expected KEY=VALUE, got '${kv}'`, cmd);
        const key = kv.slice(0, eq);
        overrides[key] = wrap(cmd, () => parseCliValue(key, kv.slice(eq + 1)));
      }
      return { cmd, overrides };
    }
    case 'snd': {
      const p = port(a);
      return { cmd, port: p, msg: args.slice(a.i).map(jsonOrString) };
    }
    case 'mon':
      return done({ cmd, port: port(a) });
    case 'cal': {
      let timeoutSec = DEFAULT_CAL_TIMEOUT_SEC;
      while (a.peek()?.startsWith('--')) {
        const flag = a.next('flag');
        const m = /^--timeout(?:=(.*))?$/.exec(flag);
        if (!m) throw new UsageError(`cal: unknown flag '${flag}'`, cmd);
        const v = m[1] ?? a.next('value of --timeout');
        timeoutSec = Number(v);
        if (!/^\d+(\.\d+)?$/.test(v) || timeoutSec <= 0) throw new UsageError(`cal: bad --timeout '${v}': seconds > 0`, cmd);
      }
      const p = port(a);
      return { cmd, port: p, msg: args.slice(a.i).map(jsonOrString), timeoutSec };
    }
    case 'trace':
      return done({ cmd, target: port(a) });
    case 'nodes':
      return done({ cmd });
    case 'grp': {
      const rest = args.filter((x) => x !== '--watch');
      if (rest.length !== 1) throw new UsageError(rest.length ? `grp: unexpected argument '${rest[1]}'` : 'grp: missing GROUP', cmd);
      if (rest[0]!.startsWith('-')) throw new UsageError(`grp: unknown flag '${rest[0]}'`, cmd);
      const bad = badGroupName(rest[0], GROUP_DEFAULTS);
      if (bad !== undefined) throw new UsageError(`grp: ${bad}`, cmd);
      return { cmd, group: rest[0]!, watch: rest.length !== args.length };
    }
  }
  throw new UsageError(`unknown command '${cmd}'`);
}

/**
 * A whole mesh command line: a `--profile P` first (or run's PROFILE) names
 * the profile, unless the chain named it already (profile); the rest is
 * checked by parseMeshArgs.
 */
export function parseMeshInvocation(cmd: string, args: string[], profile: string | undefined): { profile: string | undefined; args: MeshArgs } {
  if (args[0] === '--profile' || args[0]?.startsWith('--profile=')) {
    const v = args[0].includes('=') ? args[0].slice(10) : args[1];
    if (v === undefined) throw new UsageError(`${cmd}: missing value of --profile`, cmd);
    if (profile !== undefined) throw new UsageError(`${cmd}: profile given twice`, cmd);
    profile = v;
    args = args.slice(args[0].includes('=') ? 1 : 2);
  }
  if (cmd === 'run' && args[0] !== undefined && !args[0].includes('=')) {
    if (profile !== undefined) throw new UsageError('run: profile given twice', cmd);
    profile = args[0];
    args = args.slice(1);
  }
  if (profile !== undefined) word(cmd, 'profile name', checkProfileName)(new ArgReader(cmd, [profile], 0));
  return { profile, args: parseMeshArgs(cmd, args) };
}
