/**
 * Commands: pure decisions. Each takes the current {@link ClusterState}, the command and an
 * {@link EventStamp}, checks the command's preconditions and returns either the events that record the
 * decision or a {@link Rejection} saying what is wrong. Nothing changes until the caller applies the
 * events with `apply` and commits them.
 *
 * Terms and versions: leader-only commands require `stamp.origin` to be the current leader and stamp
 * their events with the leader's term (the fencing token). Membership and shard events carry
 * `version = state.shardMap.version + 1`: the version of the shard-map write that will contain them.
 * All events of one command share that version, and so do all events of one committed batch when the
 * runtime applies each command's events before deciding the next (applying raises the map version to
 * the event's). Leadership events are lease writes, not shard-map writes: they carry the current version
 * and leave it unchanged, so a renewal never makes a follower skip the next map write.
 */

import { departedReference, ownedBy, topologyChanged } from './apply.js';
import { CommandRejectedError } from './errors.js';
import type {
  DomainEvent,
  LeaderElected,
  LeadershipLost,
  LeadershipLostReason,
  LeadershipRenewed,
  NodeDraining,
  NodeFailed,
  NodeJoined,
  NodeLeft,
  NodeRemoved,
  PlannedMove,
  RebalanceReason,
  RebalancingCompleted,
  RebalancingTriggered,
  ShardAssigned,
  ShardMigrated,
} from './events.js';
import { type EventStamp, stamp } from './events.js';
import { hasActiveNode } from './invariants.js';
import type { PlacementStrategy } from './placement-strategy.js';
import type { ClusterState } from './state.js';
import { nodesWithStatus, retiredIncarnation } from './state.js';
import type { NodeId, NodeInfo, ShardId, Term } from './values.js';
import { isNodeId } from './values.js';

/** Why a command was rejected. Stable: callers branch on it. */
export type RejectionCode =
  | 'UNKNOWN_NODE'
  | 'ALREADY_MEMBER'
  | 'STALE_INCARNATION'
  | 'NOT_ACTIVE'
  | 'LAST_ACTIVE_NODE'
  | 'STILL_OWNS_SHARDS'
  | 'SHARD_OUT_OF_RANGE'
  | 'SHARD_OWNED'
  | 'DUPLICATE_SHARD'
  | 'NODE_NOT_ACTIVE'
  | 'NOT_LEADER'
  | 'LEADER_NOT_MEMBER'
  | 'NODE_IS_LEADER'
  | 'STALE_TERM'
  | 'NO_TOPOLOGY_CHANGE'
  | 'REBALANCE_IN_PROGRESS'
  | 'NO_REBALANCE'
  | 'MOVE_NOT_PLANNED'
  | 'OWNER_CHANGED'
  | 'NO_ACTIVE_NODES'
  | 'INVALID_PLAN'
  | 'INVALID_ARGUMENT'
  /** No departed node is past its retention (or every one is still named by a pending recovery or plan). */
  | 'NOTHING_DUE'
  /** The decision's events would break an invariant (a bug in a strategy or caller); nothing was applied. */
  | 'INVARIANT_VIOLATION'
  /** The leader could not write the decision to the store; the proposer may retry. */
  | 'COMMIT_FAILED';

/** A refused command: the code, and a message naming what is wrong (node, shard, term, status). */
export interface Rejection {
  readonly code: RejectionCode;
  readonly message: string;
}

/** The outcome of a command: the events to apply, or why nothing happens. */
export type CommandResult = { ok: true; events: DomainEvent[] } | { ok: false; rejection: Rejection };

/** The error to throw for a rejection, for callers that prefer exceptions. */
export function rejectionError(r: Rejection): CommandRejectedError {
  return new CommandRejectedError(r.code, r.message);
}

// ---- command shapes ----------------------------------------------------------------------------------

