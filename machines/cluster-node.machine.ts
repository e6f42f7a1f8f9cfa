/**
 * The root actor of a cluster node. It spawns the leadership actor, one lifecycle actor per known
 * node and — while leading — the rebalancer, and routes facts from the adapters into them:
 *
 *   LEASE_CHANGED ─▶ leadership        HEARTBEAT ─▶ lifecycle-<id>        TOPOLOGY ─▶ adopt (followers)
 *   LEADER_ELECTED ─▶ role.leader: fence (read, commit LeaderElected) ─▶ spawn rebalancer, judge lifecycles
 *   LEADERSHIP_LOST ─▶ role.follower: stop rebalancer, lifecycles stop judging
 *
 * As leader it is the single writer of the topology: children propose, the root decides through the
 * domain's commands (`decideBatch`), commits the batch by compare-and-set stamped with its term, and
 * tells the proposers, which emit the committed domain events. The policy table of the domain model:
 *
 * | policy               | where                                                                        |
 * |----------------------|------------------------------------------------------------------------------|
 * | Single leader        | leadership: follower campaigns when the lease lapses (LeadershipLost ⇒ elect)  |
 * | Lease renewal        | leadership.leader: renew every renewInterval, step down at renewDeadline       |
 * | Node failure         | lifecycle.active.healthy ⇒ suspected at lastSeen + failureTimeout ⇒ NodeFailed |
 * | Rebalancing trigger  | root: committed NodeJoined/Failed/Left/Draining ⇒ rebalancer TOPOLOGY_CHANGED  |
 * | Shard coverage       | root: after every commit and on election, orphaned shards ⇒ rebalance          |
 * | Graceful shutdown    | root: COMMAND leaveCluster(graceful) from a stopping node ⇒ NodeLeft at once  |
 */
import { assign, enqueueActions, fromPromise, setup } from 'xstate';
import type { TimingConfig } from '../src/config.js';
import { topologyChanged } from '../src/domain/apply.js';
import type { DomainEvent, EventStamp } from '../src/domain/events.js';
import { type ClusterState, initialClusterState } from '../src/domain/state.js';
import type { NodeId, NodeStatus, Term } from '../src/domain/values.js';
import type { Heartbeat, LeaseRecord, OperatorCommand } from '../src/protocol/messages.js';
import { type LeadershipEvent, leadershipMachine } from './leadership.machine.js';
import {
  type LifecycleProposal,
  type MembershipEvent,
  type NodeLifecycleEvent,
  nodeLifecycleMachine,
} from './node-lifecycle.machine.js';
import {
  type Batch,
  decideBatch,
  drainedNodes,
  eligibleToLead,
  type Proposal,
  type ProposalOutcome,
  rebalanceReasonFor,
} from './proposals.js';
import {
  type RebalancingEvent,
  type RebalancingProposal,
  rebalancingMachine,
} from './rebalancing.machine.js';
import { LEADERSHIP_SYSTEM_ID, lifecycleSystemId, REBALANCER_SYSTEM_ID } from './system-ids.js';

/** The timings the root and its children use (validated by `resolveTiming`). */
export type ClusterNodeTiming = Pick<
  TimingConfig,
  | 'leaseTtlMs'
  | 'renewIntervalMs'
  | 'renewDeadlineMs'
  | 'retryIntervalMs'
  | 'heartbeatIntervalMs'
  | 'failureTimeoutMs'
  | 'handoffTimeoutMs'
>;

export interface ClusterNodeInput {
  readonly nodeId: NodeId;
  readonly incarnation: number;
  readonly weight: number;
  readonly shardCount: number;
  readonly timing: ClusterNodeTiming;
  readonly maxMovesPerRound: number;
  /** Name of a placement strategy in `STRATEGIES`. */
  readonly strategy: string;
  readonly now: number;
  /** Prefix of event ids decided here; unique per process. */
  readonly idPrefix: string;
}

