/**
 * What the cluster-node root does with each fact, as pure functions: context and fact in, a context
 * patch and a list of effects out (messages to children, spawns, stops, emitted events). The root's
 * actions only carry these out, so the logic is tested here without an actor.
 */
import { topologyChanged } from '../src/domain/apply.js';
import type { DomainEvent, EventStamp } from '../src/domain/events.js';
import { type ClusterState, retiredIncarnation } from '../src/domain/state.js';
import type { NodeId, NodeStatus } from '../src/domain/values.js';
import type { Heartbeat, OperatorCommand } from '../src/protocol/messages.js';
import type { ClusterNodeContext, ClusterNodeEmitted, ClusterNodeTiming } from './cluster-node.machine.js';
import { blindness, hearHeartbeat, type LinkStatus, noteLink } from './hearing.js';
import { confirmsMembership } from './hosting.js';
import type { LeadershipEvent } from './leadership.machine.js';
import type {
  FailedProposal,
  LifecycleProposal,
  NodeLifecycleEvent,
  NodeLifecycleInput,
} from './node-lifecycle.machine.js';
import {
  type Batch,
  decideBatch,
  departedDue,
  drainedNodes,
  eligibleToLead,
  type Proposal,
  type ProposalOutcome,
  rebalanceReasonFor,
} from './proposals.js';
import type { RebalancingEvent, RebalancingInput, RebalancingProposal } from './rebalancing.machine.js';
import type { ShardHostEvent } from './shard-host.machine.js';
import {
  LEADERSHIP_SYSTEM_ID,
  lifecycleSystemId,
  REBALANCER_SYSTEM_ID,
  SHARD_HOST_SYSTEM_ID,
} from './system-ids.js';

export type ChildEvent = LeadershipEvent | NodeLifecycleEvent | RebalancingEvent | ShardHostEvent;

/** One thing the root does besides updating its context. */
export type RootEffect =
  /** Send to a child by system id; a child that is not there gets nothing. */
  | { readonly kind: 'send'; readonly to: string; readonly event: ChildEvent }
  | { readonly kind: 'spawnLifecycle'; readonly input: NodeLifecycleInput }
  | { readonly kind: 'spawnRebalancer'; readonly input: RebalancingInput }
  | { readonly kind: 'stop'; readonly id: string }
  | { readonly kind: 'emit'; readonly event: ClusterNodeEmitted };

export interface RootStep {
  readonly patch: Partial<ClusterNodeContext>;
  readonly effects: readonly RootEffect[];
}

const NOTHING: RootStep = { patch: {}, effects: [] };

const MEMBERSHIP = new Set<DomainEvent['type']>(['NodeJoined', 'NodeDraining', 'NodeFailed', 'NodeLeft']);
const REBALANCING = new Set<DomainEvent['type']>([
  'RebalancingTriggered',
  'ShardAssigned',
  'ShardMigrated',
  'RebalancingCompleted',
]);

/** The input of a lifecycle actor for a node first seen now. */
export function lifecycleInput(
  timing: ClusterNodeTiming,
  node: {
    readonly id: NodeId;
    readonly incarnation: number;
    readonly status: NodeStatus;
    readonly weight: number;
  },
  at: number,
  judge: boolean,
): NodeLifecycleInput {
  return {
    nodeId: node.id,
    timing,
    now: at,
    incarnation: node.incarnation,
    weight: node.weight,
    status: node.status,
    lastSeen: at,
    judge,
  };
}

/** What this node announces in its heartbeat. */
export function heartbeatOf(ctx: ClusterNodeContext): Heartbeat {
  const self = ctx.cluster.nodes[ctx.nodeId];
  return {
    nodeId: ctx.nodeId,
    incarnation: ctx.incarnation,
    weight: ctx.weight,
    status: self?.incarnation === ctx.incarnation ? self.status : 'Joining',
    version: ctx.cluster.shardMap.version,
    load: ctx.load,
  };
}

