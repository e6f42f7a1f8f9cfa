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

/**
 * The last incarnation of a node whose record was compacted away: a join or heartbeat of this
 * incarnation or an older one comes from a process that already departed, and is refused.
 */
export interface RetiredNode {
  readonly id: NodeId;
  readonly incarnation: number;
}

/**
 * Most tombstones kept in {@link ClusterState.retired}; the oldest is forgotten first. A domain constant
 * rather than a setting, because every node must apply `NodeRemoved` to the same state. At ~45 bytes
 * each (short ids) this caps the tombstones at ~6 KB of the topology record. Removal happens only after
 * the departed-retention time, so a tombstone is dropped only after 128 further removals: even at a
 * churn of 10 departures a minute a departed incarnation stays fenced for twice a 10-minute retention.
 */
export const MAX_RETIRED_NODES = 128;

export interface ClusterState {
  readonly shardCount: number;
  /**
   * Nodes admitted and not yet compacted, keyed by id. Left and Failed nodes stay until their departure
   * is older than the retention (`compactDeparted`), then move to {@link retired}.
   */
  readonly nodes: Readonly<Record<NodeId, NodeInfo>>;
  /**
   * Tombstones of compacted nodes, oldest first, at most {@link MAX_RETIRED_NODES}, and never for an id
   * that is in `nodes`. Per id rather than one watermark across ids: incarnations are start times read
   * from each host's own clock, so comparing one node's incarnation with another's is meaningless (a host
   * whose clock lags would never get a fresh node admitted again).
   */
  readonly retired: readonly RetiredNode[];
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
    retired: [],
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

/**
 * The incarnation under which `nodeId` was compacted away, or null when it has no tombstone. Only a
 * newer incarnation of that id may join again; heartbeats of this one or older are stale.
 */
export function retiredIncarnation(state: ClusterState, nodeId: NodeId): number | null {
  for (const r of state.retired) if (r.id === nodeId) return r.incarnation;
  return null;
}