export interface ClusterNodeContext {
  readonly nodeId: NodeId;
  readonly incarnation: number;
  readonly weight: number;
  readonly timing: ClusterNodeTiming;
  readonly maxMovesPerRound: number;
  readonly strategy: string;
  readonly now: number;
  readonly idPrefix: string;
  readonly seq: number;
  /** The topology this node holds: committed by the leader (read from the store or written here). */
  readonly cluster: ClusterState;
  /** Store revision of `cluster`; 0 before the first read. */
  readonly revision: number;
  /** Highest term seen anywhere (lease, topology); older writes are ignored. */
  readonly highestTerm: Term;
  /** Own term while leading. */
  readonly term: Term | null;
  /** Proposals waiting for the writer. */
  readonly queue: readonly Proposal[];
  /** The batch being committed. */
  readonly pending: Batch | null;
  /** Status each lifecycle actor was last told, by node id. */
  readonly tracked: Readonly<Record<NodeId, NodeStatus>>;
  /** Consecutive failed commits of the current batch. */
  readonly failures: number;
}

export type ClusterNodeEvent =
  | { readonly type: 'LEASE_CHANGED'; readonly at: number; readonly lease: LeaseRecord | null }
  | { readonly type: 'HEARTBEAT'; readonly at: number; readonly heartbeat: Heartbeat }
  | {
      readonly type: 'TOPOLOGY';
      readonly at: number;
      readonly state: ClusterState;
      readonly revision: number;
    }
  | { readonly type: 'LEADER_ELECTED'; readonly at: number; readonly term: Term }
  | { readonly type: 'LEADERSHIP_LOST'; readonly at: number; readonly term: Term }
  | {
      readonly type: 'COMMAND';
      readonly at: number;
      readonly requestId: string;
      readonly command: OperatorCommand;
    }
  /** Give up leadership (before draining or stopping); the node keeps running. */
  | { readonly type: 'RESIGN'; readonly at: number }
  | { readonly type: 'STOP'; readonly at: number }
  | LifecycleProposal
  | RebalancingProposal;

/** Answer to a COMMAND, emitted by the root once committed or rejected. */
export interface CommandAnswered {
  readonly type: 'CommandAnswered';
  readonly requestId: string;
  readonly ok: boolean;
  readonly events: readonly DomainEvent[];
  readonly code: string | null;
  readonly message: string | null;
}

/** A batch committed to the store by this node (for the runtime: publish nothing here, children emit). */
export interface TopologyCommitted {
  readonly type: 'TopologyCommitted';
  readonly revision: number;
  readonly events: readonly DomainEvent[];
}

export type ClusterNodeEmitted = CommandAnswered | TopologyCommitted | MembershipEvent;

export interface ReadTopologyOutput {
  readonly state: ClusterState | null;
  readonly revision: number;
  readonly at: number;
}
export interface CommitTopologyInput {
  readonly state: ClusterState;
  readonly expectedRevision: number;
  readonly term: Term;
}
export interface CommitTopologyOutput {
  readonly revision: number;
  readonly at: number;
}

const MEMBERSHIP = new Set<DomainEvent['type']>(['NodeJoined', 'NodeDraining', 'NodeFailed', 'NodeLeft']);
const REBALANCING = new Set<DomainEvent['type']>([
  'RebalancingTriggered',
  'ShardAssigned',
  'ShardMigrated',
  'RebalancingCompleted',
]);
/** Give up a batch after this many failed commits in a row; its proposers retry on their own. */
const MAX_COMMIT_FAILURES = 3;

function makeStamp(context: ClusterNodeContext): { stamp: EventStamp; used: () => number } {
  let seq = context.seq;
  return {
    stamp: { origin: context.nodeId, now: context.now, nextId: () => `${context.idPrefix}-${seq++}` },
    used: () => seq,
  };
}

