/**
 * The link handshake (protocol version 1), one instance per link side. A
 * pure async state machine: frames in, frames to send out, no timers (the
 * mesh runs the timeout) and no randomness (the nonce is passed in).
 *
 *   both:  greeting  {"aemp":1,"node":…,"nonce":…,"seed":…,"auth":[…],"framing":[…],"token"?:…,"ping"?:true}
 *   both:  auth      {"mac":"<hex>"} or {"mac":null} (a side without the secret)
 *   either, any time: refusal {"refused":"AEMP_ERR_…","reason":"…"}
 *
 * mac_X = HMAC-SHA256(secret, "aemp1 " + greeting_X + "\n" + greeting_Y),
 * X the sender of the mac, greetings as the exact frame texts. Each side
 * verifies the peer by the first method of its own authAccept that the peer
 * offers and that applies (docs/protocol.md, "Handshake").
 */
import { BadArgumentError } from '../errors.ts';
import type { Frame } from '../link.ts';
import type { Framing } from './codec.ts';
import { loadJsonFraming } from './json-framing.ts';
import { HANDSHAKE_CODES as H, HandshakeError, PeerRefusedError, TokenError } from './errors.ts';
import { fromHex, toHex, utf8 } from './bytes.ts';
import { hmacKey, MAX_TOKEN_LENGTH } from './hmac-key.ts';
import type { Cap } from '../caps.ts';

export const PROTOCOL_VERSION = 1;
export type AuthMethod = 'hmac_sha256' | 'token' | 'none';
export const AUTH_METHODS: readonly AuthMethod[] = ['hmac_sha256', 'token', 'none'];
const FRAMING_NAMES: readonly string[] = ['msgpack', 'json'];
/** Largest handshake frame accepted by default; a greeting with a token is well under 1 KiB. */
export const DEFAULT_MAX_HANDSHAKE_FRAME = 16 * 1024;

const NODE_ID_RE = /^[A-Za-z0-9_\-.:/]{1,256}$/;
const NONCE_RE = /^[0-9a-f]{32}$/;

/** Is `s` a syntactically valid node ID ([A-Za-z0-9_-.:/], 1..256 characters)? */
export function isNodeId(s: unknown): s is string {
  return typeof s === 'string' && NODE_ID_RE.test(s);
}

export interface HandshakeOptions {
  nodeId: string;
  isSeed: boolean;
  /** The mesh's shared secret; absent on browsers. */
  secret?: string;
  /** A browser's token (token.ts), offered when authOffer has 'token'. */
  token?: string;
  /** Methods we can prove ourselves with, preferred first (hmac_sha256 needs secret, token needs token). */
  authOffer: string[];
  /** Methods we accept from the peer, preferred first. */
  authAccept: string[];
  /** Framings we speak, preferred first. */
  framings: Framing[];
  /** 16 random bytes, fresh for every link. */
  nonce: Uint8Array;
  subtle: SubtleCrypto;
  /** Wall-clock milliseconds (token expiry). */
  now: () => number;
  /** Largest handshake frame accepted (characters). Default 16 KiB. */
  maxFrameSize?: number;
  /** This side's link hears the transport's own heartbeats (Link.ping): the peer may keep the link alive with them. */
  hearsPings?: boolean;
}

export interface HandshakeResult {
  peerNode: string;
  peerIsSeed: boolean;
  framing: Framing;
  /** The method the peer was accepted by. */
  auth: AuthMethod;
  /**
   * True when the peer proved itself with the secret (mac) or a token signed
   * with it; false for 'none' and when we hold no secret and took its word
   * (browsers: wss vouches for the seed).
   */
  verified: boolean;
  /** For a peer accepted by a token we verified: the capabilities it grants (lib/caps.ts); else absent. */
  caps?: Cap[];
  /** The peer said it hears the transport's own heartbeats ("ping": true in its greeting). */
  peerHearsPings: boolean;
}

export interface HandshakeStep {
  /** Frames to send to the peer, in order. */
  send: string[];
  /** Set once the peer is accepted; later frames are codec frames. */
  done?: HandshakeResult;
}

