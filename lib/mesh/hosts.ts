/**
 * The narrow views of the mesh its parts are built on: the seed role and
 * the direct links see only the members listed here, not the whole Mesh
 * class (so either can be driven by a fake in a test, and a new use is a
 * visible change to its view).
 */
import type { Mesh } from './mesh.ts';

/** What SeedRole (seed.ts) uses of the mesh. */
export type SeedHost = Pick<
  Mesh,
  | 'bad' | 'clock' | 'closeWaiters' | 'conns' | 'deliver' | 'establish' | 'lost' | 'markUp' | 'node' | 'nodeDown' | 'nodeId' | 'o' | 'seedUrls'
  | 'senderOf' | 'sessions' | 'signal' | 'sleep' | 'urlOwner'
  | GroupsHostKeys
>;

type GroupsHostKeys = 'clock' | 'conns' | 'groupGraceMs' | 'hooks' | 'node' | 'nodeId' | 'seedConns' | 'signal';
/** What a seed's group registry (groups/seed-groups.ts) uses of the mesh. */
export type GroupsHost = Pick<Mesh, GroupsHostKeys>;

/** What DirectLinks (direct.ts) uses of the mesh. */
export type DirectHost = Pick<
  Mesh,
  | 'bad' | 'batchLimits' | 'clock' | 'connClosed' | 'connOpened' | 'conns' | 'deliver' | 'handlePacket' | 'node' | 'nodeDown' | 'nodeId' | 'o' | 'seed'
  | 'seedConn' | 'send' | 'senderOf' | 'sessions' | 'signal' | 'vouch' | DirectWsKeys
>;

type DirectWsKeys = 'batchLimits' | 'clock' | 'conns' | 'handshakeOptions' | 'node' | 'nodeId' | 'o' | 'signal';
/** What the direct WebSocket links (direct-ws.ts, direct-ws-attempts.ts) use of the mesh. */
export type DirectWsHost = Pick<Mesh, DirectWsKeys>;

/** What the ICE server hand-out (ice.ts) uses of the mesh. */
export type IceHost = Pick<Mesh, 'clock' | 'hooks' | 'node' | 'o' | 'seed' | 'seedConn'>;