/** Admit a node (leader-only). */
export interface JoinClusterCommand {
  readonly nodeId: NodeId;
  /** Grows with every start of the node's process. */
  readonly incarnation: number;
  /** Relative capacity; 1 unless given. */
  readonly weight?: number;
}
/** Record that a node missed its heartbeat deadline (leader-only). */
export interface MarkNodeFailedCommand {
  readonly nodeId: NodeId;
  readonly lastSeen: number;
  /** The incarnation judged failed; absent for whatever incarnation is current (an operator's word). */
  readonly incarnation?: number;
}
/** Record that a node left: stopped gracefully, or finished draining (leader-only). */
export interface LeaveClusterCommand {
  readonly nodeId: NodeId;
  readonly reason: 'graceful' | 'drained';
  /**
   * The incarnation that leaves; absent for whatever incarnation is current. A stopping process names
   * its own, so that its leave cannot remove a newer process of the same id.
   */
  readonly incarnation?: number;
}
/** Start moving a node's shards away before it leaves (leader-only). */
export interface DrainNodeCommand {
  readonly nodeId: NodeId;
  /** The incarnation to drain; absent for whatever incarnation is current. */
  readonly incarnation?: number;
}
/** Give unowned shards to Active nodes directly, outside a rebalance plan (leader-only). */
export interface AssignShardsCommand {
  readonly assignments: readonly { readonly shardId: ShardId; readonly nodeId: NodeId }[];
}
/** Plan a rebalance after a topology change (leader-only). */
export interface RebalanceShardsCommand {
  readonly strategy: PlacementStrategy;
  readonly reason: RebalanceReason;
  /** Unique id of this rebalance, chosen by the caller (e.g. from the stamp's id source). */
  readonly rebalanceId: string;
  /** Upper bound on drain + balance moves in this round; recovery moves are never limited. */
  readonly maxMoves?: number;
}
/** Record that a planned hand-off finished: the target now hosts the shard (leader-only). */
export interface CompleteMigrationCommand {
  readonly shardId: ShardId;
}
/** Close the rebalance in progress with its remaining moves undone (leader-only). */
export type FinishRebalanceCommand = Record<string, never>;
/** Remove the records of nodes that departed longer than `retentionMs` ago (leader-only). */
export interface CompactDepartedCommand {
  /**
   * How long a Left or Failed record stays (`TimingConfig.departedRetentionMs`): long enough that the
   * departed process has certainly stopped or seen its status and come back as a newer incarnation.
   */
  readonly retentionMs: number;
}
/** Record that `nodeId` won the lease for `term`. Issued by the winner, not by the previous leader. */
export interface ElectLeaderCommand {
  readonly nodeId: NodeId;
  readonly term: Term;
}
/** Record a successful lease renewal. */
export interface RenewLeadershipCommand {
  readonly nodeId: NodeId;
  readonly term: Term;
  /** Clock time at which the lease lapses unless renewed again. */
  readonly expiresAt: number;
}
/** Record that the leader stopped leading. */
export interface LoseLeadershipCommand {
  readonly nodeId: NodeId;
  readonly term: Term;
  readonly reason: LeadershipLostReason;
}

// ---- commands ----------------------------------------------------------------------------------------

/**
 * Admits a node, or re-admits one with a newer incarnation. A node still Active or Draining under an
 * older incarnation restarted before its failure was detected: its old incarnation is failed first (its
 * shards orphaned), then the new one joins. While no node is Active the leader may not be a member yet;
 * then it must admit itself first, or the cluster would have a leader that is not Active.
 */