/** Every lifecycle actor restarts its deadline from `at`: this node could not hear until then. */
function restoreHearing(ctx: ClusterNodeContext, at: number): RootEffect[] {
  return Object.keys(ctx.tracked).map((id) => ({
    kind: 'send' as const,
    to: lifecycleSystemId(id),
    event: { type: 'HEARING_RESTORED' as const, at },
  }));
}

/**
 * A heartbeat goes to the lifecycle actor of its node, created on first contact. The first one heard
 * after a gap (this node was paused or cut off) first restarts every deadline.
 */
export function routeHeartbeat(ctx: ClusterNodeContext, p: { at: number; heartbeat: Heartbeat }): RootStep {
  const hb = p.heartbeat;
  const heard = hearHeartbeat(ctx.hearing, p.at, ctx.timing);
  const effects: RootEffect[] = heard.restored ? restoreHearing(ctx, p.at) : [];
  let patch: Partial<ClusterNodeContext> = {
    now: Math.max(ctx.now, p.at),
    hearing: heard.hearing,
    ...settleHeldFailures(ctx, hb.nodeId, p.at, heard.restored),
  };
  // A process of a member removed after it departed: fenced by its tombstone, never followed again.
  if (hb.incarnation <= (retiredIncarnation(ctx.cluster, hb.nodeId) ?? -1)) return { patch, effects };
  if (!(hb.nodeId in ctx.tracked)) {
    const known = ctx.cluster.nodes[hb.nodeId];
    const status: NodeStatus = known ? known.status : 'Joining';
    const node = {
      id: hb.nodeId,
      incarnation: known ? known.incarnation : hb.incarnation,
      status,
      weight: hb.weight,
    };
    effects.push({
      kind: 'spawnLifecycle',
      input: lifecycleInput(ctx.timing, node, p.at, ctx.term !== null),
    });
    patch = { ...patch, tracked: { ...ctx.tracked, [hb.nodeId]: status } };
  }
  effects.push({
    kind: 'send',
    to: lifecycleSystemId(hb.nodeId),
    event: { type: 'HEARTBEAT', at: p.at, incarnation: hb.incarnation, weight: hb.weight, load: hb.load },
  });
  return { patch, effects };
}

/**
 * A heartbeat from `from` heard at `at` settles the held failures: the node that spoke is not failed;
 * after a gap (`restored`) none is, since the judge could not hear at their deadlines; otherwise those
 * whose deadline has passed are confirmed — this node heard without a gap across it — and queued.
 */
function settleHeldFailures(
  ctx: ClusterNodeContext,
  from: NodeId,
  at: number,
  restored: boolean,
): Partial<ClusterNodeContext> {
  if (ctx.heldFailures.length === 0) return {};
  if (restored) return { heldFailures: [] };
  const held = ctx.heldFailures.filter((c) => c.nodeId !== from);
  const due = ctx.term === null ? [] : held.filter((c) => c.at <= at);
  let queue = ctx.queue;
  for (const c of due) queue = enqueueProposal({ ...ctx, queue }, proposalOf(c)).queue ?? queue;
  return {
    heldFailures: held.filter((c) => !due.includes(c)),
    ...(queue !== ctx.queue ? { queue } : {}),
  };
}

/** The transport connection changed: coming back, every deadline restarts from now. */
export function noteConnection(ctx: ClusterNodeContext, p: { at: number; status: LinkStatus }): RootStep {
  const link = noteLink(ctx.hearing, p.at, p.status);
  return {
    patch: {
      hearing: link.hearing,
      now: Math.max(ctx.now, p.at),
      // Failures held for confirmation cannot be confirmed by a node that cannot hear.
      ...(link.hearing.connected || ctx.heldFailures.length === 0 ? {} : { heldFailures: [] }),
    },
    effects: link.restored ? restoreHearing(ctx, p.at) : [],
  };
}

/** Whether the judge could hear enough to propose this failure (see {@link blindness}). */
export function mayJudgeFailed(ctx: ClusterNodeContext, p: { nodeId: NodeId; at: number }): boolean {
  return blindness(ctx.nodeId, ctx.hearing, p, ctx.timing) === null;
}

