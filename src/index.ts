/**
 * Aether Cluster: cluster coordination for actor runtimes.
 *
 * ```ts
 * import { createClusterNode, memoryTransport } from 'aether-cluster';
 * const transport = memoryTransport();
 * const node = createClusterNode({ nodeId: 'n1', cluster: 'demo', transport });
 * node.on('LeaderElected', (e) => console.log(`${e.nodeId} leads term ${e.term}`));
 * await node.start();
 * console.log(node.status(), node.shardForKey('user-42')); // 'Active' 406
 * await node.stop();
 * ```
 *
 * This entry is the embedding API, named export by named export so that nothing internal (event
 * schemas, commands, wire codecs) becomes a promise. The invariant checker is at
 * `aether-cluster/checker`, the deterministic simulator at `aether-cluster/sim` and the statecharts
 * at `aether-cluster/machines`.
 */

export {
  type ActiveFault,
  type Fault,
  type FaultController,
  type MemoryConnection,
  type MemoryTransport,
  type MemoryTransportOptions,
  memoryTransport,
  seededRandom,
} from './adapters/memory/index.js';
export {
  type NatsConnectionHandle,
  type NatsTransport,
  type NatsTransportOptions,
  natsTransport,
  type StoreWarning,
} from './adapters/nats/index.js';
export { DEFAULT_TIMING, FAST_TIMING, resolveTiming, type TimingConfig } from './config.js';
export { ClusterNode, createClusterNode } from './create-node.js';
export { apply, replay } from './domain/apply.js';
export type { RejectionCode } from './domain/commands.js';
export {
  CasConflictError,
  ClusterError,
  type ClusterErrorCode,
  CommandRejectedError,
  InvalidConfigError,
  InvalidValueError,
  InvariantViolationError,
  isCasConflict,
  isClusterError,
  isInvariantViolation,
  isKeyExists,
  isTimeout,
  KeyExistsError,
  NotLeaderError,
  StoppedError,
  StoreMisconfiguredError,
  TimeoutError,
  TransportError,
} from './domain/errors.js';
export {
  DOMAIN_EVENT_TYPES,
  type DomainEvent,
  type DomainEventOf,
  type DomainEventType,
  type LeaderElected,
  type LeadershipLost,
  type LeadershipLostReason,
  type LeadershipRenewed,
  type NodeDraining,
  type NodeFailed,
  type NodeJoined,
  type NodeLeft,
  type ParseResult,
  type PlannedMove,
  parseDomainEvent,
  type RebalanceReason,
  type RebalancingCompleted,
  type RebalancingTriggered,
  type ShardAssigned,
  type ShardMigrated,
} from './domain/events.js';
export type {
  PlacementInput,
  PlacementNode,
  PlacementResult,
  PlacementStrategy,
} from './domain/placement-strategy.js';
export { type ActiveRebalance, type ClusterState, initialClusterState } from './domain/state.js';
export {
  DEFAULT_SHARD_COUNT,
  type NodeId,
  type NodeInfo,
  type NodeStatus,
  type ShardId,
  type ShardMap,
  shardForKey,
  type Term,
} from './domain/values.js';
export { createInspector, type Inspector, type InspectorOptions } from './observe/inspection-bridge.js';
export type { ClusterView, HandoffView, InspectionEvent, Observation } from './observe/observation.js';
export { BalancedPlacement, ConsistentHashPlacement } from './placement/index.js';
export type { AuditLog, BusMessage, MessageBus } from './ports/bus.js';
export { type Clock, systemClock, type TimerHandle } from './ports/clock.js';
export type { KvBucket, KvBucketOptions, KvChange, KvEntry, Unsubscribe } from './ports/kv.js';
export { SimulatedClock } from './ports/simulated-clock.js';
export type { Connection, ConnectionStatus, Transport } from './ports/transport.js';
export type { NodeCounters } from './runtime/cluster-node.js';
export type { ClusterNodeOptions } from './runtime/options.js';
export {
  type ControlAction,
  type ControlRequest,
  type ControlResult,
  type Relay,
  type RelayLogger,
  type RelayOptions,
  type RelayState,
  type RelayStats,
  startRelay,
} from './visualizer/relay.js';
