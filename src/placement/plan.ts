/**
 * Shared steps of the placement strategies: validating and indexing the input, and turning a target
 * per shard into ordered, budgeted moves.
 * @internal
 */

import { InvalidValueError } from '../domain/errors.js';
import type { PlannedMove } from '../domain/events.js';
import type { PlacementInput, PlacementNode, PlacementResult } from '../domain/placement-strategy.js';
import { type NodeId, shardCount as validShardCount } from '../domain/values.js';
import { HashRing, type HashRingOptions, shardPoint, sortedNodes } from './hash-ring.js';

/** Why a shard is not where it must stay: its owner is Active (0), gone or null (1), or draining (2). */
export const KEPT = 0;
export const RECOVERY = 1;
export const DRAIN = 2;

/** The input of one `place` call, validated and indexed by node index (rank of the id among Active nodes). */
export interface PreparedInput {
  readonly shardCount: number;
  readonly previous: readonly (NodeId | null)[];
  /** Active nodes (those in `nodes` and not draining), sorted by id; index = node index. */
  readonly active: readonly PlacementNode[];
  readonly ring: HashRing;
  /** Per shard: KEPT, RECOVERY or DRAIN. */
  readonly kind: Uint8Array;
  /** Per shard: node index of the current owner when KEPT, else -1. */
  readonly owner: Int32Array;
  /** Per shard: index of the first ring point at or after the shard's position. */
  readonly start: Uint32Array;
  /** Per shard: node index the ring prefers. */
  readonly preferred: Uint32Array;
  /** Limit on drain + balance moves. */
  readonly budget: number;
}

/**
 * Validates `input` and indexes it. Throws {@link InvalidValueError} when there is no node to place
 * on, when `previous` does not hold one entry per shard, or when a node or limit is malformed.
 */
export function prepare(input: PlacementInput, ringOptions?: HashRingOptions): PreparedInput {
  const count = validShardCount(input.shardCount);
  if (!Array.isArray(input.previous) || input.previous.length !== count) {
    throw new InvalidValueError(
      `previous owners must hold one entry per shard (${count}), got ${String(input.previous?.length)}`,
    );
  }
  if (input.nodes.length === 0) throw new InvalidValueError('placement needs at least one node to place on');
  const budget = input.maxMoves ?? Number.POSITIVE_INFINITY;
  if (typeof budget !== 'number' || Number.isNaN(budget) || budget < 0) {
    throw new InvalidValueError(`maxMoves must be a non-negative number, got ${String(input.maxMoves)}`);
  }
  const draining = new Set(input.draining ?? []);
  // A node both listed and draining receives nothing: draining wins.
  const active = sortedNodes(input.nodes).filter((n) => !draining.has(n.id));
  if (active.length === 0) {
    throw new InvalidValueError('placement needs at least one node that is not draining to place on');
  }
  const ring = new HashRing(active, ringOptions);

  const kind = new Uint8Array(count);
  const owner = new Int32Array(count).fill(-1);
  const start = new Uint32Array(count);
  const preferred = new Uint32Array(count);
  for (let s = 0; s < count; s++) {
    const prev = input.previous[s] ?? null;
    const idx = prev === null ? -1 : ring.indexOf(prev);
    if (idx >= 0) owner[s] = idx;
    else kind[s] = prev !== null && draining.has(prev) ? DRAIN : RECOVERY;
    const at = ring.locate(shardPoint(s));
    start[s] = at;
    preferred[s] = ring.ownerAt(at);
  }
  return { shardCount: count, previous: input.previous, active, ring, kind, owner, start, preferred, budget };
}

/**
 * Builds the result from a target node index per shard (-1 = stays). Moves come in the order
 * recovery, drain, balance, each by shard id; drain and balance moves share the budget, recovery
 * moves are never held back since an orphaned shard serves nobody. `owners` reflects exactly the
 * returned moves.
 */
export function finish(prepared: PreparedInput, target: Int32Array): PlacementResult {
  const { shardCount, previous, kind, ring } = prepared;
  const owners = new Array<NodeId>(shardCount);
  const recovery: PlannedMove[] = [];
  const drain: PlannedMove[] = [];
  const balance: PlannedMove[] = [];
  for (let s = 0; s < shardCount; s++) {
    const from = previous[s] ?? null;
    const t = target[s]!;
    // Every non-KEPT shard has a target, so `from` is non-null whenever t < 0.
    owners[s] = from as NodeId;
    if (t < 0) continue;
    const k = kind[s];
    const to = ring.nodes[t]!;
    if (k === RECOVERY) recovery.push({ shardId: s, from, to, reason: 'recovery' });
    else if (k === DRAIN) drain.push({ shardId: s, from, to, reason: 'drain' });
    else balance.push({ shardId: s, from, to, reason: 'balance' });
  }
  const moves: PlannedMove[] = [...recovery];
  let budget = prepared.budget;
  for (const m of [...drain, ...balance]) {
    if (budget < 1) break;
    moves.push(m);
    budget--;
  }
  for (const m of moves) owners[m.shardId] = m.to;
  return { owners, moves };
}