/**
 * Holds a failure a lifecycle actor proposes until a heartbeat heard after its deadline confirms that
 * this node could hear then (see `settleHeldFailures`); drops it if the judge was already deaf. A
 * dropped proposal comes again: the actor restarts its deadline once this node hears again.
 */
export function enqueueFailure(ctx: ClusterNodeContext, p: FailedProposal): Partial<ClusterNodeContext> {
  if (!mayJudgeFailed(ctx, p)) return {};
  return {
    heldFailures: [...ctx.heldFailures.filter((c) => c.nodeId !== p.nodeId), p],
    now: Math.max(ctx.now, p.at),
  };
}

/**
 * Lifecycle actors follow a topology: new members get one, changed ones a SYNC, and members the
 * topology no longer lists (compacted after they departed) lose theirs. A member is changed when its
 * status or its incarnation is: a node failed and readmitted between two topologies this node read
 * (it was paused, or missed a write) is Active in both, and without a SYNC its actor, moved to joining
 * by the new process's heartbeat, would wait for an admission it never sees and judge it no more.
 */
function followMembers(
  ctx: ClusterNodeContext,
  state: ClusterState,
  at: number,
): { tracked: Record<NodeId, NodeStatus>; effects: RootEffect[] } {
  const tracked: Record<NodeId, NodeStatus> = {};
  const effects: RootEffect[] = [];
  for (const n of Object.values(state.nodes)) {
    const before = ctx.tracked[n.id];
    if (before === undefined) {
      effects.push({ kind: 'spawnLifecycle', input: lifecycleInput(ctx.timing, n, at, ctx.term !== null) });
    } else if (before !== n.status || ctx.cluster.nodes[n.id]?.incarnation !== n.incarnation) {
      effects.push({
        kind: 'send',
        to: lifecycleSystemId(n.id),
        event: { type: 'SYNC', at, status: n.status, incarnation: n.incarnation },
      });
    }
    tracked[n.id] = n.status;
  }
  for (const id of Object.keys(ctx.tracked)) {
    if (id in tracked) continue;
    // Heard by heartbeat but never admitted: keep following it until it is admitted or goes quiet.
    if (ctx.tracked[id] === 'Joining' && !(id in ctx.cluster.nodes)) tracked[id] = 'Joining';
    else effects.push({ kind: 'stop', id: lifecycleSystemId(id) });
  }
  return { tracked, effects };
}

/** Tells the leadership and shard-host actors about the topology this node now holds. */
function announceTopology(ctx: ClusterNodeContext, state: ClusterState, at: number): RootEffect[] {
  return [
    {
      kind: 'send',
      to: LEADERSHIP_SYSTEM_ID,
      event: {
        type: 'TOPOLOGY_INFO',
        at,
        eligible: eligibleToLead(state, ctx.nodeId, ctx.incarnation),
        version: state.shardMap.version,
      },
    },
    {
      kind: 'send',
      to: SHARD_HOST_SYSTEM_ID,
      event: { type: 'TOPOLOGY', at, cluster: hostedMap(state, ctx.nodeId, ctx.incarnation) },
    },
  ];
}

/**
 * A successful read of the topology: when it shows this process a member, the shard host may go on
 * serving (self-fencing). A read that shows it Failed, Left or absent confirms nothing.
 */
export function confirmMembership(
  ctx: ClusterNodeContext,
  p: { at: number; receivedAt: number; state: ClusterState | null },
): RootStep {
  if (!confirmsMembership(p.state, ctx.nodeId, ctx.incarnation)) return NOTHING;
  return {
    patch: {},
    effects: [
      {
        kind: 'send',
        to: SHARD_HOST_SYSTEM_ID,
        event: { type: 'CONFIRMED', at: p.at, receivedAt: p.receivedAt },
      },
    ],
  };
}

/**
 * The map as this process may serve it: the shards of its id belong to the incarnation on record, so
 * a process of another incarnation (a restart not yet admitted, or the old process of a restarted id,
 * still leaving) owns none of them.
 */
