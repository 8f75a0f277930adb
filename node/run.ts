/**
 * `aemp run`: the process's default node, configured from a profile (a seed
 * when it has binds, listening with wss:// when it has a cert), with its
 * services loaded; and the environment the CLI's nodes use (node/transport.ts).
 *
 * The CLI resolves profiles itself (its KEY=VALUE overrides beat the
 * profile, and mesh commands take only seeds and secret from it), so its
 * environment has no `resolve`: what it passes to joinNetwork is final.
 */
import './index.ts'; // evaluated first, so its setEnvironment never runs after ours
import { basename, extname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { configure, defaultNode } from '../lib/api.ts';
import { setEnvironment } from '../lib/configure.ts';
import { AempError } from '../lib/errors.ts';
import type { MeshTransport } from '../lib/mesh/mesh.ts';
import type { MpNode } from '../lib/node.ts';
import { installTrace } from '../lib/trace.ts';
import { DURATION_KEYS } from './config-keys.ts';
import { loadConfigFor } from './config.ts';
import { serveHttp } from './http.ts';
import { nodeWrtc, noteRelayOnly } from './rtc-env.ts';
import { listenCert, nodeTransport, trustedCerts } from './transport.ts';
import { fastSubtle } from './fast-subtle.ts';
import { nodeRoles } from './roles.ts';

/** A service module failed to load. */
export class ServiceError extends AempError {
  constructor(message: string, cause?: unknown) {
    super('AEMP_ERR_SERVICE', message, { cause });
  }
}

/** Use `transport` for every node of this process, with no profile lookup in configure(). */
export function useCliEnvironment(transport: MeshTransport = nodeTransport({ onHttp: serveHttp })): void {
  setEnvironment({ subtle: fastSubtle, transport, ...nodeRoles, ...(nodeWrtc ? { wrtc: nodeWrtc } : {}) });
}

/** Database values (seconds) as configure() takes them (milliseconds). */
export function toApiUnits(values: Record<string, unknown>): Record<string, unknown> {
  const out = { ...values };
  for (const k of DURATION_KEYS) if (typeof out[k] === 'number') out[k] = (out[k] as number) * 1000;
  return out;
}

export interface RunOptions {
  /** Profile to resolve (none: global values only). */
  profile?: string;
  /** KEY=VALUE overrides, database units (seconds); they beat the profile. */
  overrides?: Record<string, unknown>;
  rcPath?: string;
  /** Base for relative service paths and module lookup. Default process.cwd(). */
  cwd?: string;
  /** Status lines for the operator. */
  say?: (line: string) => void;
}

export interface LoadedService {
  spec: string;
  /** Init names it registered, qualified `base:export` and plain `export`. */
  names: string[];
}

export interface RunningNode {
  node: MpNode;
  /** The seed's URLs (empty when not a seed). */
  urls: string[];
  services: LoadedService[];
}

/**
 * Configure the default node from a profile plus overrides, make it answer
 * trace/nodes requests, and load its services. Says one line about where
 * the node is reachable, one per service.
 */
export async function runNode(o: RunOptions = {}): Promise<RunningNode> {
  const say = o.say ?? (() => {});
  const { values } = await loadConfigFor({ profile: o.profile, programOpts: {}, rcPath: o.rcPath });
  const opts = { ...values, ...toApiUnits(o.overrides ?? {}) };
  // A cert makes the binds wss://; seeds over wss:// are checked against tls_ca and the cert.
  useCliEnvironment(nodeTransport({ onHttp: serveHttp, tls: listenCert(opts), ca: trustedCerts(opts) }));
  noteRelayOnly(opts);
  await configure(opts);
  const node = defaultNode();
  installTrace(node);
  const seeds = node.net?.seedLink;
  const urls = [...(seeds?.listening() ?? [])];
  const seed = seeds?.current();
  if (urls.length) say(`aemp: node ${node.NODE} listening on ${urls.join(' ')}`);
  // A node with binds and seeds: it listens for direct links only.
  else if (seeds?.direct().length) say(`aemp: node ${node.NODE} listening for direct links on ${seeds.direct().join(' ')}`);
  else if (seed) say(`aemp: node ${node.NODE} linked to seed ${seed}`);
  else if (seeds) say(`aemp: node ${node.NODE}: no seed reachable yet (${seeds.urls().join(' ')}), still trying`);
  else say(`aemp: node ${node.NODE} has neither binds nor seeds: nothing outside this process can reach it`);
  const services: LoadedService[] = [];
  try {
    const specs = [...new Set((opts.services as string[] | undefined) ?? [])];
    for (const spec of specs) {
      const s = await loadService(node, spec, o.cwd ?? process.cwd(), say);
      services.push(s);
      say(`aemp: service ${spec}: spawnable as ${s.names.join(', ') || '(no exported functions)'}`);
    }
  } catch (e) {
    await node.shutdown();
    throw e;
  }
  return { node, urls, services };
}

/**
 * Import a service module and register every exported function (classes
 * excepted) as init `base:export` and, unless another service took it
 * first, plain `export`; a default export is `base:default` and `base`.
 * `base` is the file name without extension (`./svc/echo.ts` → `echo`).
 * Paths (./x, ../x, /x, file:, or an existing file) are relative to cwd;
 * anything else is a package resolved from cwd.
 */
export async function loadService(node: MpNode, spec: string, cwd: string, say: (line: string) => void = () => {}): Promise<LoadedService> {
  const url = serviceUrl(spec, cwd);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (e) {
    throw new ServiceError(`service ${spec}: cannot load ${url}: ${(e as Error).message}`, e);
  }
  const base = serviceBase(spec);
  const names: string[] = [];
  for (const [exp, fn] of Object.entries(mod)) {
    if (typeof fn !== 'function' || /^class[\s{]/.test(Function.prototype.toString.call(fn))) continue;
    const init = fn as (...a: unknown[]) => void;
    const plainName = exp === 'default' ? base : exp;
    for (const name of [`${base}:${exp}`, plainName]) {
      if (names.includes(name)) continue;
      if (node.remote.inits.has(name)) {
        say(`aemp: service ${spec}: init name '${name}' is taken already, not registered again`);
        continue;
      }
      node.registerInit(name, init);
      names.push(name);
    }
  }
  return { spec, names };
}

function serviceUrl(spec: string, cwd: string): string {
  if (spec.startsWith('file:')) return spec;
  if (/^\.{0,2}\//.test(spec) || isAbsolute(spec) || existsSync(resolvePath(cwd, spec))) {
    return pathToFileURL(resolvePath(cwd, spec)).href;
  }
  try {
    // A package installed where the operator runs aemp, not next to aemp itself.
    return pathToFileURL(createRequire(join(cwd, 'noop.js')).resolve(spec)).href;
  } catch {
    return spec; // ESM-only exports or a built-in: let import() resolve it
  }
}

function serviceBase(spec: string): string {
  const last = basename(spec.replace(/\/+$/, ''));
  return basename(last, extname(last)) || last;
}
