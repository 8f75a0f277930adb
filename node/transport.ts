/**
 * Node's mesh transport: WebSocket links out (ws://, wss://) and in (a
 * seed's binds, wss:// when it has a certificate), plain HTTP on a seed's
 * port. Both environments build it here: aemp/node's configure() (index.ts)
 * and the aemp tool (run.ts).
 *
 * TLS: a node with a `cert` listens with wss://. A node connecting to a
 * wss:// seed verifies its certificate against Node's default CAs plus the
 * node's `tls_ca` and, as AEMP does, its own `cert`: a mesh that shares one
 * certificate (gencert once, globally) trusts itself with no CA at all.
 * Verification is never switched off.
 */
import type { Link } from '../lib/link.ts';
import type { MeshTransport } from '../lib/mesh/mesh.ts';
import { connectWs, listenWs, type ListenWsOptions } from './ws.ts';

export interface TlsCert {
  cert: string;
  key: string;
}

export interface NodeTransportOptions {
  /** Listen with wss:// using this certificate; a function decides per bind. Default: plain ws://. */
  tls?: TlsCert | ((bind: { host: string; port: number }) => TlsCert | undefined);
  /** PEM certificates trusted for wss:// besides Node's default CAs; a function is asked at each connect. */
  ca?: readonly string[] | (() => readonly string[]);
  /** Plain HTTP requests on a seed's port (default: 404). */
  onHttp?: ListenWsOptions['onHttp'];
  /**
   * Hears every failed connect and every close of a link that connect
   * returned (handshake refusals included), so a caller can say why no
   * seed could be reached.
   */
  onLinkFailed?: (url: string, why: string) => void;
  /** Largest WebSocket frame, bytes (default node/ws.ts's, 1 MiB). */
  maxFrameSize?: number;
}

/** The MeshTransport of Node nodes. */
export function nodeTransport(o: NodeTransportOptions = {}): MeshTransport {
  const { onLinkFailed } = o;
  return {
    connect: async (url, opts) => {
      const ca = typeof o.ca === 'function' ? o.ca() : o.ca;
      let link: Link;
      try {
        link = await connectWs(url, { ...opts, ca, maxFrameSize: o.maxFrameSize });
      } catch (e) {
        onLinkFailed?.(url, (e as Error).message);
        throw e;
      }
      if (onLinkFailed) {
        const set = link.setHandlers.bind(link);
        link.setHandlers = (h) => set(h.close ? { ...h, close: (why: string) => (onLinkFailed(url, why), h.close!(why)) } : h);
      }
      return link;
    },
    listen: async (bind, onLink, admit) => {
      const tls = typeof o.tls === 'function' ? o.tls(bind) : o.tls;
      const guard = admit ? { admitTimeoutMs: admit.admitTimeoutMs, maxUnfinishedPerAddress: 4 * admit.maxPendingPerAddress } : {};
      const l = await listenWs({ host: bind.host, port: bind.port, onLink: (link) => onLink(link), onHttp: o.onHttp, tls, maxFrameSize: o.maxFrameSize, ...guard });
      return { url: l.url, close: () => l.close() };
    },
  };
}

/** The certificates a node with these (resolved) values trusts for wss:// besides the default CAs: tls_ca, then its own cert. */
export function trustedCerts(values: Record<string, unknown>): string[] {
  const out: string[] = [];
  if (typeof values.tls_ca === 'string') out.push(values.tls_ca);
  const own = values.cert as Partial<TlsCert> | undefined;
  if (own && typeof own.cert === 'string') out.push(own.cert);
  return out;
}

/** The certificate a node with these values listens with, if any. */
export function listenCert(values: Record<string, unknown>): TlsCert | undefined {
  const c = values.cert as Partial<TlsCert> | undefined;
  return c && typeof c.cert === 'string' && typeof c.key === 'string' ? { cert: c.cert, key: c.key } : undefined;
}

/**
 * TLS for configure(): one transport serves every node of the process, but
 * each configure() resolves its own profile. resolve() notes the values it
 * returns (note()); the listen that follows for each of those binds uses
 * that profile's cert, and every connect trusts the certificates of every
 * profile noted so far (trust only grows, and only by what this process's
 * own configuration names).
 */
export class ProfileTls {
  // One decision per bind of each configure(), in order; a listen takes the first for its address.
  private pending: Array<{ at: string; tls: TlsCert | undefined }> = [];
  private trusted: string[] = [];

  constructor(private readonly maxPending = 256) {}

  /** Called with the values resolve() hands to the mesh. */
  note(values: Record<string, unknown>): void {
    for (const c of trustedCerts(values)) if (!this.trusted.includes(c)) this.trusted.push(c);
    const binds = Array.isArray(values.binds) ? values.binds : typeof values.binds === 'string' ? values.binds.split(',') : [];
    const tls = listenCert(values);
    for (const b of binds) {
      const at = bindKey(String(b).trim());
      if (at) this.pending.push({ at, tls });
    }
    if (this.pending.length > this.maxPending) this.pending.splice(0, this.pending.length - this.maxPending);
  }

  /** The cert for a listen on `bind` (undefined: plain ws://). */
  certFor(bind: { host: string; port: number }): TlsCert | undefined {
    const at = `${bind.host}:${bind.port}`;
    const i = this.pending.findIndex((p) => p.at === at);
    if (i < 0) return undefined;
    return this.pending.splice(i, 1)[0]!.tls;
  }

  get ca(): readonly string[] {
    return this.trusted;
  }

  /** A transport using these settings. */
  transport(o: Omit<NodeTransportOptions, 'tls' | 'ca'> = {}): MeshTransport {
    return nodeTransport({ ...o, tls: (b) => this.certFor(b), ca: () => this.ca });
  }
}

/** "host:port" as the mesh parses a bind (lib/mesh/binds.ts parseBind): "*" is 0.0.0.0, brackets dropped. */
function bindKey(b: string): string | undefined {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(b);
  if (!m) return undefined;
  const host = m[1] === '*' ? '0.0.0.0' : m[1]!.replace(/^\[|\]$/g, '');
  return `${host}:${Number(m[2])}`;
}