export function joinCluster(state: ClusterState, cmd: JoinClusterCommand, s: EventStamp): CommandResult {
  const l = leaderOnly(state, s);
  if (!l.ok) return l;
  const weight = cmd.weight ?? 1;
  if (!isNodeId(cmd.nodeId))
    return reject('INVALID_ARGUMENT', `invalid node id ${JSON.stringify(cmd.nodeId)}`);
  if (!Number.isSafeInteger(cmd.incarnation) || cmd.incarnation < 0) {
    return reject(
      'INVALID_ARGUMENT',
      `incarnation of ${cmd.nodeId} must be a non-negative integer, got ${cmd.incarnation}`,
    );
  }
  if (!(weight > 0) || !Number.isFinite(weight)) {
    return reject('INVALID_ARGUMENT', `weight of ${cmd.nodeId} must be a positive number, got ${weight}`);
  }
  const leader = state.leader!;
  if (cmd.nodeId !== leader.nodeId && !hasActiveNode(state)) {
    return reject(
      'LEADER_NOT_MEMBER',
      `leader ${leader.nodeId} must join before it admits ${cmd.nodeId}: no node is Active yet`,
    );
  }
  const joined = (): NodeJoined =>
    stamp<NodeJoined>(
      { type: 'NodeJoined', ...l.meta, nodeId: cmd.nodeId, incarnation: cmd.incarnation, weight },
      s,
    );
  const known = state.nodes[cmd.nodeId];
  if (known === undefined) {
    // A compacted id: its tombstone still fences the departed incarnation and any older one.
    const retired = retiredIncarnation(state, cmd.nodeId);
    if (retired !== null && cmd.incarnation <= retired) {
      return reject(
        'STALE_INCARNATION',
        `${cmd.nodeId} departed with incarnation ${retired} and was removed; rejoining needs a higher one, got ${cmd.incarnation}`,
      );
    }
    return accept(joined());
  }
  if (known.status === 'Joining') return accept(joined());
  if (cmd.incarnation <= known.incarnation) {
    if (known.status === 'Active' || known.status === 'Draining') {
      return reject(
        'ALREADY_MEMBER',
        `${cmd.nodeId} is already ${known.status} with incarnation ${known.incarnation} (got ${cmd.incarnation})`,
      );
    }
    return reject(
      'STALE_INCARNATION',
      `${cmd.nodeId} is ${known.status} with incarnation ${known.incarnation}; rejoining needs a higher one, got ${cmd.incarnation}`,
    );
  }
  if (known.status === 'Failed' || known.status === 'Left') return accept(joined());
  // The leader itself is a newer process of a member still on record (the whole cluster restarted
  // within the failure timeout): it re-admits itself and serves its shards anew. Failing its old
  // incarnation first would leave the cluster, for one event, with a leader that is not Active.
  if (cmd.nodeId === leader.nodeId) return accept(joined());
  // Restarted while still a member: fail the old incarnation so its shards are recovered, then admit.
  const failed = stamp<NodeFailed>(
    {
      type: 'NodeFailed',
      ...l.meta,
      nodeId: cmd.nodeId,
      incarnation: known.incarnation,
      lastSeen: known.lastSeen,
      orphaned: ownedBy(state.shardMap.owners, cmd.nodeId),
    },
    s,
  );
  return accept(failed, joined());
}

/** Marks an Active or Draining node Failed; the shards it owns become orphaned. */
export function markNodeFailed(
  state: ClusterState,
  cmd: MarkNodeFailedCommand,
  s: EventStamp,
): CommandResult {
  const l = leaderOnly(state, s);
  if (!l.ok) return l;
  const known = state.nodes[cmd.nodeId];
  if (known === undefined) return reject('UNKNOWN_NODE', `node ${cmd.nodeId} is not known to the cluster`);
  const stale = staleIncarnation('failure', known, cmd.incarnation);
  if (stale) return stale;
  if (known.status !== 'Active' && known.status !== 'Draining') {
    return reject('NOT_ACTIVE', `node ${cmd.nodeId} is ${known.status}, not Active or Draining`);
  }
  return accept(
    stamp<NodeFailed>(
      {
        type: 'NodeFailed',
        ...l.meta,
        nodeId: cmd.nodeId,
        incarnation: known.incarnation,
        lastSeen: cmd.lastSeen,
        orphaned: ownedBy(state.shardMap.owners, cmd.nodeId),
      },
      s,
    ),
  );
}

