/** `aemp help`: the overview and each command's page. */
import { COMMANDS, lookup } from './config-commands.ts';
import { MESH } from './mesh-args.ts';

export function helpText(): string {
  const row = (usage: string, summary: string) =>
    usage.length < 36 ? `  ${usage.padEnd(36)}${summary}` : `  ${usage}\n  ${''.padEnd(36)}${summary}`;
  const cmds = Object.values(COMMANDS);
  return [
    'usage: aemp COMMAND [ARGS] [COMMAND [ARGS] ...]',
    '',
    'Configuration commands can be chained; they act on the global settings, or on',
    "a profile after 'profile NAME', and are all applied at once, or none is.",
    "  aemp profile seed1 setnodeid seed1 setbinds '*:4040' setsecret x",
    '',
    'Configuration:',
    ...cmds.map((c) => row(c.usage, c.summary)),
    '',
    "Mesh commands (one per call, after at most one 'profile NAME'; they use that",
    "profile's seeds and secret; 'aemp --profile NAME CMD' and 'aemp CMD --profile NAME' work too):",
    ...Object.values(MESH).map((c) => row(c.usage, c.summary)),
    '',
    'ARGs that parse as JSON are JSON, others are strings: 42, true, null,',
    `'{"a":1}' and '[1,2]' are JSON; hello is the string "hello"; '"42"' is the string "42".`,
    '',
    'The database is $AEMP_RC, else $XDG_CONFIG_HOME/aemp/rc.json, else',
    '~/.config/aemp/rc.json (mode 0600). Durations are in seconds.',
    'Exit status: 0 ok, 1 failure (unreadable database, mesh error), 2 bad usage.',
    "'aemp help COMMAND' tells more.",
  ].join('\n');
}

export function helpFor(name: string): string | undefined {
  const c = lookup(name) ?? (Object.hasOwn(MESH, name) ? MESH[name] : undefined);
  if (name === 'help') return 'usage: aemp help [COMMAND]';
  if (!c) return undefined;
  return [`usage: aemp ${c.usage}`, '', c.summary + '.', ...(c.more ? ['', c.more] : [])].join('\n');
}
