/**
 * What a Node process can be that a page cannot: a seed (binds; it hands
 * out ICE servers and takes the admission and TURN options) and a
 * listener/dialler of direct WebSocket links between secret holders, and
 * a sender of relay runs (many messages per relay packet). The
 * core takes them from the environment (setEnvironment), so the browser
 * bundle carries none of it.
 */
import type { Environment } from '../lib/configure.ts';
import { WsAttempts } from '../lib/mesh/direct-ws-attempts.ts';
import { admitOptions } from '../lib/mesh/admit-options.ts';
import { serveIce, turnOptions } from '../lib/mesh/ice-seed.ts';
import { SeedRole } from '../lib/mesh/seed.ts';
import { RELAY_RUNS } from '../lib/mesh/relay-runs.ts';

export const nodeRoles: Pick<Environment, 'seedRole' | 'directWs' | 'seedOptions' | 'relayRuns'> = {
  seedRole: (m) => {
    serveIce(m); // seeds hand out ICE servers with TURN credentials (lib/mesh/ice.ts)
    return new SeedRole(m);
  },
  seedOptions: (o) => ({ ...admitOptions(o), ...turnOptions(o) }),
  directWs: (m, links) => new WsAttempts(m, links),
  relayRuns: RELAY_RUNS,
};