/** Records that an Active or Draining node left; `drained` requires that it owns no shard any more. */
export function leaveCluster(state: ClusterState, cmd: LeaveClusterCommand, s: EventStamp): CommandResult {
  const l = leaderOnly(state, s);
  if (!l.ok) return l;
  const known = state.nodes[cmd.nodeId];
  if (known === undefined) return reject('UNKNOWN_NODE', `node ${cmd.nodeId} is not known to the cluster`);
  const stale = staleIncarnation('leave', known, cmd.incarnation);
  if (stale) return stale;
  if (known.status !== 'Active' && known.status !== 'Draining') {
    return reject('NOT_ACTIVE', `node ${cmd.nodeId} is ${known.status}, not Active or Draining`);
  }
  const owned = ownedBy(state.shardMap.owners, cmd.nodeId);
  if (cmd.reason === 'drained' && owned.length > 0) {
    return reject(
      'STILL_OWNS_SHARDS',
      `node ${cmd.nodeId} cannot leave as drained: it still owns ${owned.length} shard(s), e.g. ${owned[0]}`,
    );
  }
  return accept(
    stamp<NodeLeft>(
      { type: 'NodeLeft', ...l.meta, nodeId: cmd.nodeId, reason: cmd.reason, orphaned: owned },
      s,
    ),
  );
}

/**
 * Starts draining an Active node: it keeps its shards until a rebalance hands them off, and gets no
 * new ones. The last Active node cannot drain (its shards would have nowhere to go), and the leader
 * cannot drain itself: it must hand leadership over first, since a leader is always Active.
 */
export function drainNode(state: ClusterState, cmd: DrainNodeCommand, s: EventStamp): CommandResult {
  const l = leaderOnly(state, s);
  if (!l.ok) return l;
  const known = state.nodes[cmd.nodeId];
  if (known === undefined) return reject('UNKNOWN_NODE', `node ${cmd.nodeId} is not known to the cluster`);
  const stale = staleIncarnation('drain', known, cmd.incarnation);
  if (stale) return stale;
  if (known.status !== 'Active')
    return reject('NOT_ACTIVE', `node ${cmd.nodeId} is ${known.status}, not Active`);
  if (nodesWithStatus(state, 'Active').length === 1) {
    return reject(
      'LAST_ACTIVE_NODE',
      `node ${cmd.nodeId} is the only Active node; its shards would have nowhere to go`,
    );
  }
  if (state.leader?.nodeId === cmd.nodeId) {
    return reject(
      'NODE_IS_LEADER',
      `node ${cmd.nodeId} leads term ${state.leader.term}; it must resign before draining`,
    );
  }
  return accept(stamp<NodeDraining>({ type: 'NodeDraining', ...l.meta, nodeId: cmd.nodeId }, s));
}

/**
 * Assigns unowned shards to Active nodes: `recovery` for orphaned shards (naming the owner they had),
 * `initial` for shards never placed. Owned shards move only through a rebalance plan.
 */
export function assignShards(state: ClusterState, cmd: AssignShardsCommand, s: EventStamp): CommandResult {
  const l = leaderOnly(state, s);
  if (!l.ok) return l;
  const seen = new Set<ShardId>();
  const orphaned = new Set(state.orphaned);
  const events: DomainEvent[] = [];
  for (const a of cmd.assignments) {
    if (!Number.isInteger(a.shardId) || a.shardId < 0 || a.shardId >= state.shardCount) {
      return reject('SHARD_OUT_OF_RANGE', `shard ${a.shardId} is outside [0, ${state.shardCount})`);
    }
    if (seen.has(a.shardId)) return reject('DUPLICATE_SHARD', `shard ${a.shardId} is assigned twice`);
    seen.add(a.shardId);
    const status = state.nodes[a.nodeId]?.status ?? 'unknown';
    if (status !== 'Active') {
      return reject('NODE_NOT_ACTIVE', `shard ${a.shardId} cannot go to ${a.nodeId}, which is ${status}`);
    }
    const owner = state.shardMap.owners[a.shardId] ?? null;
    if (owner !== null) return reject('SHARD_OWNED', `shard ${a.shardId} is already owned by ${owner}`);
    const recovery = orphaned.has(a.shardId);
    events.push(
      stamp<ShardAssigned>(
        {
          type: 'ShardAssigned',
          ...l.meta,
          shardId: a.shardId,
          nodeId: a.nodeId,
          reason: recovery ? 'recovery' : 'initial',
          previous: recovery ? (state.orphanedFrom[a.shardId] ?? null) : null,
        },
        s,
      ),
    );
  }
  return { ok: true, events };
}