export const clusterNodeMachine = setup({
  types: {
    context: {} as ClusterNodeContext,
    events: {} as ClusterNodeEvent,
    input: {} as ClusterNodeInput,
    emitted: {} as ClusterNodeEmitted,
  },
  actors: {
    leadership: leadershipMachine,
    nodeLifecycle: nodeLifecycleMachine,
    rebalancing: rebalancingMachine,
    /** Reads the topology through the store's leader. */
    readTopology: fromPromise<ReadTopologyOutput, void>(async () => {
      throw new Error('readTopology is bound by the runtime');
    }),
    /** Writes the topology by compare-and-set on `expectedRevision`. */
    commitTopology: fromPromise<CommitTopologyOutput, CommitTopologyInput>(async () => {
      throw new Error('commitTopology is bound by the runtime');
    }),
  },
  guards: {
    hasQueued: ({ context }) => context.queue.length > 0,
    hasPending: ({ context }) => context.pending !== null,
    /** The read topology already carries a higher term: this node's election is stale. */
    staleElection: ({ context }, p: { state: ClusterState | null }) =>
      context.term !== null && p.state !== null && p.state.highestTerm > context.term,
    tooManyFailures: ({ context }) => context.failures + 1 >= MAX_COMMIT_FAILURES,
    /** A topology stamped by a term above this leader's own. */
    deposedBy: ({ context }, p: { state: ClusterState }) =>
      context.term !== null && (p.state.highestTerm > context.term || p.state.shardMap.term > context.term),
  },
  delays: {
    heartbeatInterval: ({ context }) => context.timing.heartbeatIntervalMs,
    retryInterval: ({ context }) => context.timing.retryIntervalMs,
  },
  actions: {
    /** Announces this node; bound by the runtime to a bus publish. */
    sendHeartbeat: (_args, _hb: Heartbeat) => {},
    tick: assign(({ context }, p: { at: number }) => ({ now: Math.max(context.now, p.at) })),

    spawnLeadership: enqueueActions(({ context, enqueue }) => {
      enqueue.spawnChild('leadership', {
        id: LEADERSHIP_SYSTEM_ID,
        systemId: LEADERSHIP_SYSTEM_ID,
        input: {
          nodeId: context.nodeId,
          timing: context.timing,
          now: context.now,
          eligible: eligibleToLead(context.cluster, context.nodeId, context.incarnation),
          idPrefix: `${context.idPrefix}-L`,
        },
      });
    }),
    forwardToLeadership: enqueueActions(({ enqueue, system, event }) => {
      if (event.type === 'LEASE_CHANGED' || event.type === 'RESIGN' || event.type === 'STOP') {
        sendToChild(enqueue, system, LEADERSHIP_SYSTEM_ID, event);
      }
    }),
    noteLeaseTerm: assign(({ context }, p: { lease: LeaseRecord | null }) => ({
      highestTerm: Math.max(context.highestTerm, p.lease?.term ?? 0),
    })),

    /** Ensures a lifecycle actor for the heartbeat's node and passes the heartbeat on. */
    routeHeartbeat: enqueueActions(
      ({ context, enqueue, system }, p: { at: number; heartbeat: Heartbeat }) => {
        const hb = p.heartbeat;
        if (!(hb.nodeId in context.tracked)) {
          const known = context.cluster.nodes[hb.nodeId];
          const status: NodeStatus = known ? known.status : 'Joining';
          enqueue.spawnChild('nodeLifecycle', {
            id: lifecycleSystemId(hb.nodeId),
            systemId: lifecycleSystemId(hb.nodeId),
            input: {
              nodeId: hb.nodeId,
              timing: context.timing,
              now: p.at,
              incarnation: known ? known.incarnation : hb.incarnation,
              status,
              lastSeen: p.at,
              judge: context.term !== null,
            },
          });
          enqueue.assign({ tracked: { ...context.tracked, [hb.nodeId]: status } });
        }
        sendToChild(enqueue, system, lifecycleSystemId(hb.nodeId), {
          type: 'HEARTBEAT',
          at: p.at,
          incarnation: hb.incarnation,
        });
      },
    ),

    /** Adopts a newer topology: the lifecycle actors and the leadership actor follow it. */
    adoptTopology: enqueueActions(
      ({ context, enqueue, system }, p: { state: ClusterState; revision: number; at: number }) => {
        if (p.revision <= context.revision) return;
        // Fencing: a write stamped with a term older than one already seen comes from a deposed leader.
        if (p.state.shardMap.term < context.highestTerm && p.state.highestTerm < context.highestTerm) return;
        enqueue.assign({
          cluster: p.state,
          revision: p.revision,
          highestTerm: Math.max(context.highestTerm, p.state.highestTerm),
          now: Math.max(context.now, p.at),
        });
        const tracked = { ...context.tracked };
        for (const n of Object.values(p.state.nodes)) {
          if (!(n.id in tracked)) {
            enqueue.spawnChild('nodeLifecycle', {
              id: lifecycleSystemId(n.id),
              systemId: lifecycleSystemId(n.id),
              input: {
                nodeId: n.id,
                timing: context.timing,
                now: p.at,
                incarnation: n.incarnation,
                status: n.status,
                lastSeen: p.at,
                judge: context.term !== null,
              },
            });
          } else if (tracked[n.id] !== n.status) {
            sendToChild(enqueue, system, lifecycleSystemId(n.id), {
              type: 'SYNC',
              at: p.at,
              status: n.status,
              incarnation: n.incarnation,
            });
          }
          tracked[n.id] = n.status;
        }
        enqueue.assign({ tracked });
        sendToChild(enqueue, system, LEADERSHIP_SYSTEM_ID, {
          type: 'TOPOLOGY_INFO',
          at: p.at,
          eligible: eligibleToLead(p.state, context.nodeId, context.incarnation),
          version: p.state.shardMap.version,
        });
      },
    ),

    /**
     * A topology that records this still-running process as Failed (it was cut off or paused past its
     * deadline): come back as a new incarnation. Left is final: the node drained or was told to leave.
     */
    rejoinIfExpelled: assign(({ context }) => {
      const self = context.cluster.nodes[context.nodeId];
      if (!self || self.incarnation !== context.incarnation) return {};
      if (self.status !== 'Failed') return {};
      return { incarnation: Math.max(context.incarnation + 1, context.now) };
    }),

    becomeLeader: assign((_, p: { term: Term; at: number }) => ({
      term: p.term,
      now: p.at,
      queue: [],
      pending: null,
    })),
    becomeFollower: enqueueActions(({ context, enqueue, system }) => {
      enqueue.stopChild(REBALANCER_SYSTEM_ID);
      for (const id of Object.keys(context.tracked)) {
        sendToChild(enqueue, system, lifecycleSystemId(id), { type: 'JUDGE', at: context.now, judge: false });
      }
      enqueue.assign({ term: null, queue: [], pending: null, failures: 0 });
    }),

    /** Adopts the topology read at the start of a term, whatever its revision. */
    adoptRead: assign(({ context }, p: { state: ClusterState | null; revision: number; at: number }) => ({
      cluster: p.state ?? context.cluster,
      revision: p.revision,
      highestTerm: Math.max(context.highestTerm, p.state?.highestTerm ?? 0),
      now: Math.max(context.now, p.at),
    })),
    proposeElection: assign(({ context }) => ({
      queue: [{ kind: 'election' as const, term: context.term!, source: 'root' as const }, ...context.queue],
    })),

    /** Takes over as judge and starts the rebalancer, resuming a persisted plan. */
    startLeading: enqueueActions(({ context, enqueue, system }) => {
      for (const id of Object.keys(context.tracked)) {
        sendToChild(enqueue, system, lifecycleSystemId(id), { type: 'JUDGE', at: context.now, judge: true });
      }
      enqueue.spawnChild('rebalancing', {
        id: REBALANCER_SYSTEM_ID,
        systemId: REBALANCER_SYSTEM_ID,
        input: {
          nodeId: context.nodeId,
          term: context.term!,
          now: context.now,
          maxMovesPerRound: context.maxMovesPerRound,
          timing: context.timing,
          resume: context.cluster.rebalance,
        },
      });
      // Shard coverage: a topology left unbalanced or with orphans by the previous leader is repaired now.
      // Addressed by child id: the child spawned just above is not in the system yet.
      // A persisted plan made for an older topology (members failed or left since) is finished after
      // its current round and planned anew, as a change arriving mid-rebalance would be.
      const rebalance = context.cluster.rebalance;
      const stale = rebalance !== null && rebalance.epoch < context.cluster.epoch;
      if ((rebalance === null && topologyChanged(context.cluster)) || stale) {
        enqueue.sendTo(REBALANCER_SYSTEM_ID, {
          type: 'TOPOLOGY_CHANGED',
          at: context.now,
          reason: 'leader-changed',
        });
      }
    }),

    /** Queues a proposal from a child, an operator command or the root itself. */
    enqueueProposal: assign(({ context }, p: { proposal: Proposal; at: number }) => {
      // Lifecycle judges repeat their proposals on every heartbeat; one queued copy is enough.
      const dup = context.queue.some((q) => JSON.stringify(q) === JSON.stringify(p.proposal));
      return {
        queue: dup ? context.queue : [...context.queue, p.proposal],
        now: Math.max(context.now, p.at),
      };
    }),

    /** Decides every queued proposal into one batch; rejections are answered at once. */
    decideQueued: enqueueActions(({ context, enqueue, system }) => {
      const { stamp, used } = makeStamp(context);
      const batch = decideBatch(context.cluster, context.queue, stamp, {
        strategy: context.strategy,
        maxMovesPerRound: context.maxMovesPerRound,
        selfIncarnation: context.incarnation,
        selfWeight: context.weight,
      });
      for (const o of batch.outcomes) {
        if (o.rejection === null) continue;
        answerRejected(o, enqueue, system, context.now);
      }
      const accepted = batch.outcomes.filter((o) => o.rejection === null);
      // `failures` is kept: a batch re-decided after a failed write continues its streak.
      enqueue.assign({ queue: [], seq: used(), pending: accepted.length > 0 ? batch : null });
    }),

    /** The batch is durable: adopt it, tell the proposers and everyone affected. */
    applyCommitted: enqueueActions(({ context, enqueue, system }, p: { revision: number; at: number }) => {
      const batch = context.pending;
      if (batch === null) return;
      const next = batch.next;
      enqueue.assign({
        cluster: next,
        revision: p.revision,
        pending: null,
        failures: 0,
        now: Math.max(context.now, p.at),
      });
      enqueue.emit({ type: 'TopologyCommitted', revision: p.revision, events: batch.events });

      const tracked = { ...context.tracked };
      for (const e of batch.events) {
        if (!MEMBERSHIP.has(e.type)) continue;
        const m = e as MembershipEvent;
        const n = next.nodes[m.nodeId];
        const delivered = sendToChild(enqueue, system, lifecycleSystemId(m.nodeId), {
          type: 'COMMITTED',
          at: p.at,
          event: m,
          emit: true,
        });
        if (!delivered) {
          // Admitted before any heartbeat of it arrived here (the leader itself at bootstrap): track it
          // from the committed status, and emit the fact from the root.
          enqueue.spawnChild('nodeLifecycle', {
            id: lifecycleSystemId(m.nodeId),
            systemId: lifecycleSystemId(m.nodeId),
            input: {
              nodeId: m.nodeId,
              timing: context.timing,
              now: p.at,
              incarnation: n?.incarnation ?? 0,
              status: n?.status ?? 'Joining',
              lastSeen: p.at,
              judge: true,
            },
          });
          enqueue.emit(m);
        }
        tracked[m.nodeId] = n?.status ?? 'Joining';
      }
      enqueue.assign({ tracked });

      for (const o of batch.outcomes) {
        if (o.rejection !== null) continue;
        if (o.proposal.source === 'rebalancer') {
          sendToChild(enqueue, system, REBALANCER_SYSTEM_ID, {
            type: 'COMMITTED',
            at: p.at,
            events: o.events.filter((e) => REBALANCING.has(e.type)),
            rebalance: next.rebalance,
          });
        } else if (typeof o.proposal.source === 'object') {
          enqueue.emit({
            type: 'CommandAnswered',
            requestId: o.proposal.source.requestId,
            ok: true,
            events: o.events,
            code: null,
            message: null,
          });
        }
      }

      // Rebalancing trigger: every committed membership change asks for a rebalance.
      const reasons = batch.events.map(rebalanceReasonFor).filter((r) => r !== null);
      const last = reasons[reasons.length - 1];
      if (last !== undefined) {
        sendToChild(enqueue, system, REBALANCER_SYSTEM_ID, {
          type: 'TOPOLOGY_CHANGED',
          at: p.at,
          reason: last,
        });
      }
      // A Draining node that owns nothing any more has finished: it leaves.
      const drained = next.rebalance === null ? drainedNodes(next) : [];
      if (drained.length > 0) {
        enqueue.assign({
          queue: drained.map((nodeId) => ({
            kind: 'leave' as const,
            nodeId,
            reason: 'drained' as const,
            source: 'root' as const,
          })),
        });
      }
      sendToChild(enqueue, system, LEADERSHIP_SYSTEM_ID, {
        type: 'TOPOLOGY_INFO',
        at: p.at,
        eligible: eligibleToLead(next, context.nodeId, context.incarnation),
        version: next.shardMap.version,
      });
      // The leader itself is draining or leaving: hand leadership on, it may no longer lead.
      if (!eligibleToLead(next, context.nodeId, context.incarnation)) {
        sendToChild(enqueue, system, LEADERSHIP_SYSTEM_ID, { type: 'RESIGN', at: p.at });
      }
    }),
    countFailure: assign(({ context }) => ({ failures: context.failures + 1 })),
    /** Gives up the pending batch: answer its proposers so they can retry. */
    dropPending: enqueueActions(({ context, enqueue, system }) => {
      for (const o of context.pending?.outcomes ?? []) {
        if (o.rejection !== null) continue;
        answerRejected(
          {
            ...o,
            rejection: { code: 'COMMIT_FAILED', message: 'the topology write failed; retry' },
          },
          enqueue,
          system,
          context.now,
        );
      }
      enqueue.assign({ pending: null, failures: 0 });
      // Without its election committed the term is not fenced: this node must not go on leading.
      if (context.pending?.outcomes.some((o) => o.proposal.kind === 'election')) {
        sendToChild(enqueue, system, LEADERSHIP_SYSTEM_ID, { type: 'RESIGN', at: context.now });
      }
    }),
    /** A stale or unfenceable term: hand the lease back so that the current leader stays alone. */
    resignLeadership: enqueueActions(({ context, enqueue, system }) => {
      sendToChild(enqueue, system, LEADERSHIP_SYSTEM_ID, { type: 'RESIGN', at: context.now });
    }),
    /** After a failed write: re-decide the batch on the fresh topology. */
    requeuePending: assign(({ context }) => ({
      queue: [
        ...(context.pending?.outcomes.filter((o) => o.rejection === null).map((o) => o.proposal) ?? []),
        ...context.queue,
      ],
      pending: null,
    })),
  },
}).createMachine({
  id: 'clusterNode',
  type: 'parallel',
  context: ({ input }) => ({
    nodeId: input.nodeId,
    incarnation: input.incarnation,
    weight: input.weight,
    timing: input.timing,
    maxMovesPerRound: input.maxMovesPerRound,
    strategy: input.strategy,
    now: input.now,
    idPrefix: input.idPrefix,
    seq: 0,
    cluster: initialClusterState(input.shardCount),
    revision: 0,
    highestTerm: 0,
    term: null,
    queue: [],
    pending: null,
    tracked: {},
    failures: 0,
  }),
  entry: 'spawnLeadership',
  on: {
    LEASE_CHANGED: {
      actions: [{ type: 'noteLeaseTerm', params: ({ event }) => event }, 'forwardToLeadership'],
    },
    HEARTBEAT: { actions: { type: 'routeHeartbeat', params: ({ event }) => event } },
  },
  states: {
    role: {
      initial: 'follower',
      states: {
        follower: {
          on: {
            TOPOLOGY: {
              actions: [{ type: 'adoptTopology', params: ({ event }) => event }, 'rejoinIfExpelled'],
            },
            LEADER_ELECTED: {
              target: 'leader',
              actions: { type: 'becomeLeader', params: ({ event }) => event },
            },
            RESIGN: { actions: 'forwardToLeadership' },
            STOP: { target: 'stopped', actions: 'forwardToLeadership' },
          },
        },
        leader: {
          initial: 'fencing',
          exit: 'becomeFollower',
          on: {
            LEADERSHIP_LOST: { target: 'follower' },
            TOPOLOGY: [
              {
                // A newer term has written: this node was deposed (paused, cut off) and must not write again.
                guard: { type: 'deposedBy', params: ({ event }) => event },
                target: 'follower',
                actions: [{ type: 'adoptTopology', params: ({ event }) => event }, 'resignLeadership'],
              },
              { actions: { type: 'adoptTopology', params: ({ event }) => event } },
            ],
            PROPOSE_JOIN: {
              actions: {
                type: 'enqueueProposal',
                params: ({ event }) => ({
                  at: event.at,
                  proposal: {
                    kind: 'join',
                    nodeId: event.nodeId,
                    incarnation: event.incarnation,
                    weight: 1,
                    source: 'lifecycle',
                  },
                }),
              },
            },
            PROPOSE_FAILED: {
              actions: {
                type: 'enqueueProposal',
                params: ({ event }) => ({
                  at: event.at,
                  proposal: {
                    kind: 'failed',
                    nodeId: event.nodeId,
                    incarnation: event.incarnation,
                    lastSeen: event.lastSeen,
                    source: 'lifecycle',
                  },
                }),
              },
            },
            PROPOSE_REBALANCE: {
              actions: {
                type: 'enqueueProposal',
                params: ({ event }) => ({
                  at: event.at,
                  proposal: { kind: 'rebalance', reason: event.reason, source: 'rebalancer' },
                }),
              },
            },
            PROPOSE_MIGRATIONS: {
              actions: {
                type: 'enqueueProposal',
                params: ({ event }) => ({
                  at: event.at,
                  proposal: {
                    kind: 'migrations',
                    shardIds: event.shardIds,
                    finish: event.finish,
                    source: 'rebalancer',
                  },
                }),
              },
            },
            COMMAND: {
              actions: {
                type: 'enqueueProposal',
                params: ({ event }) => ({
                  at: event.at,
                  proposal: commandProposal(event.command, event.requestId),
                }),
              },
            },
            RESIGN: { actions: 'forwardToLeadership' },
            STOP: { target: 'stopped', actions: 'forwardToLeadership' },
          },
          states: {
            /** Read the topology through the store, then commit LeaderElected: the fencing write of the term. */
            fencing: {
              invoke: {
                src: 'readTopology',
                onDone: [
                  {
                    guard: { type: 'staleElection', params: ({ event }) => event.output },
                    target: '#clusterNode.role.follower',
                    actions: [{ type: 'adoptRead', params: ({ event }) => event.output }, 'resignLeadership'],
                  },
                  {
                    target: 'writing',
                    actions: [
                      { type: 'adoptRead', params: ({ event }) => event.output },
                      'proposeElection',
                      'startLeading',
                    ],
                  },
                ],
                onError: { target: 'fencingRetry' },
              },
            },
            fencingRetry: {
              after: { retryInterval: { target: 'fencing' } },
            },
            writing: {
              initial: 'idle',
              states: {
                idle: {
                  always: { guard: 'hasQueued', target: 'deciding' },
                },
                deciding: {
                  entry: 'decideQueued',
                  always: [{ guard: 'hasPending', target: 'committing' }, { target: 'idle' }],
                },
                committing: {
                  invoke: {
                    src: 'commitTopology',
                    input: ({ context }) => ({
                      state: context.pending!.next,
                      expectedRevision: context.revision,
                      term: context.term!,
                    }),
                    onDone: {
                      target: 'idle',
                      actions: { type: 'applyCommitted', params: ({ event }) => event.output },
                    },
                    onError: [
                      { guard: 'tooManyFailures', target: 'idle', actions: 'dropPending' },
                      { target: 'refreshing', actions: 'countFailure' },
                    ],
                  },
                },
                /** The write failed (conflict or unknown outcome): re-read, then decide the batch again. */
                refreshing: {
                  invoke: {
                    src: 'readTopology',
                    onDone: {
                      target: 'idle',
                      actions: [{ type: 'adoptRead', params: ({ event }) => event.output }, 'requeuePending'],
                    },
                    onError: { target: 'refreshRetry' },
                  },
                },
                refreshRetry: {
                  after: { retryInterval: { target: 'refreshing' } },
                },
              },
            },
          },
        },
        stopped: { type: 'final' },
      },
    },
    heartbeat: {
      initial: 'beating',
      states: {
        beating: {
          entry: {
            type: 'sendHeartbeat',
            params: ({ context }) => ({
              nodeId: context.nodeId,
              incarnation: context.incarnation,
              weight: context.weight,
              status:
                context.cluster.nodes[context.nodeId]?.incarnation === context.incarnation
                  ? context.cluster.nodes[context.nodeId]!.status
                  : 'Joining',
              version: context.cluster.shardMap.version,
              load: 0,
            }),
          },
          after: { heartbeatInterval: { target: 'beating', reenter: true } },
          on: { STOP: 'silent' },
        },
        silent: { type: 'final' },
      },
    },
  },
});

