/**
 * Capabilities: what a node may ask of other nodes through their node
 * ports, by the kind of node it is (mesh/peer-kind.ts). Holders of the mesh
 * secret may ask everything (AEMP's semantics); pages — nodes that joined
 * with a token or anonymously — only what a page needs, plus what their
 * token grants (its signed `caps`). docs/security.md has the whole model.
 *
 * Receiving nodes enforce this in their node-port dispatch (kernel.ts),
 * seeds also on what a page's link relays (mesh/seed.ts). The sender's kind
 * always comes from an authenticated introduction: the handshake of the
 * link it came over, or the seed's stamp on a relayed message.
 */
import { BadArgumentError } from './errors.ts';
import type { PeerKind } from './mesh/peer-kind.ts';

/** What a token can grant beyond a page's defaults. */
export type Cap = 'kil' | 'spawn' | 'trace' | 'sndon';
export const CAPS: readonly Cap[] = ['kil', 'spawn', 'trace', 'sndon'];

/** Who sent a message, as far as what it may ask goes. */
export interface Sender {
  readonly kind: PeerKind;
  readonly caps: readonly Cap[];
}

/** A secret holder (and this node itself): everything is allowed. */
export const TRUSTED: Sender = Object.freeze({ kind: 'secret', caps: CAPS });

/**
 * Node-port requests any node may send: monitors (monfire is checked
 * against the monitored port's node by remote.ts), lost-message and direct
 * link plumbing (signalling, and TURN credentials from its seed: ice.ts), a
 * node's own group registrations and watches (the seed checks the ports are
 * the sender's own), and refusal notices.
 */
const OPEN = new Set(['mon', 'unmon', 'monfire', 'gap', 'rtc', 'ice', 'grp_hello', 'grp_reg', 'grp_unreg', 'grp_sub', 'grp_unsub', 'denied', 'refused']);

/** Requests a page may send only with the capability its token grants. */
const NEEDS = new Map<string, Cap>([
  ['kil', 'kil'],
  ['spawn', 'spawn'],
  ['trace', 'trace'],
  ['nodes', 'trace'],
  ['snd', 'sndon'],
]);

/**
 * Why `who` may not send node-port request `req`, or undefined if it may.
 * Everything not listed (seed → node group updates, seed ↔ seed replication,
 * requests added later) is for secret holders only.
 */
export function denial(who: Sender, req: string): string | undefined {
  if (who.kind === 'secret' || OPEN.has(req)) return undefined;
  const cap = NEEDS.get(req);
  if (cap === undefined) return `a ${who.kind} node may not send '${req}' requests (secret holders only)`;
  if (!who.caps.includes(cap)) return `a ${who.kind} node may not send '${req}' requests without the '${cap}' capability`;
  return undefined;
}

export function isCap(s: unknown): s is Cap {
  return typeof s === 'string' && (CAPS as readonly string[]).includes(s);
}

/** Check a list of capability names (createToken, `aemp token --caps`); throws BadArgumentError on an unknown one. */
export function parseCaps(v: unknown): Cap[] {
  if (!Array.isArray(v)) throw new BadArgumentError(`caps must be a list of capability names (${CAPS.join(', ')})`);
  const out: Cap[] = [];
  for (const c of v) {
    if (!isCap(c)) throw new BadArgumentError(`unknown capability ${JSON.stringify(c)}: expected one of ${CAPS.join(', ')}`);
    if (!out.includes(c)) out.push(c);
  }
  return out;
}

/** The Sender a seed's stamp on a relayed message describes: none is a secret holder; anything odd gets no rights. */
export function stampedSender(kind: unknown, caps: unknown): Sender {
  if (kind === undefined || kind === null) return TRUSTED;
  if (kind !== 'token' && kind !== 'anon') return { kind: 'anon', caps: [] };
  return { kind, caps: Array.isArray(caps) ? caps.filter(isCap) : [] };
}
