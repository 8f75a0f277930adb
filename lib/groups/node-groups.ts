/** Placeholder: the global-groups helper replaces this file. */
import type { Guard } from '../kernel.ts';
import type { PortId } from '../ids.ts';
import type { MpNode } from '../node.ts';

export type GroupMonitor = (ports: PortId[], added: PortId[], removed: PortId[]) => void;

export class NodeGroups {
  constructor(readonly node: MpNode) {}
  reg(_group: string, _port: PortId): Guard {
    throw new Error('not implemented');
  }
  get(_group: string): PortId[] | undefined {
    return undefined;
  }
  mon(_group: string, _cb: GroupMonitor): Guard {
    throw new Error('not implemented');
  }
}