/**
 * Plans a rebalance with `strategy`, allowed only after a topology change (invariant 4). Recovery moves
 * (unowned shards, or owners gone) are assigned at once: there is nobody to hand off from. Drain and
 * balance moves stay pending in the rebalance until {@link completeMigration} records each hand-off; a
 * plan without any completes immediately.
 */
export function rebalanceShards(
  state: ClusterState,
  cmd: RebalanceShardsCommand,
  s: EventStamp,
): CommandResult {
  const l = leaderOnly(state, s);
  if (!l.ok) return l;
  if (state.rebalance !== null) {
    return reject(
      'REBALANCE_IN_PROGRESS',
      `rebalance ${state.rebalance.rebalanceId} is in progress with ${state.rebalance.remaining.length} move(s) left`,
    );
  }
  if (!topologyChanged(state)) {
    return reject(
      'NO_TOPOLOGY_CHANGE',
      `epoch ${state.epoch} is already balanced and no shard is orphaned or unplaced; assignments change only on topology changes`,
    );
  }
  const active = nodesWithStatus(state, 'Active');
  if (active.length === 0) return reject('NO_ACTIVE_NODES', 'no Active node can receive shards');
  if (cmd.rebalanceId.length === 0) return reject('INVALID_ARGUMENT', 'rebalance id must not be empty');

  const { moves } = cmd.strategy.place({
    shardCount: state.shardCount,
    previous: state.shardMap.owners,
    nodes: active.map((id) => ({ id, weight: state.nodes[id]!.weight })),
    draining: nodesWithStatus(state, 'Draining'),
    ...(cmd.maxMoves !== undefined ? { maxMoves: cmd.maxMoves } : {}),
  });
  const invalid = checkPlan(state, moves);
  if (invalid !== null) return reject('INVALID_PLAN', `${cmd.strategy.name}: ${invalid}`);

  const orphaned = new Set(state.orphaned);
  const recovery = moves.filter((m) => isRecovery(state, m));
  const events: DomainEvent[] = [
    stamp<RebalancingTriggered>(
      {
        type: 'RebalancingTriggered',
        ...l.meta,
        rebalanceId: cmd.rebalanceId,
        reason: cmd.reason,
        epoch: state.epoch,
        plan: moves,
      },
      s,
    ),
  ];
  for (const m of recovery) {
    const wasOrphaned = orphaned.has(m.shardId);
    events.push(
      stamp<ShardAssigned>(
        {
          type: 'ShardAssigned',
          ...l.meta,
          shardId: m.shardId,
          nodeId: m.to,
          reason: wasOrphaned ? 'recovery' : 'initial',
          previous: wasOrphaned ? (state.orphanedFrom[m.shardId] ?? m.from) : m.from,
        },
        s,
      ),
    );
  }
  if (recovery.length === moves.length) {
    events.push(
      stamp<RebalancingCompleted>(
        {
          type: 'RebalancingCompleted',
          ...l.meta,
          rebalanceId: cmd.rebalanceId,
          moved: recovery.length,
          skipped: 0,
          durationMs: 0,
        },
        s,
      ),
    );
  }
  return { ok: true, events };
}

/**
 * Records that a planned drain or balance hand-off finished; completes the rebalance when it was the
 * last move left.
 */
