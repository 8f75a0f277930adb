/**
 * A seed's side of the ICE server hand-out (ice.ts has the protocol and
 * the nodes' side): TURN credentials in coturn's shared-secret REST scheme,
 * and the seed options that configure them. The seed role brings this
 * (node/roles.ts), so a page's bundle carries none of it.
 */
import { BadArgumentError } from '../errors.ts';
import { isPortId, nodeOf, type NodeId } from '../ids.ts';
import { logger } from '../log.ts';
import { positive } from './direct-options.ts';
import type { IceHost } from './hosts.ts';
import type { TurnOptions } from './ice.ts';

const log = logger('ice');

const b64 = (bytes: Uint8Array): string => {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
};

/** One TURN credential for `node`, valid for ttlMs from nowMs (coturn REST scheme). */
export async function turnCredential(
  subtle: SubtleCrypto,
  secret: string,
  node: string,
  ttlMs: number,
  nowMs: number,
): Promise<{ username: string; credential: string }> {
  const username = `${Math.floor((nowMs + ttlMs) / 1000)}:${node}`;
  const te = new TextEncoder();
  const key = await subtle.importKey('raw', te.encode(secret), { name: 'HMAC', hash: 'SHA-1' }, false, ['sign']);
  const mac = new Uint8Array(await subtle.sign('HMAC', key, te.encode(username)));
  return { username, credential: b64(mac) };
}

/** A seed answers 'ice' requests: [] without TURN, else a fresh credential for the asking node. */
export function serveIce(mesh: Pick<IceHost, 'clock' | 'node' | 'o'>): void {
  const o = mesh.o;
  const kernel = mesh.node.kernel;
  kernel.nodePort.set('ice', (from: NodeId, [reply]: unknown[]) => {
    if (!isPortId(reply) || nodeOf(reply) !== from) return;
    if (!o.turnSecret || o.turnUrls.length === 0) return kernel.snd(reply, ['ice', [], 0]);
    turnCredential(o.subtle, o.turnSecret, from, o.turnTtlMs, mesh.clock.now()).then(
      (c) => kernel.snd(reply, ['ice', [{ urls: o.turnUrls, ...c }], o.turnTtlMs]),
      (e) => log.error(`cannot make a TURN credential: ${(e as Error)?.message ?? e}`),
    );
  });
}

/** The TURN options given to configure(): turn_secret, turn_urls, turn_ttl (ms); unset ones are left out. */
export function turnOptions(o: Record<string, unknown>): Partial<TurnOptions> {
  const out: Partial<TurnOptions> = {};
  if (o.turn_secret !== undefined && o.turn_secret !== null) {
    if (typeof o.turn_secret !== 'string' || o.turn_secret === '') throw new BadArgumentError('configure: turn_secret must be a non-empty string');
    out.turnSecret = o.turn_secret;
  }
  if (o.turn_urls !== undefined && o.turn_urls !== null) {
    const urls = typeof o.turn_urls === 'string' ? o.turn_urls.split(',').map((u) => u.trim()).filter(Boolean) : o.turn_urls;
    if (!Array.isArray(urls) || !urls.every((u) => typeof u === 'string' && /^turns?:/.test(u))) throw new BadArgumentError('configure: turn_urls must be a list of turn: or turns: URLs');
    out.turnUrls = urls;
  }
  const ttl = positive(o.turn_ttl, 'turn_ttl');
  if (ttl !== undefined) out.turnTtlMs = ttl;
  return out;
}
