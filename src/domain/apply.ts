/**
 * `apply(state, event)`: the only way from one {@link ClusterState} to the next. It checks the
 * transition side of the invariants against the event (a second leader for a term, a shard moved
 * without a topology change, a write from a deposed term), builds the next state, checks the structural
 * side with {@link checkInvariants}, and throws {@link InvariantViolationError} naming the broken
 * invariant and printing a summary of the offending state.
 */
import type { InvariantViolationError } from './errors.js';
import type {
  DomainEvent,
  LeaderElected,
  LeadershipLost,
  LeadershipRenewed,
  NodeDraining,
  NodeFailed,
  NodeJoined,
  NodeLeft,
  NodeRemoved,
  PlannedMove,
  RebalancingCompleted,
  RebalancingTriggered,
  ShardAssigned,
  ShardMigrated,
} from './events.js';
import {
  checkInvariants,
  EVENT_FITS_STATE,
  type InvariantViolation,
  violation,
  violationError,
} from './invariants.js';
import type { ActiveRebalance, ClusterState, RetiredNode } from './state.js';
import { initialClusterState, MAX_RETIRED_NODES, retiredIncarnation } from './state.js';
import type { NodeId, NodeInfo, ShardId } from './values.js';

/**
 * Applies one event and returns the next state; `state` is not modified.
 *
 * Every event raises `shardMap.version` to at least `event.version`: the committing runtime writes the
 * resulting state with that version, so a follower that applies the same events holds the same version.
 *
 * @throws InvariantViolationError when the event would break an invariant, or (invariant
 *   `event-fits-state`) cannot apply to this state at all.
 */
export function apply(state: ClusterState, event: DomainEvent): ClusterState {
  const next = transition(state, event);
  const v = checkInvariants(next)[0];
  if (v !== undefined) throw withEvent(v, event);
  return next;
}

/**
 * Applies events in order, as `apply` one by one would. The structural invariants are checked on the
 * final state (a batch of a thousand assignments would otherwise check a thousand intermediate maps);
 * only when that finds a violation are the events applied one by one again, to name the first
 * offending event exactly as `apply` would.
 */
export function applyAll(state: ClusterState, events: readonly DomainEvent[]): ClusterState {
  let s = state;
  for (const e of events) s = transition(s, e);
  if (checkInvariants(s).length === 0) return s;
  s = state;
  for (const e of events) s = apply(s, e);
  return s;
}

/** Rebuilds the state from a full history, starting from an empty cluster of `shardCount` shards. */
export function replay(events: readonly DomainEvent[], shardCount?: number): ClusterState {
  return applyAll(initialClusterState(shardCount), events);
}

// ---- transitions -------------------------------------------------------------------------------------

function transition(state: ClusterState, event: DomainEvent): ClusterState {
  const s = versioned(state, event);
  switch (event.type) {
    case 'NodeJoined':
      return nodeJoined(s, event);
    case 'NodeDraining':
      return nodeDraining(s, event);
    case 'NodeFailed':
    case 'NodeLeft':
      return nodeGone(s, event);
    case 'NodeRemoved':
      return nodeRemoved(s, event);
    case 'LeaderElected':
      return leaderElected(s, event);
    case 'LeadershipRenewed':
      return leadershipRenewed(s, event);
    case 'LeadershipLost':
      return leadershipLost(s, event);
    case 'RebalancingTriggered':
      return rebalancingTriggered(s, event);
    case 'ShardAssigned':
      return shardAssigned(s, event);
    case 'ShardMigrated':
      return shardMigrated(s, event);
    case 'RebalancingCompleted':
      return rebalancingCompleted(s, event);
  }
}

function versioned(state: ClusterState, event: DomainEvent): ClusterState {
  if (event.version <= state.shardMap.version) return state;
  return { ...state, shardMap: { ...state.shardMap, version: event.version } };
}