interface Greeting {
  aemp: number;
  node: string;
  nonce: string;
  seed: boolean;
  auth: string[];
  framing: string[];
  token?: string;
  ping?: true;
}

/** The text of a refusal frame: tells the peer why the link is about to close. */
export function refusalFrame(code: string, reason: string): string {
  return JSON.stringify({ refused: code, reason: reason.length > 1000 ? reason.slice(0, 1000) + '…' : reason });
}

/** The code and reason of a refusal frame, or undefined if `frame` is not one. */
export function parseRefusal(frame: Frame): { code: string; reason: string } | undefined {
  if (typeof frame !== 'string' || frame.length > DEFAULT_MAX_HANDSHAKE_FRAME || frame[0] !== '{') return undefined;
  let v: unknown;
  try {
    v = JSON.parse(frame);
  } catch {
    return undefined;
  }
  const r = v as { refused?: unknown; reason?: unknown } | null;
  if (typeof r !== 'object' || r === null || typeof r.refused !== 'string') return undefined;
  // The peer's words end up in our logs: keep them short and the code well-formed.
  const code = /^AEMP_ERR_[A-Z0-9_]{1,40}$/.test(r.refused) ? r.refused : 'AEMP_ERR_UNSPECIFIED';
  const reason = typeof r.reason === 'string' ? r.reason.slice(0, 1000) : '';
  return { code, reason };
}

function refuse(code: string, message: string, cause?: unknown): never {
  throw new HandshakeError(code, message, cause === undefined ? undefined : { cause });
}

function checkMethods(name: string, list: string[]): AuthMethod[] {
  if (!Array.isArray(list)) throw new BadArgumentError(`${name} must be an array`);
  for (const m of list) {
    if (!AUTH_METHODS.includes(m as AuthMethod)) throw new BadArgumentError(`${name}: unknown auth method ${JSON.stringify(m)}`);
  }
  return list as AuthMethod[];
}

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.length <= 16 && v.every((s) => typeof s === 'string' && s.length <= 64);
}

/** One side of the handshake on one link. */
export class Handshake {
  private readonly o: HandshakeOptions;
  private readonly accept: AuthMethod[];
  private readonly mine: string;
  private readonly nonce: string;
  private readonly maxFrame: number;
  private key: Promise<CryptoKey> | undefined;
  private state: 'greeting' | 'auth' | 'done' | 'failed' = 'greeting';
  private queue: Promise<unknown> = Promise.resolve();
  private peer: { text: string; g: Greeting; result: HandshakeResult } | undefined;

  constructor(o: HandshakeOptions) {
    if (!isNodeId(o.nodeId)) throw new BadArgumentError(`bad node id ${JSON.stringify(o.nodeId)}`);
    if (!(o.nonce instanceof Uint8Array) || o.nonce.length !== 16) throw new BadArgumentError('nonce must be 16 bytes');
    if (o.secret !== undefined && (typeof o.secret !== 'string' || o.secret === '')) {
      throw new BadArgumentError('secret must be a non-empty string');
    }
    if (o.token !== undefined && (typeof o.token !== 'string' || o.token.length > MAX_TOKEN_LENGTH)) {
      throw new BadArgumentError(`token must be a string of at most ${MAX_TOKEN_LENGTH} characters`);
    }
    if (!Array.isArray(o.framings) || o.framings.length === 0 || !o.framings.every((f) => FRAMING_NAMES.includes(f))) {
      throw new BadArgumentError(`framings must be a non-empty list of ${FRAMING_NAMES.join(', ')}`);
    }
    this.accept = checkMethods('authAccept', o.authAccept);
    // Offer only what we can back up: a mac needs the secret, 'token' needs a token.
    const offer = checkMethods('authOffer', o.authOffer).filter(
      (m) => (m !== 'hmac_sha256' || o.secret !== undefined) && (m !== 'token' || o.token !== undefined),
    );
    this.o = o;
    this.maxFrame = o.maxFrameSize ?? DEFAULT_MAX_HANDSHAKE_FRAME;
    this.nonce = toHex(o.nonce);
    const g: Greeting = {
      aemp: PROTOCOL_VERSION,
      node: o.nodeId,
      nonce: this.nonce,
      seed: !!o.isSeed,
      auth: offer,
      framing: [...o.framings],
    };
    if (offer.includes('token')) g.token = o.token;
    if (o.hearsPings === true) g.ping = true;
    this.mine = JSON.stringify(g);
  }

