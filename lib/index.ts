/**
 * aemp/core: the isomorphic core. Imports no Node module and touches no DOM
 * global at import time.
 */
export * from './api.ts';
export { createNode, type ConfigureOptions } from './configure.ts';
export { MpNode, type PortContext, type Disposable } from './node.ts';
export type { NodeId, PortId } from './ids.ts';
export type { Guard, Message, Handler } from './kernel.ts';
export type { LinkInfo } from './network.ts';
export type { CallOptions } from './rpc.ts';
export { AempError, PortDiedError, TimeoutError, AbortedError, BadArgumentError } from './errors.ts';
export { setLogLevel, setLogSink, setTrace, logger } from './log.ts';
export { ManualClock, systemClock, type Clock } from './clock.ts';
export { GroupError } from './groups/errors.ts';