export function hostedMap(state: ClusterState, nodeId: NodeId, incarnation: number): ClusterState {
  const self = state.nodes[nodeId];
  if (self === undefined || self.incarnation === incarnation) return state;
  if (!state.shardMap.owners.includes(nodeId)) return state;
  const owners = state.shardMap.owners.map((o) => (o === nodeId ? null : o));
  return { ...state, shardMap: { ...state.shardMap, owners } };
}

/** Whether a topology from the store is newer than the one held and not written by a deposed term. */
export function acceptsTopology(ctx: ClusterNodeContext, state: ClusterState, revision: number): boolean {
  if (revision <= ctx.revision) return false;
  // Fencing: a write stamped with a term older than one already seen comes from a deposed leader.
  return !(state.shardMap.term < ctx.highestTerm && state.highestTerm < ctx.highestTerm);
}

/** Adopts a newer topology from the store: the children follow it. */
export function adoptTopology(
  ctx: ClusterNodeContext,
  p: { state: ClusterState; revision: number; at: number },
): RootStep {
  if (!acceptsTopology(ctx, p.state, p.revision)) return NOTHING;
  const members = followMembers(ctx, p.state, p.at);
  return {
    patch: {
      cluster: p.state,
      revision: p.revision,
      highestTerm: Math.max(ctx.highestTerm, p.state.highestTerm),
      now: Math.max(ctx.now, p.at),
      tracked: members.tracked,
    },
    effects: [...members.effects, ...announceTopology(ctx, p.state, p.at)],
  };
}

/**
 * Adopts the topology read at the start of a term or after a failed write, whatever its revision; the
 * lifecycle actors follow it too, since the member records they were told are those of `ctx.cluster`.
 */
export function adoptRead(
  ctx: ClusterNodeContext,
  p: { state: ClusterState | null; revision: number; at: number },
): RootStep {
  const state = p.state ?? ctx.cluster;
  const members = state === ctx.cluster ? null : followMembers(ctx, state, p.at);
  return {
    patch: {
      cluster: state,
      revision: p.revision,
      highestTerm: Math.max(ctx.highestTerm, state.highestTerm),
      now: Math.max(ctx.now, p.at),
      ...(members ? { tracked: members.tracked } : {}),
    },
    effects: members ? [...members.effects, ...announceTopology(ctx, state, p.at)] : [],
  };
}

/**
 * A topology that records this still-running process as Failed (it was cut off or paused past its
 * deadline): come back as a new incarnation. Left is final: the node drained or was told to leave.
 */
export function rejoinIfExpelled(ctx: ClusterNodeContext): Partial<ClusterNodeContext> {
  const self = ctx.cluster.nodes[ctx.nodeId];
  // Removed from the record after it was judged Failed while still running: come back as a new process.
  const retired = retiredIncarnation(ctx.cluster, ctx.nodeId);
  if (self === undefined && retired !== null && retired >= ctx.incarnation)
    return { incarnation: Math.max(retired + 1, ctx.now) };
  if (!self || self.incarnation !== ctx.incarnation || self.status !== 'Failed') return {};
  return { incarnation: Math.max(ctx.incarnation + 1, ctx.now) };
}

/** Takes over as judge and starts the rebalancer, resuming a persisted plan. */
export function startLeading(ctx: ClusterNodeContext): RootStep {
  const effects: RootEffect[] = Object.keys(ctx.tracked).map((id) => ({
    kind: 'send' as const,
    to: lifecycleSystemId(id),
    event: { type: 'JUDGE' as const, at: ctx.now, judge: true },
  }));
  const term = ctx.term ?? 0;
  effects.push({
    kind: 'spawnRebalancer',
    input: {
      nodeId: ctx.nodeId,
      term,
      now: ctx.now,
      maxMovesPerRound: ctx.maxMovesPerRound,
      timing: ctx.timing,
      resume: ctx.cluster.rebalance,
    },
  });
  // Shard coverage: a topology left unbalanced or with orphans by the previous leader is repaired now.
  // A persisted plan made for an older topology (members failed or left since) is finished after its
  // current round and planned anew, as a change arriving mid-rebalance would be.
  const rebalance = ctx.cluster.rebalance;
  const stale = rebalance !== null && rebalance.epoch < ctx.cluster.epoch;
  if ((rebalance === null && topologyChanged(ctx.cluster)) || stale) {
    effects.push({
      kind: 'send',
      to: REBALANCER_SYSTEM_ID,
      event: { type: 'TOPOLOGY_CHANGED', at: ctx.now, reason: 'leader-changed' },
    });
  }
  return { patch: {}, effects };
}

