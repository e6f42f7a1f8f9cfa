/**
 * Aether Cluster: cluster coordination for actor runtimes.
 *
 * ```ts
 * import { createClusterNode, memoryTransport } from 'aether-cluster';
 * const transport = memoryTransport();
 * const node = createClusterNode({ nodeId: 'n1', cluster: 'demo', transport });
 * await node.start();
 * ```
 */
export {
  type FaultController,
  type MemoryTransport,
  memoryTransport,
  seededRandom,
} from './adapters/memory/index.js';
export { type NatsTransport, type NatsTransportOptions, natsTransport } from './adapters/nats/index.js';
export { DEFAULT_TIMING, FAST_TIMING, resolveTiming, type TimingConfig } from './config.js';
export { ClusterNode, createClusterNode } from './create-node.js';
export * from './domain/index.js';
export { createInspector, type Inspector, type InspectorOptions } from './observe/inspection-bridge.js';
export type { ClusterView, HandoffView, InspectionEvent, Observation } from './observe/observation.js';
export { BalancedPlacement, ConsistentHashPlacement, HashRing } from './placement/index.js';
export type {
  PlacementInput,
  PlacementNode,
  PlacementResult,
  PlacementStrategy,
} from './placement/strategy.js';
export type { AuditLog, BusMessage, MessageBus } from './ports/bus.js';
export { type Clock, systemClock } from './ports/clock.js';
export type { KvBucket, KvBucketOptions, KvChange, KvEntry, Unsubscribe } from './ports/kv.js';
export { SimulatedClock } from './ports/simulated-clock.js';
export type { Connection, ConnectionStatus, Transport } from './ports/transport.js';
export type { NodeCounters } from './runtime/cluster-node.js';
export type { ClusterNodeOptions } from './runtime/options.js';
export { type Relay, type RelayOptions, startRelay } from './visualizer/relay.js';
