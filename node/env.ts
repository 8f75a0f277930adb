/** Node's environment wiring: log level and tracing from AEMP_WARNLEVEL / AEMP_TRACE. */
import { setLogLevel, setTrace } from '../lib/log.ts';

const lvl = process.env.AEMP_WARNLEVEL;
if (lvl !== undefined && lvl !== '' && !Number.isNaN(Number(lvl))) setLogLevel(Number(lvl));
if (process.env.AEMP_TRACE && process.env.AEMP_TRACE !== '0') setTrace(true);