type Enqueuer = { sendTo: (...args: never[]) => void };
type ChildEvent = LeadershipEvent | NodeLifecycleEvent | RebalancingEvent;

/**
 * Sends to a child by system id; a child that is not there (yet, or any more) gets nothing and the
 * call returns false. (XState's `sendTo` with an undefined target would deliver to the sender itself.)
 */
function sendToChild(
  enqueue: Enqueuer,
  system: { get: (id: string) => unknown },
  id: string,
  event: ChildEvent,
): boolean {
  const ref = system.get(id);
  if (ref === undefined) return false;
  (enqueue.sendTo as (to: unknown, ev: unknown) => void)(ref, event);
  return true;
}

/** Tells the proposer its proposal was rejected. */
function answerRejected(
  o: ProposalOutcome,
  enqueue: {
    sendTo: (...args: never[]) => void;
    emit: (e: ClusterNodeEmitted) => void;
  },
  system: { get: (id: string) => unknown },
  at: number,
): void {
  const r = o.rejection!;
  if (o.proposal.source === 'rebalancer') {
    sendToChild(enqueue, system, REBALANCER_SYSTEM_ID, {
      type: 'REJECTED',
      at,
      code: r.code,
      message: r.message,
    });
  } else if (typeof o.proposal.source === 'object') {
    enqueue.emit({
      type: 'CommandAnswered',
      requestId: o.proposal.source.requestId,
      ok: false,
      events: [],
      code: r.code,
      message: r.message,
    });
  }
}

function commandProposal(command: OperatorCommand, requestId: string): Proposal {
  const source = { requestId };
  switch (command.type) {
    case 'drainNode':
      return { kind: 'drain', nodeId: command.nodeId, source };
    case 'leaveCluster':
      return { kind: 'leave', nodeId: command.nodeId, reason: 'graceful', source };
    case 'markNodeFailed':
      return { kind: 'failed', nodeId: command.nodeId, incarnation: null, lastSeen: 0, source };
  }
}

export type ClusterNodeMachine = typeof clusterNodeMachine;
