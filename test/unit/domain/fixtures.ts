/**
 * Shared fixtures for the domain tests: a deterministic stamp, a tiny placement strategy, and a helper
 * that runs a command and applies its events.
 */
import { expect } from 'vitest';
import { applyAll } from '../../../src/domain/apply.js';
import type { CommandResult, Rejection } from '../../../src/domain/commands.js';
import { electLeader, joinCluster, rebalanceShards } from '../../../src/domain/commands.js';
import type { DomainEvent, EventStamp, PlannedMove } from '../../../src/domain/events.js';
import type {
  PlacementInput,
  PlacementResult,
  PlacementStrategy,
} from '../../../src/domain/placement-strategy.js';
import type { ClusterState } from '../../../src/domain/state.js';
import { initialClusterState } from '../../../src/domain/state.js';
import type { NodeId } from '../../../src/domain/values.js';

/** A stamp whose ids count up from 1: `${origin}-${n}`. */
export function stampFor(origin: NodeId, now = 1_000): EventStamp {
  let seq = 0;
  return { origin, now, nextId: () => `${origin}-${++seq}` };
}

/**
 * Keeps every shard whose owner is Active; gives unowned and gone-owner shards (recovery), then
 * Draining nodes' shards (drain), to the least loaded Active node; then moves shards from the most to
 * the least loaded node while they differ by more than one (balance). Drain + balance moves respect
 * `maxMoves`. Deterministic: ties go to the smallest node id and the lowest shard.
 */
export class LeastLoadedTestPlacement implements PlacementStrategy {
  readonly name = 'least-loaded-test';

  place(input: PlacementInput): PlacementResult {
    const ids = input.nodes.map((n) => n.id).sort();
    const active = new Set(ids);
    const draining = new Set(input.draining ?? []);
    const owners = input.previous.slice();
    const load = new Map<NodeId, number>(ids.map((id) => [id, 0]));
    for (const o of owners) if (o !== null && active.has(o)) load.set(o, load.get(o)! + 1);
    const least = (): NodeId => ids.reduce((best, id) => (load.get(id)! < load.get(best)! ? id : best));
    const most = (): NodeId => ids.reduce((best, id) => (load.get(id)! > load.get(best)! ? id : best));
    const moves: PlannedMove[] = [];
    const moved = new Set<number>();
    const move = (shardId: number, to: NodeId, reason: PlannedMove['reason']): void => {
      const from = input.previous[shardId] ?? null;
      moves.push({ shardId, from, to, reason });
      moved.add(shardId);
      owners[shardId] = to;
      load.set(to, load.get(to)! + 1);
      if (from !== null && load.has(from)) load.set(from, load.get(from)! - 1);
    };
    for (let s = 0; s < input.shardCount; s++) {
      const o = input.previous[s] ?? null;
      if (o === null || (!active.has(o) && !draining.has(o))) move(s, least(), 'recovery');
    }
    let budget = input.maxMoves ?? Number.POSITIVE_INFINITY;
    for (let s = 0; s < input.shardCount && budget > 0; s++) {
      const o = input.previous[s] ?? null;
      if (o !== null && draining.has(o)) {
        move(s, least(), 'drain');
        budget--;
      }
    }
    while (budget > 0) {
      const hi = most();
      const lo = least();
      if (load.get(hi)! - load.get(lo)! <= 1) break;
      const s = owners.findIndex((o, i) => o === hi && input.previous[i] === hi && !moved.has(i));
      if (s < 0) break;
      move(s, lo, 'balance');
      budget--;
    }
    return { owners: owners as NodeId[], moves };
  }
}

/** Asserts the command was accepted and returns its events. */
export function accepted(r: CommandResult): DomainEvent[] {
  if (!r.ok)
    expect.fail(`expected the command to be accepted, got ${r.rejection.code}: ${r.rejection.message}`);
  return r.events;
}

/** Asserts the command was rejected and returns the rejection. */
export function rejected(r: CommandResult): Rejection {
  if (r.ok) expect.fail(`expected a rejection, got events ${r.events.map((e) => e.type).join(', ')}`);
  return r.rejection;
}

/** Runs an accepted command's events through `applyAll`. */
export function run(state: ClusterState, r: CommandResult): ClusterState {
  return applyAll(state, accepted(r));
}

/**
 * A bootstrapped cluster: `nodes[0]` wins term 1 and joins first, the rest join, and a bootstrap
 * rebalance places every shard with {@link LeastLoadedTestPlacement}.
 */
export function bootstrapped(nodes: readonly NodeId[] = ['n1', 'n2', 'n3'], shardCount = 12): ClusterState {
  const leader = nodes[0]!;
  const s = stampFor(leader);
  let state = initialClusterState(shardCount);
  state = run(state, electLeader(state, { nodeId: leader, term: 1 }, s));
  for (const id of nodes) state = run(state, joinCluster(state, { nodeId: id, incarnation: 1 }, s));
  state = run(
    state,
    rebalanceShards(
      state,
      { strategy: new LeastLoadedTestPlacement(), reason: 'bootstrap', rebalanceId: 'rb-boot' },
      s,
    ),
  );
  return state;
}

/** Strips the per-event unique id, for comparing event streams produced by different stamps. */
export function withoutIds(events: readonly DomainEvent[]): Omit<DomainEvent, 'id'>[] {
  return events.map(({ id: _id, ...rest }) => rest);
}
