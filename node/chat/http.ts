/**
 * The demo's plain HTTP, on the seed's port (node/http.ts): the built page
 * from dist/demo, the embedding example (/embed.html, importing /aemp.js
 * from dist), and GET /token, which hands each page a node ID and a
 * token for exactly that ID. A real app's backend would check who asks
 * before it signs; the demo signs for anyone who can reach it, like a seed
 * that allows anonymous nodes, but the seed still picks the IDs.
 */
import type http from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { isNodeId, randomId } from '../../lib/ids.ts';
import { createToken, verifyToken } from '../../lib/protocol/token.ts';
import { logger } from '../../lib/log.ts';

const log = logger('demo');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

export interface DemoHttpOptions {
  /** The built page (dist/demo). */
  dir: string;
  /** The built library (dist): /aemp.js and its chunks, for the embedding example. */
  libDir?: string;
  /** The embedding example page, served as /embed.html. */
  embedPage?: string;
  /** The mesh secret tokens are signed with. */
  secret: string;
  /** Token lifetime. */
  tokenTtlSec: number;
  /** The seed accepts anonymous nodes (told to the page in /token's answer). */
  anonymous?: boolean;
  /** Prefix of the node IDs handed out. Default "web/". */
  nodePrefix?: string;
}

/** How long after its expiry a token still renews (a laptop asleep over a weekend comes back as itself). */
export const RENEW_WINDOW_SEC = 7 * 24 * 3600;

/**
 * Why a renewal of `asked` is refused, or undefined: the request must carry
 * `Authorization: Bearer OLD`, OLD a token this demo signed for exactly that
 * node ID, expired less than RENEW_WINDOW_SEC ago.
 */
async function renewalRefused(o: DemoHttpOptions, asked: string, auth: string | undefined): Promise<string | undefined> {
  const old = /^Bearer (\S{1,4096})$/.exec(auth ?? '')?.[1];
  if (old === undefined) return `renewing the token of ${asked} needs its previous token (Authorization: Bearer …)`;
  try {
    // nowMs 0: an expired token still proves who the page is; its age is checked below.
    const p = await verifyToken(globalThis.crypto.subtle, o.secret, old, asked, 0);
    if (p.node !== asked) return `the token presented is for ${p.node}, not for ${asked} alone`;
    if ((p.exp + RENEW_WINDOW_SEC) * 1000 <= Date.now()) return `the token presented expired more than ${RENEW_WINDOW_SEC} s ago`;
  } catch (e) {
    return `the token presented does not renew ${asked}: ${(e as Error).message}`;
  }
  return undefined;
}

/** GET /token[?nodeid=ID, with the ID's previous token] → {"nodeid", "token", "expires", "anonymous"}; anything else: a file of `dir`. */
export function demoHttpHandler(o: DemoHttpOptions): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return (req, res) => {
    handle(o, req, res).catch((e) => {
      log.error(`${req.method} ${req.url}: ${(e as Error).message}`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error\n');
    });
  };
}

async function handle(o: DemoHttpOptions, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
    return;
  }
  let path: string;
  try {
    path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  } catch {
    res.writeHead(400, { 'content-type': 'text/plain' }).end('bad path\n');
    return;
  }
  if (path === '/token') {
    const prefix = o.nodePrefix ?? 'web/';
    const asked = new URL(req.url ?? '/', 'http://x').searchParams.get('nodeid');
    let nodeid: string;
    if (asked === null) nodeid = `${prefix}${randomId(10)}`;
    else {
      // ?nodeid= renews the token of a page that already has its ID (its old token expired). Only the page that
      // holds that ID's token — expired or not — may: else any page could take over another's ID once it left.
      if (!(asked.startsWith(prefix) && isNodeId(asked) && !asked.includes('*'))) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(`nodeid must be ${prefix}…\n`);
        return;
      }
      const why = await renewalRefused(o, asked, req.headers.authorization);
      if (why !== undefined) {
        res.writeHead(403, { 'content-type': 'text/plain' }).end(`${why}\n`);
        return;
      }
      nodeid = asked;
    }
    const now = Date.now();
    const token = await createToken(globalThis.crypto.subtle, o.secret, { node: nodeid, ttlSec: o.tokenTtlSec, nowMs: now });
    const body = JSON.stringify({ nodeid, token, expires: Math.floor(now / 1000 + o.tokenTtlSec), anonymous: !!o.anonymous });
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  // Only files below dir: normalize, and refuse anything that climbs out.
  const rel = normalize(path === '/' ? '/index.html' : path).replace(/^([/\\])+/, '');
  if (rel.split(sep).includes('..') || rel.includes('\0')) {
    res.writeHead(400, { 'content-type': 'text/plain' }).end('bad path\n');
    return;
  }
  // The embedding example: a plain page importing ./aemp.js, the library as built (npm run build).
  let file = join(o.dir, rel);
  if (rel === 'embed.html' && o.embedPage) file = o.embedPage;
  else if (o.libDir && /^[\w.-]+\.js(\.map)?$/.test(rel)) file = join(o.libDir, rel);
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch {
    res.writeHead(404, { 'content-type': 'text/plain' }).end(path === '/' ? 'demo not built: run npm run build\n' : 'not found\n');
    return;
  }
  // Vite names assets by content hash: they can be cached for good; the page itself cannot.
  const cache = rel.startsWith(`assets${sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache';
  res.writeHead(200, { 'content-type': TYPES[extname(rel)] ?? 'application/octet-stream', 'cache-control': cache, 'content-length': data.length });
  res.end(req.method === 'HEAD' ? undefined : data);
}