export function completeMigration(
  state: ClusterState,
  cmd: CompleteMigrationCommand,
  s: EventStamp,
): CommandResult {
  const l = leaderOnly(state, s);
  if (!l.ok) return l;
  const r = state.rebalance;
  if (r === null) return reject('NO_REBALANCE', `no rebalance is in progress to move shard ${cmd.shardId}`);
  const move = r.remaining.find((m) => m.shardId === cmd.shardId);
  if (move === undefined) {
    return reject(
      'MOVE_NOT_PLANNED',
      `rebalance ${r.rebalanceId} has no pending move for shard ${cmd.shardId}`,
    );
  }
  const owner = state.shardMap.owners[cmd.shardId] ?? null;
  if (move.from === null || owner !== move.from) {
    return reject(
      'OWNER_CHANGED',
      `shard ${cmd.shardId} was planned to move from ${move.from ?? 'nobody'} but is owned by ${owner ?? 'nobody'}`,
    );
  }
  const target = state.nodes[move.to]?.status ?? 'unknown';
  if (target !== 'Active') {
    return reject('NODE_NOT_ACTIVE', `shard ${cmd.shardId} cannot move to ${move.to}, which is ${target}`);
  }
  const events: DomainEvent[] = [
    stamp<ShardMigrated>(
      {
        type: 'ShardMigrated',
        ...l.meta,
        shardId: cmd.shardId,
        from: move.from,
        to: move.to,
        reason: move.reason === 'drain' ? 'drain' : 'balance',
      },
      s,
    ),
  ];
  if (r.remaining.length === 1) {
    events.push(
      stamp<RebalancingCompleted>(
        {
          type: 'RebalancingCompleted',
          ...l.meta,
          rebalanceId: r.rebalanceId,
          moved: r.moved + 1,
          skipped: 0,
          durationMs: Math.max(0, s.now - r.startedAt),
        },
        s,
      ),
    );
  }
  return { ok: true, events };
}

/**
 * Closes the rebalance in progress early, its remaining moves skipped (e.g. the topology changed
 * mid-way and the leader will plan again). The epoch is not marked balanced, so a new plan is allowed.
 */
export function finishRebalance(
  state: ClusterState,
  _cmd: FinishRebalanceCommand,
  s: EventStamp,
): CommandResult {
  const l = leaderOnly(state, s);
  if (!l.ok) return l;
  const r = state.rebalance;
  if (r === null) return reject('NO_REBALANCE', 'no rebalance is in progress');
  return accept(
    stamp<RebalancingCompleted>(
      {
        type: 'RebalancingCompleted',
        ...l.meta,
        rebalanceId: r.rebalanceId,
        moved: r.moved,
        skipped: r.remaining.length,
        durationMs: Math.max(0, s.now - r.startedAt),
      },
      s,
    ),
  );
}

/**
 * Removes the records of Left and Failed nodes whose departure (`departedAt`, or `lastSeen` for records
 * written before departures were timed) is at least `retentionMs` before `s.now`, one `NodeRemoved` each;
 * `apply` keeps a tombstone of each removed incarnation. Without this, every id that ever joined would
 * stay in the topology record, which every commit writes and every follower decodes.
 */
export function compactDeparted(
  state: ClusterState,
  cmd: CompactDepartedCommand,
  s: EventStamp,
): CommandResult {
  const l = leaderOnly(state, s);
  if (!l.ok) return l;
  if (!(cmd.retentionMs > 0) || !Number.isFinite(cmd.retentionMs)) {
    return reject(
      'INVALID_ARGUMENT',
      `retentionMs must be a positive number of milliseconds, got ${cmd.retentionMs}`,
    );
  }
  const due = departedDue(state, s.now, cmd.retentionMs);
  if (due.length === 0) {
    return reject(
      'NOTHING_DUE',
      `no Left or Failed node departed ${cmd.retentionMs} ms or more before ${s.now}`,
    );
  }
  return {
    ok: true,
    events: due.map((id) => {
      const n = state.nodes[id]!;
      return stamp<NodeRemoved>(
        {
          type: 'NodeRemoved',
          ...l.meta,
          nodeId: id,
          incarnation: n.incarnation,
          status: n.status as NodeRemoved['status'],
          departedAt: departureOf(n),
        },
        s,
      );
    }),
  };
}

/**
 * Ids of the Left and Failed nodes whose records {@link compactDeparted} would remove at `now`, sorted:
 * departed at least `retentionMs` ago, and named by nothing but their record (see `departedReference`).
 * Empty when no compaction is due.
 */
export function departedDue(state: ClusterState, now: number, retentionMs: number): NodeId[] {
  return Object.values(state.nodes)
    .filter(
      (n) =>
        (n.status === 'Left' || n.status === 'Failed') &&
        departureOf(n) + retentionMs <= now &&
        departedReference(state, n.id) === null,
    )
    .map((n) => n.id)
    .sort();
}

