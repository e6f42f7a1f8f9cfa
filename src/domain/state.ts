/**
 * The state of the three aggregates — Cluster (nodes), LeadershipLease (leader, term) and
 * ShardAssignment (shard map, rebalance) — held together as one immutable value. `apply` in
 * `apply.ts` is the only way to move from one state to the next.
 */
import type { PlannedMove, RebalanceReason } from './events.js';
import type { NodeId, NodeInfo, ShardId, ShardMap, Term } from './values.js';
import { DEFAULT_SHARD_COUNT, emptyShardMap } from './values.js';

/** A rebalance that has been triggered and not yet completed. */
export interface ActiveRebalance {
  readonly rebalanceId: string;
  readonly reason: RebalanceReason;
  readonly epoch: number;
  readonly term: Term;
  readonly startedAt: number;
  /** Moves not yet done, in order (recovery first, then drain, then balance). */
  readonly remaining: readonly PlannedMove[];
  readonly moved: number;
}

export interface ClusterState {
  readonly shardCount: number;
  /** Every node ever admitted, keyed by id (Left and Failed nodes stay, for history and incarnation checks). */
  readonly nodes: Readonly<Record<NodeId, NodeInfo>>;
  /** Current leader, or null when none is known. */
  readonly leader: { readonly nodeId: NodeId; readonly term: Term } | null;
  /** Highest term ever seen; terms never go back. */
  readonly highestTerm: Term;
  readonly shardMap: ShardMap;
  /** Shards whose owner failed or left and that await a recovery assignment, in ascending order. */
  readonly orphaned: readonly ShardId[];
  /**
   * The owner each orphaned shard had before it was orphaned (keys are shard ids), so that the
   * recovery `ShardAssigned` can name its `previous` owner. Entries leave with the shard's orphan status.
   */
  readonly orphanedFrom: Readonly<Record<ShardId, NodeId>>;
  /**
   * True once every shard has had an owner at the same moment. Before that, unowned shards that are not
   * orphaned are the normal state of a cluster that has not placed its shards yet; after it, every
   * unowned shard must be orphaned (invariant 2).
   */
  readonly bootstrapped: boolean;
  /** Bumped by every membership change (join, drain, fail, leave): the trigger for rebalancing. */
  readonly epoch: number;
  /**
   * Epoch of the last rebalance that achieved its plan: a rebalance needs `epoch > balancedEpoch`, or
   * orphaned/unplaced shards (invariant 4). A rebalance closed early, or one that left shards on a Draining
   * node, does not advance it, so the leader may plan again.
   */
  readonly balancedEpoch: number;
  readonly rebalance: ActiveRebalance | null;
}

/** The state of a cluster nobody has joined yet. */
export function initialClusterState(shardCount: number = DEFAULT_SHARD_COUNT): ClusterState {
  return {
    shardCount,
    nodes: {},
    leader: null,
    highestTerm: 0,
    shardMap: emptyShardMap(shardCount),
    orphaned: [],
    orphanedFrom: {},
    bootstrapped: false,
    epoch: 0,
    balancedEpoch: 0,
    rebalance: null,
  };
}

/** Ids of nodes in the given statuses, sorted (deterministic across nodes). */
export function nodesWithStatus(state: ClusterState, ...statuses: NodeInfo['status'][]): NodeId[] {
  return Object.values(state.nodes)
    .filter((n) => statuses.includes(n.status))
    .map((n) => n.id)
    .sort();
}
