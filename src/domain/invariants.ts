/**
 * The five invariants of the cluster, as structural checks over a {@link ClusterState}. `apply` runs
 * them after every event and throws; an online checker or a test calls {@link checkInvariants} to get
 * every violation as data.
 */
import { InvariantViolationError } from './errors.js';
import { type ClusterState, MAX_RETIRED_NODES } from './state.js';
import type { NodeId, ShardId, Term } from './values.js';

/** Names of the five invariants, as they appear in {@link InvariantViolationError.invariant}. */
export type InvariantName =
  | 'single-leader-per-term'
  | 'all-shards-owned'
  | 'shards-on-active-nodes'
  | 'assignments-change-only-on-topology-change'
  | 'leader-is-active';

export const INVARIANT_NAMES: readonly InvariantName[] = [
  'single-leader-per-term',
  'all-shards-owned',
  'shards-on-active-nodes',
  'assignments-change-only-on-topology-change',
  'leader-is-active',
];

/**
 * Not one of the five: `apply` reports it when an event cannot apply to the state at all (an unknown
 * node, a status the event does not start from, a shard out of range). It means the history is not the
 * one the state was built from.
 */
export const EVENT_FITS_STATE = 'event-fits-state';

/** One broken invariant, with a compact summary of the state that breaks it. */
export interface InvariantViolation {
  readonly invariant: InvariantName | typeof EVENT_FITS_STATE;
  readonly message: string;
  readonly evidence: StateSummary & { readonly offending?: unknown; readonly event?: unknown };
}

/** A compact, printable summary of a state: enough to see what is wrong without 1024 owners. */
export interface StateSummary {
  readonly leader: { readonly nodeId: NodeId; readonly term: Term } | null;
  readonly highestTerm: Term;
  readonly epoch: number;
  readonly balancedEpoch: number;
  readonly shardMap: { readonly version: number; readonly term: Term };
  /** `id: Status#incarnation` for every known node. */
  readonly nodes: Readonly<Record<NodeId, string>>;
  /** Shards owned per node. */
  readonly owned: Readonly<Record<NodeId, number>>;
  readonly unowned: number;
  /** The first orphaned shard ids (see `orphanedCount` for all). */
  readonly orphaned: readonly ShardId[];
  readonly orphanedCount: number;
  readonly bootstrapped: boolean;
  readonly rebalance: {
    readonly rebalanceId: string;
    readonly epoch: number;
    readonly term: Term;
    readonly remaining: number;
    readonly moved: number;
  } | null;
}

const MAX_LISTED = 16;

/** Summarizes a state for error messages and observation events. */
export function summarize(state: ClusterState): StateSummary {
  const nodes: Record<NodeId, string> = {};
  for (const id of Object.keys(state.nodes).sort()) {
    const n = state.nodes[id]!;
    nodes[id] = `${n.status}#${n.incarnation}`;
  }
  const owned: Record<NodeId, number> = {};
  let unowned = 0;
  for (const o of state.shardMap.owners) {
    if (o === null) unowned++;
    else owned[o] = (owned[o] ?? 0) + 1;
  }
  const r = state.rebalance;
  return {
    leader: state.leader,
    highestTerm: state.highestTerm,
    epoch: state.epoch,
    balancedEpoch: state.balancedEpoch,
    shardMap: { version: state.shardMap.version, term: state.shardMap.term },
    nodes,
    owned,
    unowned,
    orphaned: state.orphaned.slice(0, MAX_LISTED),
    orphanedCount: state.orphaned.length,
    bootstrapped: state.bootstrapped,
    rebalance: r
      ? {
          rebalanceId: r.rebalanceId,
          epoch: r.epoch,
          term: r.term,
          remaining: r.remaining.length,
          moved: r.moved,
        }
      : null,
  };
}

/** Builds a violation whose evidence is the state's summary plus the offending items (capped). */
export function violation(
  state: ClusterState,
  invariant: InvariantViolation['invariant'],
  message: string,
  offending?: unknown,
): InvariantViolation {
  const evidence = offending === undefined ? summarize(state) : { ...summarize(state), offending };
  return { invariant, message, evidence };
}

/** Turns a violation into the error `apply` throws. */
export function violationError(v: InvariantViolation): InvariantViolationError {
  return new InvariantViolationError(v.invariant, v.message, v.evidence);
}

/** True when at least one node is Active: the bootstrap exceptions apply only while none is. */
export function hasActiveNode(state: ClusterState): boolean {
  for (const n of Object.values(state.nodes)) if (n.status === 'Active') return true;
  return false;
}

/**
 * Checks the structural side of the five invariants and returns every violation (empty when the state
 * is sound). The transition side — a second leader for a term, a shard moved without a topology change —
 * needs the event too and is checked by `apply`.
 */
