/**
 * aemp/node: the core plus Node's transports (ws, @roamhq/wrtc), the
 * configuration database and the seed listener.
 */
import './env.ts';
export * from '../lib/index.ts';