function departureOf(n: NodeInfo): number {
  return n.departedAt ?? n.lastSeen;
}

/**
 * Records that `nodeId` won the lease for `term`. The term must exceed every term seen, and the winner
 * must be Active — except at bootstrap, when no node is Active and the first leader admits itself.
 */
export function electLeader(state: ClusterState, cmd: ElectLeaderCommand, s: EventStamp): CommandResult {
  if (!Number.isSafeInteger(cmd.term) || cmd.term <= state.highestTerm) {
    return reject(
      'STALE_TERM',
      `term ${cmd.term} for ${cmd.nodeId} is not above the highest term ${state.highestTerm}`,
    );
  }
  const status = state.nodes[cmd.nodeId]?.status ?? 'not a member';
  if (status !== 'Active' && hasActiveNode(state)) {
    return reject(
      'NODE_NOT_ACTIVE',
      `${cmd.nodeId} cannot lead term ${cmd.term}: it is ${status}, not Active`,
    );
  }
  return accept(
    stamp<LeaderElected>(
      {
        type: 'LeaderElected',
        term: cmd.term,
        version: state.shardMap.version,
        nodeId: cmd.nodeId,
        previous: state.leader,
      },
      s,
    ),
  );
}

/** Records a lease renewal by the current leader of the current term. */
export function renewLeadership(
  state: ClusterState,
  cmd: RenewLeadershipCommand,
  s: EventStamp,
): CommandResult {
  const m = matchesLeader(state, cmd);
  if (m !== null) return { ok: false, rejection: m };
  return accept(
    stamp<LeadershipRenewed>(
      {
        type: 'LeadershipRenewed',
        term: cmd.term,
        version: state.shardMap.version,
        nodeId: cmd.nodeId,
        expiresAt: cmd.expiresAt,
      },
      s,
    ),
  );
}

/** Records that the current leader stopped leading. */
export function loseLeadership(
  state: ClusterState,
  cmd: LoseLeadershipCommand,
  s: EventStamp,
): CommandResult {
  const m = matchesLeader(state, cmd);
  if (m !== null) return { ok: false, rejection: m };
  return accept(
    stamp<LeadershipLost>(
      {
        type: 'LeadershipLost',
        term: cmd.term,
        version: state.shardMap.version,
        nodeId: cmd.nodeId,
        reason: cmd.reason,
      },
      s,
    ),
  );
}

// ---- dispatch ----------------------------------------------------------------------------------------

/** Any command, tagged with its name: for callers that queue or route commands as data. */
export type ClusterCommand =
  | ({ readonly type: 'joinCluster' } & JoinClusterCommand)
  | ({ readonly type: 'markNodeFailed' } & MarkNodeFailedCommand)
  | ({ readonly type: 'leaveCluster' } & LeaveClusterCommand)
  | ({ readonly type: 'drainNode' } & DrainNodeCommand)
  | ({ readonly type: 'assignShards' } & AssignShardsCommand)
  | ({ readonly type: 'rebalanceShards' } & RebalanceShardsCommand)
  | ({ readonly type: 'completeMigration' } & CompleteMigrationCommand)
  | { readonly type: 'finishRebalance' }
  | ({ readonly type: 'compactDeparted' } & CompactDepartedCommand)
  | ({ readonly type: 'electLeader' } & ElectLeaderCommand)
  | ({ readonly type: 'renewLeadership' } & RenewLeadershipCommand)
  | ({ readonly type: 'loseLeadership' } & LoseLeadershipCommand);

