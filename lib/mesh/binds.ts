/** Listen addresses as the profile spells them ("host:port", "*:port", "[::1]:port"). */

/** "host:port", "*:port", "[::1]:port" → listen address. */
export function parseBind(b: string): { host: string; port: number } {
  const mm = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(b);
  if (!mm) throw new Error(`bad bind address ${JSON.stringify(b)}: expected host:port`);
  const port = Number(mm[2]);
  if (port > 65535) throw new Error(`bad bind address ${JSON.stringify(b)}: port out of range`);
  const host = mm[1] === '*' ? '0.0.0.0' : mm[1]!.replace(/^\[|\]$/g, '');
  return { host, port };
}
