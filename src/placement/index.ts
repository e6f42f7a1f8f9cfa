/** Shard placement: the strategy interface, the hash ring and the two strategies. */

export type {
  PlacementInput,
  PlacementNode,
  PlacementResult,
  PlacementStrategy,
} from '../domain/placement-strategy.js';
export { BalancedPlacement } from './balanced-placement.js';
export { ConsistentHashPlacement } from './consistent-hash-placement.js';
export {
  DEFAULT_VIRTUAL_NODES,
  HashRing,
  type HashRingOptions,
  shardPoint,
  virtualNodePoint,
} from './hash-ring.js';
