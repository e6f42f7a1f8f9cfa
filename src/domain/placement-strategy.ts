/**
 * The placement strategy interface: pure and deterministic, so every node that runs it on the same
 * input computes the same shard map.
 */
import type { PlannedMove } from './events.js';
import type { NodeId } from './values.js';

/** A node that may receive shards, with its relative capacity. */
export interface PlacementNode {
  readonly id: NodeId;
  /** Relative capacity; defaults to 1. */
  readonly weight?: number;
}

export interface PlacementInput {
  readonly shardCount: number;
  /** Current owner of every shard (`null` = unowned: before bootstrap or orphaned). Length = shardCount. */
  readonly previous: readonly (NodeId | null)[];
  /** Nodes that may receive shards (Active). Order does not matter. */
  readonly nodes: readonly PlacementNode[];
  /** Nodes that keep their shards until handed off but receive none; their shards are moved with reason `drain`. */
  readonly draining?: readonly NodeId[];
  /** Upper bound on drain + balance moves in this round; recovery moves are never limited. */
  readonly maxMoves?: number;
}

export interface PlacementResult {
  /** The new owner of every shard after the returned moves. */
  readonly owners: readonly NodeId[];
  /** Moves in order: recovery (from a gone or null owner), then drain, then balance. */
  readonly moves: readonly PlannedMove[];
}

/** A placement strategy. `place` must be a pure function of its input. */
export interface PlacementStrategy {
  readonly name: string;
  place(input: PlacementInput): PlacementResult;
}
