/** Node's environment wiring: log level and tracing from AEMP_WARNLEVEL / AEMP_TRACE; codecs share their reader. */
import { setLogLevel, setTrace } from '../lib/log.ts';
import { setCodecPool } from '../lib/protocol/codec.ts';
import { codecPool } from '../lib/protocol/codec-pool.ts';

const lvl = process.env.AEMP_WARNLEVEL;
if (lvl !== undefined && lvl !== '' && !Number.isNaN(Number(lvl))) setLogLevel(Number(lvl));
if (process.env.AEMP_TRACE && process.env.AEMP_TRACE !== '0') setTrace(true);

// Codecs with the same options share their limits and reader (a seed's thousands of links: lib/protocol/codec-pool.ts).
setCodecPool(codecPool);