/** Leading ends: the rebalancer stops, the lifecycle actors stop judging. */
export function stopLeading(ctx: ClusterNodeContext): RootStep {
  return {
    patch: { term: null, fenced: false, queue: [], pending: null, failures: 0, heldFailures: [] },
    effects: [
      { kind: 'stop', id: REBALANCER_SYSTEM_ID },
      ...Object.keys(ctx.tracked).map((id) => ({
        kind: 'send' as const,
        to: lifecycleSystemId(id),
        event: { type: 'JUDGE' as const, at: ctx.now, judge: false },
      })),
    ],
  };
}

/** The leader queues a compaction when departed members are past their retention. */
export function queueCompaction(ctx: ClusterNodeContext): Partial<ClusterNodeContext> {
  if (ctx.term === null || !ctx.fenced) return {};
  const retentionMs = ctx.timing.departedRetentionMs;
  if (departedDue(ctx.cluster, ctx.now, retentionMs).length === 0) return {};
  return enqueueProposal(ctx, { proposal: { kind: 'compact', retentionMs, source: 'root' }, at: ctx.now });
}

/** Structural equality of two proposals (they are plain data of a few fields). */
export function sameProposal(a: Proposal, b: Proposal): boolean {
  return sameValue(a, b);
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const rb = b as Record<string, unknown>;
  const ra = a as Record<string, unknown>;
  return ka.every((k) => k in rb && sameValue(ra[k], rb[k]));
}

/** Queues a proposal; judges repeat theirs on every heartbeat, and one queued copy is enough. */
export function enqueueProposal(
  ctx: ClusterNodeContext,
  p: { proposal: Proposal; at: number },
): Partial<ClusterNodeContext> {
  const dup = ctx.queue.some((q) => sameProposal(q, p.proposal));
  return { queue: dup ? ctx.queue : [...ctx.queue, p.proposal], now: Math.max(ctx.now, p.at) };
}

function makeStamp(ctx: ClusterNodeContext): { stamp: EventStamp; used: () => number } {
  let seq = ctx.seq;
  return {
    stamp: { origin: ctx.nodeId, now: ctx.now, nextId: () => `${ctx.idPrefix}-${seq++}` },
    used: () => seq,
  };
}

/** Decides every queued proposal into one batch; rejections are answered at once. */
export function decideQueued(ctx: ClusterNodeContext): RootStep {
  const { stamp, used } = makeStamp(ctx);
  const batch = decideBatch(ctx.cluster, ctx.queue, stamp, {
    strategy: ctx.strategy,
    maxMovesPerRound: ctx.maxMovesPerRound,
    selfIncarnation: ctx.incarnation,
    selfWeight: ctx.weight,
  });
  const effects = batch.outcomes.flatMap((o) => (o.rejection === null ? [] : answerRejected(o, ctx.now)));
  // An election the domain refuses (a term already written, this node no longer Active) cannot be
  // fenced: leading on unfenced would write under a term that never committed its election.
  if (batch.outcomes.some((o) => o.proposal.kind === 'election' && o.rejection !== null)) {
    effects.push({ kind: 'send', to: LEADERSHIP_SYSTEM_ID, event: { type: 'RESIGN', at: ctx.now } });
  }
  const accepted = batch.outcomes.some((o) => o.rejection === null);
  // `failures` is kept: a batch re-decided after a failed write continues its streak.
  return { patch: { queue: [], seq: used(), pending: accepted ? batch : null }, effects };
}

