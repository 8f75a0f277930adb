/**
 * aemp/node: the core plus Node's transports (ws, @roamhq/wrtc), the
 * configuration database and the seed listener.
 */
import './env.ts';
import { setEnvironment, type ConfigureOptions } from '../lib/configure.ts';
import { connectWs, listenWs } from './ws.ts';
import { loadConfigFor } from './config.ts';
import { serveHttp } from './http.ts';

setEnvironment({
  subtle: globalThis.crypto.subtle,
  transport: {
    connect: (url, o) => connectWs(url, o),
    listen: async (bind, onLink) => {
      const l = await listenWs({ host: bind.host, port: bind.port, onLink: (link) => onLink(link), onHttp: serveHttp });
      return { url: l.url, close: () => l.close() };
    },
  },
  // configure() reads the profile database (AEMP_RC): profile chain beats global defaults beats the program's values.
  resolve: async (opts: ConfigureOptions) => {
    const { clock, ...programOpts } = opts;
    const { values } = await loadConfigFor({ profile: opts.profile, programOpts });
    return clock ? { ...values, clock } : values;
  },
});

export * from '../lib/index.ts';
export { setEnvironment } from '../lib/configure.ts';
export { setHttpHandler, type HttpHandler } from './http.ts';