export function checkInvariants(state: ClusterState): InvariantViolation[] {
  const out: InvariantViolation[] = [];
  const owners = state.shardMap.owners;

  // 1. Single leader per term: the leader holds the highest term seen; the map was written by a known term.
  if (state.leader !== null && state.leader.term !== state.highestTerm) {
    out.push(
      violation(
        state,
        'single-leader-per-term',
        `leader ${state.leader.nodeId} holds term ${state.leader.term} but term ${state.highestTerm} was already elected`,
      ),
    );
  }
  if (state.shardMap.term > state.highestTerm) {
    out.push(
      violation(
        state,
        'single-leader-per-term',
        `shard map written in term ${state.shardMap.term}, above the highest elected term ${state.highestTerm}`,
      ),
    );
  }

  // 2. All shards owned: an unowned shard is orphaned (inside its recovery window) or not yet placed.
  if (owners.length !== state.shardCount) {
    out.push(
      violation(
        state,
        'all-shards-owned',
        `shard map has ${owners.length} owners for ${state.shardCount} shards`,
      ),
    );
  }
  const orphaned = new Set<ShardId>();
  const badOrphans: ShardId[] = [];
  for (const s of state.orphaned) {
    if (orphaned.has(s) || !Number.isInteger(s) || s < 0 || s >= owners.length || owners[s] !== null) {
      badOrphans.push(s);
    }
    orphaned.add(s);
  }
  if (badOrphans.length > 0) {
    out.push(
      violation(
        state,
        'all-shards-owned',
        `orphaned list holds ${badOrphans.length} shard(s) that are owned, duplicated or out of range`,
        badOrphans.slice(0, MAX_LISTED).map((s) => ({ shardId: s, owner: owners[s] ?? null })),
      ),
    );
  }
  if (state.bootstrapped) {
    const lost: ShardId[] = [];
    owners.forEach((o, s) => {
      if (o === null && !orphaned.has(s)) lost.push(s);
    });
    if (lost.length > 0) {
      out.push(
        violation(
          state,
          'all-shards-owned',
          `${lost.length} shard(s) have no owner and are not orphaned awaiting recovery: ${listed(lost)}`,
          lost.slice(0, MAX_LISTED),
        ),
      );
    }
  }

  // 3. Shards only on Active nodes (a Draining node keeps what it has until handed off).
  const misplaced: { shardId: ShardId; owner: NodeId; status: string }[] = [];
  owners.forEach((o, s) => {
    if (o === null) return;
    const status = state.nodes[o]?.status ?? 'unknown';
    if (status !== 'Active' && status !== 'Draining') misplaced.push({ shardId: s, owner: o, status });
  });
  if (misplaced.length > 0) {
    const first = misplaced[0]!;
    out.push(
      violation(
        state,
        'shards-on-active-nodes',
        `${misplaced.length} shard(s) owned by nodes that are not Active, e.g. shard ${first.shardId} on ${first.owner} (${first.status})`,
        misplaced.slice(0, MAX_LISTED),
      ),
    );
  }

  // 4. Assignments change only on topology changes: epochs stay ordered.
  if (state.balancedEpoch > state.epoch) {
    out.push(
      violation(
        state,
        'assignments-change-only-on-topology-change',
        `balanced epoch ${state.balancedEpoch} is ahead of topology epoch ${state.epoch}`,
      ),
    );
  }
  if (state.rebalance !== null && state.rebalance.epoch > state.epoch) {
    out.push(
      violation(
        state,
        'assignments-change-only-on-topology-change',
        `rebalance ${state.rebalance.rebalanceId} planned for epoch ${state.rebalance.epoch}, ahead of topology epoch ${state.epoch}`,
      ),
    );
  }

  // 5. The leader is Active — except at bootstrap, when no node is Active yet and the leader joins first.
  if (state.leader !== null) {
    const status = state.nodes[state.leader.nodeId]?.status ?? 'not a member';
    if (status !== 'Active' && hasActiveNode(state)) {
      out.push(
        violation(
          state,
          'leader-is-active',
          `leader ${state.leader.nodeId} (term ${state.leader.term}) is ${status}, not Active`,
        ),
      );
    }
  }

  // Not one of the five: tombstones must stay bounded and never shadow a node on record, or joins would
  // be judged against the wrong incarnation.
  const tombstones = new Set<NodeId>();
  for (const r of state.retired) {
    if (tombstones.has(r.id) || state.nodes[r.id] !== undefined) {
      out.push(
        violation(
          state,
          EVENT_FITS_STATE,
          `node ${r.id} has a tombstone (#${r.incarnation}) ${tombstones.has(r.id) ? 'twice' : 'and a record'}`,
        ),
      );
      break;
    }
    tombstones.add(r.id);
  }
  if (state.retired.length > MAX_RETIRED_NODES) {
    out.push(
      violation(
        state,
        EVENT_FITS_STATE,
        `${state.retired.length} tombstones kept, above the cap of ${MAX_RETIRED_NODES}`,
      ),
    );
  }
  return out;
}

/** Throws the first violation of {@link checkInvariants}, if any. */
export function assertInvariants(state: ClusterState): void {
  const v = checkInvariants(state)[0];
  if (v !== undefined) throw violationError(v);
}

function listed(ids: readonly number[]): string {
  const head = ids.slice(0, MAX_LISTED).join(', ');
  return ids.length > MAX_LISTED ? `${head}, … (${ids.length} in all)` : head;
}
