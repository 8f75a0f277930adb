/**
 * ICE servers handed out by seeds, so a deployment configures TURN in one
 * place (the seeds' profile: turn_secret, turn_urls). coturn's shared-secret
 * REST scheme (`use-auth-secret`, `static-auth-secret`): a credential is
 *
 *   username   = "<expiry, unix seconds>:<node ID>"
 *   credential = base64(HMAC-SHA1(turn_secret, username))
 *
 * so the TURN server checks it with the same secret and nothing is stored.
 *
 * Node-port request on a seed: [seedId, 'ice', replyPort] → replyPort gets
 * ['ice', RTCIceServer[], ttlMs] ([] when the seed has no TURN). The reply
 * port must live on the asking node (the link authenticated it), and the
 * username names that node. A node asks its seed whenever its seed link
 * comes up and again at half the lifetime, and uses its own `iceServers`
 * followed by the seed's for every new direct link.
 */
import { unrefTimer, type TimerId } from '../clock.ts';
import type { NodeId, PortId } from '../ids.ts';
import { logger } from '../log.ts';
import type { IceHost } from './hosts.ts';

const log = logger('ice');

export interface TurnOptions {
  /** coturn's static-auth-secret. */
  turnSecret?: string;
  /** turn: / turns: URLs of the TURN servers, e.g. "turn:turn.example:3478?transport=udp". */
  turnUrls: string[];
  /** Lifetime of a handed-out credential. Default 1 hour. */
  turnTtlMs: number;
}

export const TURN_DEFAULTS: TurnOptions = { turnUrls: [], turnTtlMs: 3_600_000 };

/** Nodes ask their seed for ICE servers on every seed link. */
export function installIce(mesh: IceHost): void {
  const o = mesh.o;
  const kernel = mesh.node.kernel;
  if (mesh.seed) return; // a seed answers (ice-seed.ts, which the seed role brings)
  const own = o.iceServers;
  let refresh: TimerId | undefined;
  let asking: PortId | undefined;
  const ask = (seed: NodeId): void => {
    if (refresh !== undefined) mesh.clock.clearTimeout(refresh);
    refresh = undefined;
    if (asking) mesh.node.kil(asking);
    const p = mesh.node.port((tag: unknown, servers: unknown, ttlMs: unknown) => {
      mesh.node.kil(p);
      if (asking === p) asking = undefined;
      if (tag !== 'ice' || !Array.isArray(servers)) return;
      o.iceServers = [...own, ...(servers as RTCIceServer[])];
      if (servers.length > 0) log.info(`${servers.length} ICE server(s) from seed ${seed}`);
      // Ask again at half the lifetime, so a new direct link never starts with an expired credential.
      if (typeof ttlMs === 'number' && ttlMs > 0)
        refresh = unrefTimer(mesh.clock.setTimeout(() => mesh.seedConn?.peer === seed && ask(seed), Math.max(ttlMs / 2, 1000)));
    });
    asking = p;
    kernel.snd(seed, ['ice', p]);
  };
  mesh.hooks.add({ seedLink: (seed) => seed && ask(seed) });
}
