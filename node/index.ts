/**
 * aemp/node: the core plus Node's transports (ws, @roamhq/wrtc), the
 * configuration database and the seed listener.
 */
import './env.ts';
import { setEnvironment, type ConfigureOptions } from '../lib/configure.ts';
import { loadConfigFor } from './config.ts';
import { serveHttp } from './http.ts';
import { nodeWrtc, noteRelayOnly } from './rtc-env.ts';
import { ProfileTls } from './transport.ts';
import { fastSubtle } from './fast-subtle.ts';
import { nodeRoles } from './roles.ts';

// Each configure()'s profile decides its binds' certificate and adds to the wss:// trust (node/transport.ts).
const tls = new ProfileTls();

setEnvironment({
  subtle: fastSubtle,
  ...nodeRoles,
  transport: tls.transport({ onHttp: serveHttp }),
  ...(nodeWrtc ? { wrtc: nodeWrtc } : {}),
  // configure() reads the profile database (AEMP_RC): profile chain beats global defaults beats the program's values.
  resolve: async (opts: ConfigureOptions) => {
    const { clock, ...programOpts } = opts;
    const { values } = await loadConfigFor({ profile: opts.profile, programOpts });
    tls.note(values);
    noteRelayOnly(values);
    return clock ? { ...values, clock } : values;
  },
});

export * from '../lib/index.ts';
export { setEnvironment } from '../lib/configure.ts';
export { setHttpHandler, type HttpHandler } from './http.ts';
export { createToken, type TokenOptions } from './token.ts';