function nodeJoined(state: ClusterState, e: NodeJoined): ClusterState {
  fenced(state, e);
  const known = state.nodes[e.nodeId];
  // The one re-admission of a member still on record: the leader's own newer process (see joinCluster).
  const leaderRestarted =
    known !== undefined &&
    state.leader?.nodeId === e.nodeId &&
    e.origin === e.nodeId &&
    e.incarnation > known.incarnation;
  if (known !== undefined && (known.status === 'Active' || known.status === 'Draining') && !leaderRestarted) {
    fail(
      state,
      e,
      EVENT_FITS_STATE,
      `${e.nodeId} joined while already ${known.status} (#${known.incarnation})`,
    );
  }
  if (known !== undefined && e.incarnation <= known.incarnation) {
    fail(
      state,
      e,
      EVENT_FITS_STATE,
      `${e.nodeId} joined with incarnation ${e.incarnation}, not above the known ${known.incarnation}`,
    );
  }
  const retired = retiredIncarnation(state, e.nodeId);
  if (retired !== null && e.incarnation <= retired) {
    fail(
      state,
      e,
      EVENT_FITS_STATE,
      `${e.nodeId} joined with incarnation ${e.incarnation}, but incarnation ${retired} departed and was removed`,
    );
  }
  const info: NodeInfo = {
    id: e.nodeId,
    status: 'Active',
    incarnation: e.incarnation,
    lastSeen: e.at,
    weight: e.weight,
  };
  return {
    ...state,
    nodes: { ...state.nodes, [e.nodeId]: info },
    // The record of the newer incarnation fences the older ones from now on: the tombstone is redundant.
    retired: retired === null ? state.retired : state.retired.filter((r) => r.id !== e.nodeId),
    epoch: state.epoch + 1,
  };
}

function nodeDraining(state: ClusterState, e: NodeDraining): ClusterState {
  fenced(state, e);
  const known = state.nodes[e.nodeId];
  if (known?.status !== 'Active') {
    fail(state, e, EVENT_FITS_STATE, `${e.nodeId} started draining while ${known?.status ?? 'unknown'}`);
  }
  return {
    ...state,
    nodes: { ...state.nodes, [e.nodeId]: { ...known, status: 'Draining' } },
    epoch: state.epoch + 1,
  };
}

function nodeGone(state: ClusterState, e: NodeFailed | NodeLeft): ClusterState {
  fenced(state, e);
  const known = state.nodes[e.nodeId];
  if (known === undefined || (known.status !== 'Active' && known.status !== 'Draining')) {
    fail(state, e, EVENT_FITS_STATE, `${e.type} for ${e.nodeId}, which is ${known?.status ?? 'unknown'}`);
  }
  if (e.type === 'NodeFailed' && e.incarnation !== known.incarnation) {
    fail(
      state,
      e,
      EVENT_FITS_STATE,
      `NodeFailed for ${e.nodeId}#${e.incarnation}, but the member is #${known.incarnation}`,
    );
  }
  const owned = ownedBy(state.shardMap.owners, e.nodeId);
  if (!sameShards(owned, e.orphaned)) {
    fail(
      state,
      e,
      EVENT_FITS_STATE,
      `${e.type} for ${e.nodeId} orphans ${e.orphaned.length} shard(s) but the node owns ${owned.length}`,
      { owned: owned.slice(0, 16), orphaned: e.orphaned.slice(0, 16) },
    );
  }
  const info: NodeInfo =
    e.type === 'NodeFailed'
      ? { ...known, status: 'Failed', lastSeen: e.lastSeen, departedAt: e.at }
      : { ...known, status: 'Left', departedAt: e.at };
  let next: ClusterState = {
    ...state,
    nodes: { ...state.nodes, [e.nodeId]: info },
    leader: state.leader?.nodeId === e.nodeId ? null : state.leader,
    epoch: state.epoch + 1,
  };
  if (owned.length > 0) {
    const owners = state.shardMap.owners.slice();
    const from: Record<ShardId, NodeId> = { ...state.orphanedFrom };
    for (const s of owned) {
      owners[s] = null;
      from[s] = e.nodeId;
    }
    next = {
      ...next,
      shardMap: { ...next.shardMap, owners, term: e.term },
      orphaned: mergeSorted(state.orphaned, owned),
      orphanedFrom: from,
    };
  }
  return next;
}