/** Runs the command named by `cmd.type`. */
export function decide(state: ClusterState, cmd: ClusterCommand, s: EventStamp): CommandResult {
  switch (cmd.type) {
    case 'joinCluster':
      return joinCluster(state, cmd, s);
    case 'markNodeFailed':
      return markNodeFailed(state, cmd, s);
    case 'leaveCluster':
      return leaveCluster(state, cmd, s);
    case 'drainNode':
      return drainNode(state, cmd, s);
    case 'assignShards':
      return assignShards(state, cmd, s);
    case 'rebalanceShards':
      return rebalanceShards(state, cmd, s);
    case 'completeMigration':
      return completeMigration(state, cmd, s);
    case 'finishRebalance':
      return finishRebalance(state, {}, s);
    case 'compactDeparted':
      return compactDeparted(state, cmd, s);
    case 'electLeader':
      return electLeader(state, cmd, s);
    case 'renewLeadership':
      return renewLeadership(state, cmd, s);
    case 'loseLeadership':
      return loseLeadership(state, cmd, s);
  }
}

// ---- helpers ----------------------------------------------------------------------------------------

type LeaderCheck = { ok: true; meta: { term: Term; version: number } } | { ok: false; rejection: Rejection };

/**
 * A request that names another incarnation than the member on record: an older process of a
 * restarted id (its leave or failure arriving late) must never remove the newer one.
 */
function staleIncarnation(
  what: 'leave' | 'drain' | 'failure',
  known: NodeInfo,
  incarnation: number | undefined,
): { ok: false; rejection: Rejection } | null {
  if (incarnation === undefined || incarnation === known.incarnation) return null;
  return reject(
    'STALE_INCARNATION',
    `${what} of ${known.id} incarnation ${incarnation} is stale: incarnation ${known.incarnation} is ${known.status}`,
  );
}

function leaderOnly(state: ClusterState, s: EventStamp): LeaderCheck {
  if (state.leader === null || state.leader.nodeId !== s.origin) {
    return {
      ok: false,
      rejection: {
        code: 'NOT_LEADER',
        message: `${s.origin} is not the leader (${
          state.leader ? `${state.leader.nodeId} leads term ${state.leader.term}` : 'no leader is known'
        })`,
      },
    };
  }
  return { ok: true, meta: { term: state.leader.term, version: state.shardMap.version + 1 } };
}

function matchesLeader(state: ClusterState, cmd: { nodeId: NodeId; term: Term }): Rejection | null {
  const l = state.leader;
  if (l !== null && l.nodeId === cmd.nodeId && l.term === cmd.term) return null;
  return {
    code: 'NOT_LEADER',
    message: `${cmd.nodeId} does not lead term ${cmd.term} (${l ? `${l.nodeId} leads term ${l.term}` : 'no leader is known'})`,
  };
}

/** A move whose source is gone (unowned, or its owner no longer Active or Draining): no hand-off. */
function isRecovery(state: ClusterState, m: PlannedMove): boolean {
  if (m.from === null) return true;
  const status = state.nodes[m.from]?.status;
  return status !== 'Active' && status !== 'Draining';
}

/** Rejects plans that `apply` would refuse, so a faulty strategy is a rejection, not a broken state. */
function checkPlan(state: ClusterState, moves: readonly PlannedMove[]): string | null {
  const seen = new Set<ShardId>();
  for (const m of moves) {
    if (!Number.isInteger(m.shardId) || m.shardId < 0 || m.shardId >= state.shardCount) {
      return `move of shard ${m.shardId} is outside [0, ${state.shardCount})`;
    }
    if (seen.has(m.shardId)) return `shard ${m.shardId} is moved twice`;
    seen.add(m.shardId);
    const owner = state.shardMap.owners[m.shardId] ?? null;
    if (owner !== m.from)
      return `shard ${m.shardId} is planned from ${m.from ?? 'nobody'} but owned by ${owner ?? 'nobody'}`;
    if (m.to === m.from) return `shard ${m.shardId} is planned to move to its own owner ${m.to}`;
    const status = state.nodes[m.to]?.status ?? 'unknown';
    if (status !== 'Active') return `shard ${m.shardId} is planned to go to ${m.to}, which is ${status}`;
  }
  return null;
}

function accept(...events: DomainEvent[]): CommandResult {
  return { ok: true, events };
}

function reject(code: RejectionCode, message: string): { ok: false; rejection: Rejection } {
  return { ok: false, rejection: { code, message } };
}