/** Tells the proposer its proposal was rejected. */
function answerRejected(o: ProposalOutcome, at: number): RootEffect[] {
  const r = o.rejection;
  if (r === null) return [];
  if (o.proposal.source === 'rebalancer') {
    return [
      {
        kind: 'send',
        to: REBALANCER_SYSTEM_ID,
        event: { type: 'REJECTED', at, code: r.code, message: r.message },
      },
    ];
  }
  if (typeof o.proposal.source === 'object') {
    return [
      {
        kind: 'emit',
        event: {
          type: 'CommandAnswered',
          requestId: o.proposal.source.requestId,
          ok: false,
          events: [],
          code: r.code,
          message: r.message,
        },
      },
    ];
  }
  return [];
}

/**
 * The batch is durable: adopt it, emit its domain events in commit order, and tell the proposers and
 * everyone affected.
 */
export function applyCommitted(ctx: ClusterNodeContext, p: { revision: number; at: number }): RootStep {
  const batch = ctx.pending;
  if (batch === null) return NOTHING;
  const next = batch.next;
  const effects: RootEffect[] = batch.events.map((event) => ({ kind: 'emit' as const, event }));
  const tracked: Record<NodeId, NodeStatus> = { ...ctx.tracked };
  for (const e of batch.events) {
    if (!MEMBERSHIP.has(e.type) || !('nodeId' in e)) continue;
    const n = next.nodes[e.nodeId];
    if (e.nodeId in ctx.tracked) {
      effects.push({
        kind: 'send',
        to: lifecycleSystemId(e.nodeId),
        event: { type: 'COMMITTED', at: p.at, event: e as MembershipFact },
      });
    } else if (n !== undefined && !(e.nodeId in tracked)) {
      // Admitted before any heartbeat of it arrived here (the leader itself at bootstrap).
      effects.push({ kind: 'spawnLifecycle', input: lifecycleInput(ctx.timing, n, p.at, true) });
    }
    tracked[e.nodeId] = n?.status ?? 'Joining';
  }
  for (const id of Object.keys(tracked)) {
    if (id in next.nodes || tracked[id] === 'Joining') continue;
    delete tracked[id];
    effects.push({ kind: 'stop', id: lifecycleSystemId(id) });
  }

  for (const o of batch.outcomes) {
    if (o.rejection !== null) continue;
    if (o.proposal.source === 'rebalancer') {
      effects.push({
        kind: 'send',
        to: REBALANCER_SYSTEM_ID,
        event: {
          type: 'COMMITTED',
          at: p.at,
          events: o.events.filter((e) => REBALANCING.has(e.type)),
          rebalance: next.rebalance,
        },
      });
    } else if (typeof o.proposal.source === 'object') {
      effects.push({
        kind: 'emit',
        event: {
          type: 'CommandAnswered',
          requestId: o.proposal.source.requestId,
          ok: true,
          events: o.events,
          code: null,
          message: null,
        },
      });
    }
  }

  // Rebalancing trigger: every committed membership change asks for a rebalance.
  const reasons = batch.events.map(rebalanceReasonFor).filter((r) => r !== null);
  const last = reasons[reasons.length - 1];
  if (last !== undefined) {
    effects.push({
      kind: 'send',
      to: REBALANCER_SYSTEM_ID,
      event: { type: 'TOPOLOGY_CHANGED', at: p.at, reason: last },
    });
  }
  // A Draining node that owns nothing any more has finished: it leaves.
  const drained = next.rebalance === null ? drainedNodes(next) : [];
  const queue: Proposal[] = drained.map((nodeId) => ({
    kind: 'leave',
    nodeId,
    reason: 'drained',
    incarnation: next.nodes[nodeId]?.incarnation ?? null,
    source: 'root',
  }));
  effects.push(...announceTopology(ctx, next, p.at));
  // The leader itself is draining or leaving: hand leadership on, it may no longer lead.
  if (!eligibleToLead(next, ctx.nodeId, ctx.incarnation)) {
    effects.push({ kind: 'send', to: LEADERSHIP_SYSTEM_ID, event: { type: 'RESIGN', at: p.at } });
  }
  const elected = batch.outcomes.some((o) => o.rejection === null && o.proposal.kind === 'election');
  return {
    patch: {
      cluster: next,
      revision: p.revision,
      pending: null,
      failures: 0,
      now: Math.max(ctx.now, p.at),
      tracked,
      ...(elected ? { fenced: true } : {}),
      ...(queue.length > 0 ? { queue: [...ctx.queue, ...queue] } : {}),
    },
    effects,
  };
}