  /** Our greeting frame: send it as soon as the link opens. */
  greeting(): string {
    return this.mine;
  }

  /** Feed one frame from the peer; frames are processed in call order. Throws HandshakeError on refusal. */
  receive(frame: Frame): Promise<HandshakeStep> {
    const p = this.queue.then(() => this.step(frame));
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async step(frame: Frame): Promise<HandshakeStep> {
    if (this.state === 'failed') refuse(H.HANDSHAKE, 'handshake already failed');
    try {
      const msg = this.parse(frame);
      if (this.state === 'greeting') return await this.onGreeting(frame as string, msg);
      if (this.state === 'auth') return await this.onAuth(msg);
      return refuse(H.HANDSHAKE, 'handshake frame after the handshake finished');
    } catch (e) {
      this.state = 'failed';
      if (e instanceof HandshakeError) throw e;
      return refuse(H.HANDSHAKE, `handshake failed: ${(e as Error)?.message ?? e}`, e);
    }
  }

  private parse(frame: Frame): Record<string, unknown> {
    if (typeof frame !== 'string') refuse(H.HANDSHAKE, 'binary frame during the handshake');
    if (frame.length > this.maxFrame) refuse(H.HANDSHAKE, `handshake frame over ${this.maxFrame} characters`);
    const refusal = parseRefusal(frame);
    if (refusal) throw new PeerRefusedError(refusal.code, refusal.reason);
    let v: unknown;
    try {
      v = JSON.parse(frame);
    } catch {
      const what = this.state === 'greeting' ? H.BAD_GREETING : H.HANDSHAKE;
      return refuse(what, 'handshake frame is not JSON');
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      refuse(this.state === 'greeting' ? H.BAD_GREETING : H.HANDSHAKE, 'handshake frame is not a JSON object');
    }
    return v as Record<string, unknown>;
  }

  private async onGreeting(text: string, v: Record<string, unknown>): Promise<HandshakeStep> {
    if (!('aemp' in v)) refuse('mac' in v ? H.HANDSHAKE : H.BAD_GREETING, 'expected a greeting');
    if (v.aemp !== PROTOCOL_VERSION) {
      refuse(H.VERSION, `peer speaks protocol version ${JSON.stringify(v.aemp)}, we speak ${PROTOCOL_VERSION}`);
    }
    if (!isNodeId(v.node)) refuse(H.BAD_GREETING, `bad node id ${JSON.stringify(v.node)?.slice(0, 300)}`);
    if (typeof v.nonce !== 'string' || !NONCE_RE.test(v.nonce)) refuse(H.BAD_GREETING, 'nonce is not 32 lower-case hex digits');
    if (typeof v.seed !== 'boolean') refuse(H.BAD_GREETING, '"seed" is not a boolean');
    if (!isStringList(v.auth) || !isStringList(v.framing)) refuse(H.BAD_GREETING, '"auth" or "framing" is not a short list of strings');
    if (v.token !== undefined && (typeof v.token !== 'string' || v.token.length > MAX_TOKEN_LENGTH)) {
      refuse(H.BAD_GREETING, '"token" is not a string');
    }
    const g = v as unknown as Greeting;
    // A reflected greeting (ours sent back) or a link to ourselves: refusing before we
    // send a mac also stops an attacker from collecting our mac over our own greeting.
    if (g.nonce === this.nonce) refuse(H.REPLAY, 'peer sent our own nonce');
    if (g.node === this.o.nodeId) refuse(H.SELF_CONNECT, `peer claims our own node id ${g.node}`);
    const framing = this.chooseFraming(g);
    // The link's codec is made from the result: json's is loaded on first use (codec.ts).
    if (framing === 'json') await loadJsonFraming();
    const [auth, verified, caps] = await this.authenticate(g);
    const result: HandshakeResult = { peerNode: g.node, peerIsSeed: g.seed, framing, auth, verified, peerHearsPings: v.ping === true };
    if (caps !== undefined) result.caps = caps;
    this.peer = { text, g, result };
    this.state = 'auth';
    const mac = this.o.secret === undefined ? null : toHex(await this.mac(this.mine, text));
    return { send: [JSON.stringify({ mac })] };
  }

  /** The first framing, in the list of the greeting with the smaller nonce, that both offer. */
  private chooseFraming(peer: Greeting): Framing {
    const [first, second] = this.nonce < peer.nonce ? [this.o.framings, peer.framing] : [peer.framing, this.o.framings];
    const f = first.find((x) => FRAMING_NAMES.includes(x) && (second as string[]).includes(x));
    return (f as Framing | undefined) ?? refuse(H.FRAMING, `no common framing (we ${this.o.framings}, peer ${peer.framing})`);
  }

  /** Pick how to accept the peer (our accept order) and check what can be checked now. */
  private async authenticate(peer: Greeting): Promise<[AuthMethod, boolean, Cap[]?]> {
    const secret = this.o.secret;
    const method = this.accept.find((m) => {
      if (!peer.auth.includes(m)) return false;
      if (m === 'token') return typeof peer.token === 'string';
      return true;
    });
    if (!method) refuse(H.AUTH, `no acceptable auth method (peer offers ${peer.auth}, we accept ${this.accept})`);
    if (method === 'none') {
      if (!peer.node.startsWith('anon/')) refuse(H.AUTH, `unauthenticated node id must start with "anon/", got ${peer.node}`);
      if (peer.seed) refuse(H.AUTH, 'an unauthenticated node cannot be a seed');
      return [method, false];
    }
    if (secret === undefined) return [method, false]; // cannot verify: trust the transport (wss)
    if (method === 'token') {
      if (peer.seed) refuse(H.AUTH, 'a token-authenticated node cannot be a seed');
      try {
        // Loaded here, not at startup: only a seed or a listener verifies tokens, and a page's bundle need not carry it.
        const { verifyToken } = await import('./token.ts');
        const t = await verifyToken(this.o.subtle, secret, peer.token as string, peer.node, this.o.now());
        return [method, true, t.caps];
      } catch (e) {
        if (e instanceof TokenError) refuse(H.TOKEN, e.message, e);
        throw e;
      }
    }
    return [method, true]; // hmac_sha256: the mac is checked when the auth frame arrives (onAuth)
  }

  private async onAuth(v: Record<string, unknown>): Promise<HandshakeStep> {
    const peer = this.peer as NonNullable<typeof this.peer>;
    if (!('mac' in v)) refuse(H.HANDSHAKE, 'aemp' in v ? 'second greeting' : 'expected an auth frame');
    if (v.mac !== null && typeof v.mac !== 'string') refuse(H.HANDSHAKE, 'bad auth frame');
    if (peer.result.auth === 'hmac_sha256' && this.o.secret !== undefined) {
      const mac = typeof v.mac === 'string' ? fromHex(v.mac) : undefined;
      if (!mac || mac.length !== 32) refuse(H.AUTH, 'peer sent no valid mac');
      const key = await this.hmacKey();
      // subtle.verify compares in constant time.
      const ok = await this.o.subtle.verify('HMAC', key, mac, this.macInput(peer.text, this.mine));
      if (!ok) refuse(H.AUTH, 'wrong mac (different secret?)');
    }
    this.state = 'done';
    return { send: [], done: peer.result };
  }

  private hmacKey(): Promise<CryptoKey> {
    return (this.key ??= hmacKey(this.o.subtle, this.o.secret as string));
  }

  private macInput(senderGreeting: string, receiverGreeting: string): Uint8Array<ArrayBuffer> {
    return utf8(`aemp${PROTOCOL_VERSION} ${senderGreeting}\n${receiverGreeting}`);
  }

  private async mac(senderGreeting: string, receiverGreeting: string): Promise<Uint8Array> {
    const key = await this.hmacKey();
    return new Uint8Array(await this.o.subtle.sign('HMAC', key, this.macInput(senderGreeting, receiverGreeting)));
  }
}
