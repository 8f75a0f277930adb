/**
 * What a Node process can be that a page cannot: a seed (binds) and a
 * listener/dialler of direct WebSocket links between secret holders. The
 * core takes them from the environment (setEnvironment), so the browser
 * bundle carries neither.
 */
import type { Environment } from '../lib/configure.ts';
import { WsAttempts } from '../lib/mesh/direct-ws-attempts.ts';
import { SeedRole } from '../lib/mesh/seed.ts';

export const nodeRoles: Pick<Environment, 'seedRole' | 'directWs'> = {
  seedRole: (m) => new SeedRole(m),
  directWs: (m, links) => new WsAttempts(m, links),
};