/**
 * Drops a departed node's record and keeps a tombstone of its incarnation, forgetting the oldest
 * tombstone beyond {@link MAX_RETIRED_NODES}. Not a topology change: the node owns and receives no shard,
 * so the epoch stays and no rebalance follows.
 */
function nodeRemoved(state: ClusterState, e: NodeRemoved): ClusterState {
  fenced(state, e);
  const known = state.nodes[e.nodeId];
  if (known === undefined || known.status !== e.status || known.incarnation !== e.incarnation) {
    fail(
      state,
      e,
      EVENT_FITS_STATE,
      `NodeRemoved for ${e.nodeId}#${e.incarnation} (${e.status}), but the record is ${
        known ? `${known.status}#${known.incarnation}` : 'absent'
      }`,
    );
  }
  const reference = departedReference(state, e.nodeId);
  if (reference !== null) {
    fail(state, e, EVENT_FITS_STATE, `NodeRemoved for ${e.nodeId}, which ${reference}`);
  }
  const nodes = { ...state.nodes };
  delete nodes[e.nodeId];
  const retired: RetiredNode[] = [
    ...state.retired.filter((r) => r.id !== e.nodeId),
    { id: e.nodeId, incarnation: e.incarnation },
  ];
  return { ...state, nodes, retired: retired.slice(-MAX_RETIRED_NODES) };
}

function leaderElected(state: ClusterState, e: LeaderElected): ClusterState {
  if (e.term <= state.highestTerm) {
    fail(
      state,
      e,
      'single-leader-per-term',
      `${e.nodeId} elected for term ${e.term}, but term ${state.highestTerm} was already elected${
        state.leader ? ` (leader ${state.leader.nodeId})` : ''
      }`,
    );
  }
  // Whether the new leader is Active is the structural check `leader-is-active`, run after every event.
  return { ...state, leader: { nodeId: e.nodeId, term: e.term }, highestTerm: e.term };
}

function leadershipRenewed(state: ClusterState, e: LeadershipRenewed): ClusterState {
  const l = state.leader;
  if (l === null || l.nodeId !== e.nodeId || l.term !== e.term) {
    fail(
      state,
      e,
      'single-leader-per-term',
      `${e.nodeId} renewed leadership for term ${e.term}, but the leader is ${
        l ? `${l.nodeId} (term ${l.term})` : 'none'
      }`,
    );
  }
  return state;
}

function leadershipLost(state: ClusterState, e: LeadershipLost): ClusterState {
  const l = state.leader;
  if (l !== null && l.nodeId === e.nodeId && l.term === e.term) return { ...state, leader: null };
  if (l !== null && l.term === e.term) {
    fail(
      state,
      e,
      'single-leader-per-term',
      `${e.nodeId} lost leadership of term ${e.term}, which ${l.nodeId} holds`,
    );
  }
  // A loss from an older term (already superseded) or a repeated one changes nothing.
  return state;
}

function rebalancingTriggered(state: ClusterState, e: RebalancingTriggered): ClusterState {
  fenced(state, e);
  if (state.rebalance !== null) {
    fail(
      state,
      e,
      EVENT_FITS_STATE,
      `rebalance ${e.rebalanceId} triggered while ${state.rebalance.rebalanceId} is still in progress`,
    );
  }
  if (e.epoch !== state.epoch) {
    fail(
      state,
      e,
      EVENT_FITS_STATE,
      `rebalance planned for epoch ${e.epoch}, but the topology is at ${state.epoch}`,
    );
  }
  if (!topologyChanged(state)) {
    fail(
      state,
      e,
      'assignments-change-only-on-topology-change',
      `rebalance ${e.rebalanceId} (${e.reason}) triggered at epoch ${state.epoch}, already balanced, with no orphaned or unplaced shard`,
    );
  }
  const rebalance: ActiveRebalance = {
    rebalanceId: e.rebalanceId,
    reason: e.reason,
    epoch: e.epoch,
    term: e.term,
    startedAt: e.at,
    remaining: e.plan,
    moved: 0,
  };
  return { ...state, rebalance, shardMap: { ...state.shardMap, term: e.term } };
}

function shardAssigned(state: ClusterState, e: ShardAssigned): ClusterState {
  fenced(state, e);
  inRange(state, e, e.shardId);
  const owner = state.shardMap.owners[e.shardId] ?? null;
  if (owner !== null) {
    fail(
      state,
      e,
      'assignments-change-only-on-topology-change',
      `shard ${e.shardId} assigned to ${e.nodeId} while owned by ${owner}: an owned shard moves only by a planned hand-off`,
      { shardId: e.shardId, owner },
    );
  }
  const target = state.nodes[e.nodeId]?.status ?? 'unknown';
  if (target !== 'Active') {
    fail(
      state,
      e,
      'shards-on-active-nodes',
      `shard ${e.shardId} assigned to ${e.nodeId}, which is ${target}`,
      {
        shardId: e.shardId,
        nodeId: e.nodeId,
        status: target,
      },
    );
  }
  const owners = state.shardMap.owners.slice();
  owners[e.shardId] = e.nodeId;
  const from: Record<ShardId, NodeId> = { ...state.orphanedFrom };
  delete from[e.shardId];
  return bootstrapCheck({
    ...state,
    shardMap: { ...state.shardMap, owners, term: e.term },
    orphaned: state.orphaned.filter((s) => s !== e.shardId),
    orphanedFrom: from,
    rebalance: moveDone(state.rebalance, e.shardId, e.nodeId),
  });
}

function shardMigrated(state: ClusterState, e: ShardMigrated): ClusterState {
  fenced(state, e);
  inRange(state, e, e.shardId);
  const r = state.rebalance;
  if (r === null) {
    fail(
      state,
      e,
      'assignments-change-only-on-topology-change',
      `shard ${e.shardId} migrated ${e.from} → ${e.to} with no rebalance in progress`,
    );
  }
  if (!r.remaining.some((m) => m.shardId === e.shardId && m.from === e.from && m.to === e.to)) {
    fail(
      state,
      e,
      'assignments-change-only-on-topology-change',
      `shard ${e.shardId} migrated ${e.from} → ${e.to}, a move rebalance ${r.rebalanceId} did not plan (or already made)`,
    );
  }
  const owner = state.shardMap.owners[e.shardId] ?? null;
  if (owner !== e.from) {
    fail(
      state,
      e,
      'assignments-change-only-on-topology-change',
      `shard ${e.shardId} migrated from ${e.from}, but its owner is ${owner ?? 'none'}`,
      { shardId: e.shardId, owner },
    );
  }
  const target = state.nodes[e.to]?.status ?? 'unknown';
  if (target !== 'Active') {
    fail(state, e, 'shards-on-active-nodes', `shard ${e.shardId} migrated to ${e.to}, which is ${target}`, {
      shardId: e.shardId,
      nodeId: e.to,
      status: target,
    });
  }
  const owners = state.shardMap.owners.slice();
  owners[e.shardId] = e.to;
  return bootstrapCheck({
    ...state,
    shardMap: { ...state.shardMap, owners, term: e.term },
    rebalance: moveDone(r, e.shardId, e.to),
  });
}

function rebalancingCompleted(state: ClusterState, e: RebalancingCompleted): ClusterState {
  const r = state.rebalance;
  if (r === null || r.rebalanceId !== e.rebalanceId) {
    fail(
      state,
      e,
      EVENT_FITS_STATE,
      `rebalance ${e.rebalanceId} completed, but the one in progress is ${r?.rebalanceId ?? 'none'}`,
    );
  }
  // Only a plan carried out in full marks its epoch balanced; after an early finish, or while a Draining
  // node still holds shards (a plan cut short by maxMoves), the leader must be able to plan again.
  const achieved = e.skipped === 0 && r.remaining.length === 0 && !drainingOwnsShards(state);
  return {
    ...state,
    rebalance: null,
    balancedEpoch: achieved ? Math.max(state.balancedEpoch, r.epoch) : state.balancedEpoch,
  };
}

// ---- helpers ----------------------------------------------------------------------------------------

/**
 * True when the topology differs from the last balanced one: membership changed since, shards are
 * orphaned, or some shard was never placed. Only then may assignments change (invariant 4).
 */
export function topologyChanged(state: ClusterState): boolean {
  return (
    state.epoch > state.balancedEpoch ||
    state.orphaned.length > 0 ||
    state.shardMap.owners.some((o) => o === null)
  );
}

/** Shards owned by `node`, ascending. */
export function ownedBy(owners: readonly (NodeId | null)[], node: NodeId): ShardId[] {
  const out: ShardId[] = [];
  owners.forEach((o, s) => {
    if (o === node) out.push(s);
  });
  return out;
}

/**
 * Why the record of `nodeId` must stay, or null when nothing but the record names it: a removed id must
 * not be the leader, own a shard, be the previous owner a pending recovery names, or be part of the plan
 * of the rebalance in progress.
 */
export function departedReference(state: ClusterState, nodeId: NodeId): string | null {
  if (state.leader?.nodeId === nodeId) return `leads term ${state.leader.term}`;
  const owned = state.shardMap.owners.indexOf(nodeId);
  if (owned >= 0) return `owns shard ${owned}`;
  for (const [shard, from] of Object.entries(state.orphanedFrom)) {
    if (from === nodeId) return `is the previous owner of orphaned shard ${shard}`;
  }
  const m = state.rebalance?.remaining.find((x) => x.from === nodeId || x.to === nodeId);
  if (m !== undefined)
    return `is in the plan of rebalance ${state.rebalance!.rebalanceId} (shard ${m.shardId})`;
  return null;
}

function drainingOwnsShards(state: ClusterState): boolean {
  return state.shardMap.owners.some((o) => o !== null && state.nodes[o]?.status === 'Draining');
}

/**
 * A leader-decided event from a term older than the highest elected one, or older than the term that
 * last wrote the shard map, comes from a deposed leader: two leaders acted on the same history.
 */
function fenced(state: ClusterState, e: DomainEvent): void {
  const floor = Math.max(state.highestTerm, state.shardMap.term);
  if (e.term < floor) {
    fail(
      state,
      e,
      'single-leader-per-term',
      `${e.type} decided in term ${e.term} by ${e.origin} after term ${floor} took over`,
    );
  }
}

function inRange(state: ClusterState, e: DomainEvent, shard: ShardId): void {
  if (!Number.isInteger(shard) || shard < 0 || shard >= state.shardCount) {
    fail(state, e, EVENT_FITS_STATE, `shard ${shard} is outside [0, ${state.shardCount})`);
  }
}

function moveDone(r: ActiveRebalance | null, shard: ShardId, to: NodeId): ActiveRebalance | null {
  if (r === null) return null;
  const i = r.remaining.findIndex((m: PlannedMove) => m.shardId === shard && m.to === to);
  if (i < 0) return r;
  return { ...r, remaining: [...r.remaining.slice(0, i), ...r.remaining.slice(i + 1)], moved: r.moved + 1 };
}

function bootstrapCheck(state: ClusterState): ClusterState {
  if (state.bootstrapped || state.shardMap.owners.some((o) => o === null)) return state;
  return { ...state, bootstrapped: true };
}

function sameShards(a: readonly ShardId[], b: readonly ShardId[]): boolean {
  if (a.length !== b.length) return false;
  const sortedB = [...b].sort((x, y) => x - y);
  return a.every((s, i) => s === sortedB[i]);
}

function mergeSorted(a: readonly ShardId[], b: readonly ShardId[]): ShardId[] {
  return [...new Set([...a, ...b])].sort((x, y) => x - y);
}

function fail(
  state: ClusterState,
  e: DomainEvent,
  invariant: InvariantViolation['invariant'],
  message: string,
  offending?: unknown,
): never {
  throw withEvent(violation(state, invariant, message, offending), e);
}

function withEvent(v: InvariantViolation, e: DomainEvent): InvariantViolationError {
  return violationError({ ...v, evidence: { ...v.evidence, event: eventSummary(e) } });
}

/** The event without its long lists, for evidence. */
function eventSummary(e: DomainEvent): Record<string, unknown> {
  const out: Record<string, unknown> = { ...e };
  if ('plan' in e) out.plan = `${e.plan.length} move(s)`;
  if ('orphaned' in e && e.orphaned.length > 16) out.orphaned = `${e.orphaned.length} shard(s)`;
  return out;
}