type MembershipFact = Extract<
  DomainEvent,
  { type: 'NodeJoined' | 'NodeDraining' | 'NodeFailed' | 'NodeLeft' }
>;

/** Gives up the pending batch: answer its proposers so they can retry. */
export function dropPending(ctx: ClusterNodeContext): RootStep {
  const effects = (ctx.pending?.outcomes ?? []).flatMap((o) =>
    o.rejection !== null
      ? []
      : answerRejected(
          { ...o, rejection: { code: 'COMMIT_FAILED', message: 'the topology write failed; retry' } },
          ctx.now,
        ),
  );
  // Without its election committed the term is not fenced: this node must not go on leading.
  if (ctx.pending?.outcomes.some((o) => o.proposal.kind === 'election')) {
    effects.push({ kind: 'send', to: LEADERSHIP_SYSTEM_ID, event: { type: 'RESIGN', at: ctx.now } });
  }
  return { patch: { pending: null, failures: 0 }, effects };
}

/** After a failed write: re-decide the batch on the fresh topology. */
export function requeuePending(ctx: ClusterNodeContext): Partial<ClusterNodeContext> {
  return {
    queue: [
      ...(ctx.pending?.outcomes.filter((o) => o.rejection === null).map((o) => o.proposal) ?? []),
      ...ctx.queue,
    ],
    pending: null,
  };
}

/** What a child proposes, or an operator commands, as a proposal for the writer's queue. */
export function proposalOf(
  event:
    | LifecycleProposal
    | RebalancingProposal
    | { type: 'COMMAND'; at: number; requestId: string; command: OperatorCommand },
): { proposal: Proposal; at: number } {
  const at = event.at;
  switch (event.type) {
    case 'PROPOSE_JOIN':
      return {
        at,
        proposal: {
          kind: 'join',
          nodeId: event.nodeId,
          incarnation: event.incarnation,
          weight: event.weight,
          source: 'lifecycle',
        },
      };
    case 'PROPOSE_FAILED':
      return {
        at,
        proposal: {
          kind: 'failed',
          nodeId: event.nodeId,
          incarnation: event.incarnation,
          lastSeen: event.lastSeen,
          source: 'lifecycle',
        },
      };
    case 'PROPOSE_REBALANCE':
      return { at, proposal: { kind: 'rebalance', reason: event.reason, source: 'rebalancer' } };
    case 'PROPOSE_MIGRATIONS':
      return {
        at,
        proposal: {
          kind: 'migrations',
          shardIds: event.shardIds,
          finish: event.finish,
          source: 'rebalancer',
        },
      };
    case 'COMMAND':
      return { at, proposal: commandProposal(event.command, event.requestId) };
  }
}

/** The proposal behind an operator's command. */
export function commandProposal(command: OperatorCommand, requestId: string): Proposal {
  const source = { requestId };
  switch (command.type) {
    case 'drainNode':
      return { kind: 'drain', nodeId: command.nodeId, incarnation: command.incarnation ?? null, source };
    case 'leaveCluster':
      return {
        kind: 'leave',
        nodeId: command.nodeId,
        reason: 'graceful',
        incarnation: command.incarnation,
        source,
      };
    case 'markNodeFailed':
      return {
        kind: 'failed',
        nodeId: command.nodeId,
        incarnation: command.incarnation ?? null,
        lastSeen: 0,
        source,
      };
  }
}

export type { Batch };
