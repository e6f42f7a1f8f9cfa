/**
 * The root actor of a cluster node. It spawns the leadership actor, the shard host, one lifecycle
 * actor per known node and — while leading — the rebalancer, and routes facts from the adapters
 * into them:
 *
 *   LEASE_CHANGED ─▶ leadership     HEARTBEAT ─▶ lifecycle-<id>     TOPOLOGY ─▶ adopt (followers)
 *   RELEASE_REQUESTED ─▶ shard host (the old owner's side of a hand-off)
 *   leadership ─LEADER_ELECTED─▶ role.leader: fence (read, commit LeaderElected) ─▶ rebalancer, judges
 *   leadership ─LEADERSHIP_LOST─▶ role.follower: stop the rebalancer, lifecycles stop judging
 *
 * As leader it is the single writer of the topology: children propose, the root decides through the
 * domain's commands (`decideBatch`), commits the batch by compare-and-set stamped with its term,
 * emits the batch's domain events in commit order and tells the proposers. The logic of each step
 * is in `root-effects.ts`; the actions here only carry it out. The policy table of the domain model:
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
import { type ActorRefFrom, assign, enqueueActions, fromPromise, setup } from 'xstate';
import type { TimingConfig } from '../src/config.js';
import type { DomainEvent } from '../src/domain/events.js';
import { type ClusterState, initialClusterState } from '../src/domain/state.js';
import type { NodeId, NodeStatus, Term } from '../src/domain/values.js';
import type { Heartbeat, LeaseRecord, OperatorCommand } from '../src/protocol/messages.js';
import { type Hearing, initialHearing, type LinkStatus } from './hearing.js';
import { fenceAfterMs, type ReleaseRequest } from './hosting.js';
import { type LeadershipReport, leadershipMachine } from './leadership.machine.js';
import {
  type FailedProposal,
  type LifecycleProposal,
  nodeLifecycleMachine,
} from './node-lifecycle.machine.js';
import { type Batch, eligibleToLead, type Proposal } from './proposals.js';
import { type RebalancingProposal, rebalancingMachine } from './rebalancing.machine.js';
import {
  adoptRead,
  adoptTopology,
  applyCommitted,
  confirmMembership,
  decideQueued,
  dropPending,
  enqueueFailure,
  enqueueProposal,
  heartbeatOf,
  noteConnection,
  proposalOf,
  queueCompaction,
  type RootEffect,
  type RootStep,
  rejoinIfExpelled,
  requeuePending,
  routeHeartbeat,
  startLeading,
  stopLeading,
} from './root-effects.js';
import { shardHostMachine } from './shard-host.machine.js';
import { LEADERSHIP_SYSTEM_ID, SHARD_HOST_SYSTEM_ID } from './system-ids.js';

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
  | 'departedRetentionMs'
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
  /** Load this node reports in its heartbeats (set by the application). */
  readonly load: number;
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
  /**
   * Highest committed term seen: the terms the topology record carries (a leader's fencing commit). Writes
   * and events of older terms are ignored. A lease observation does not raise it: the lease is one small
   * write any client of the store can forge, and a forged huge term would fence out every later write of
   * the real leader. A deposed leader is fenced all the same, by the record's compare-and-set.
   */
  readonly highestTerm: Term;
  /** Own term while leading. */
  readonly term: Term | null;
  /** Whether the own term's election is committed (the fencing write); only then does it speak. */
  readonly fenced: boolean;
  /** Proposals waiting for the writer. */
  readonly queue: readonly Proposal[];
  /** The batch being committed. */
  readonly pending: Batch | null;
  /** Status each lifecycle actor was last told, by node id. */
  readonly tracked: Readonly<Record<NodeId, NodeStatus>>;
  /** Consecutive failed commits of the current batch. */
  readonly failures: number;
  /** Whether this node could hear heartbeats, and since when: a deaf judge fails nobody. */
  readonly hearing: Hearing;
  /**
   * Failures proposed at a deadline, held until a heartbeat heard after it shows that this node could
   * hear then (a paused judge's timers fire before its inbox is read).
   */
  readonly heldFailures: readonly FailedProposal[];
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
  | {
      readonly type: 'COMMAND';
      readonly at: number;
      readonly requestId: string;
      readonly command: OperatorCommand;
    }
  /** A leader asks this node to release shards (the old owner's side of a hand-off). */
  | ({ readonly type: 'RELEASE_REQUESTED'; readonly at: number } & ReleaseRequest)
  /** A read of the topology from the store, started at `at`, succeeded (for self-fencing). */
  | {
      readonly type: 'STORE_CONTACT';
      readonly at: number;
      /** When the answer arrived. */
      readonly receivedAt: number;
      readonly state: ClusterState | null;
    }
  /** The transport connection changed (reported by the runtime). */
  | { readonly type: 'CONNECTION'; readonly at: number; readonly status: LinkStatus }
  /** The application reports this node's load; it travels in the next heartbeats. */
  | { readonly type: 'REPORT_LOAD'; readonly at: number; readonly load: number }
  /** Give up leadership (before draining or stopping); the node keeps running. */
  | { readonly type: 'RESIGN'; readonly at: number }
  | { readonly type: 'STOP'; readonly at: number }
  | LeadershipReport
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

/** What the root emits: every domain event this node decided, in order, and answers to commands. */
export type ClusterNodeEmitted = DomainEvent | CommandAnswered;

export interface ReadTopologyOutput {
  readonly state: ClusterState | null;
  readonly revision: number;
  readonly at: number;
}
export interface CommitTopologyInput {
  readonly state: ClusterState;
  readonly expectedRevision: number;
  readonly term: Term;
  /** The batch's events: the record carries them until the audit stream has stored them. */
  readonly events: readonly DomainEvent[];
}
export interface CommitTopologyOutput {
  readonly revision: number;
  readonly at: number;
}

/** Give up a batch after this many failed commits in a row; its proposers retry on their own. */
const MAX_COMMIT_FAILURES = 3;

/** The parts of XState's action enqueuer a step needs (send and spawn are typed per machine there). */
interface Enqueue {
  assign: (patch: Partial<ClusterNodeContext>) => void;
  stopChild: (id: string) => void;
  emit: (e: ClusterNodeEmitted) => void;
  readonly sendTo: unknown;
  readonly spawnChild: unknown;
}

/**
 * Carries out one step: the context patch, then each effect. A child addressed by system id that is
 * not there (yet, or any more) gets nothing — XState's `sendTo` with an undefined target would
 * deliver to the sender itself — except one spawned by this very step, addressed by its id.
 */
function perform(enqueue: Enqueue, system: { get: (id: string) => unknown }, step: RootStep): void {
  if (Object.keys(step.patch).length > 0) enqueue.assign(step.patch);
  const spawned = new Set<string>();
  const send = enqueue.sendTo as (to: unknown, event: unknown) => void;
  const spawn = enqueue.spawnChild as (src: string, opts: unknown) => void;
  for (const e of step.effects) perform1(e);
  function perform1(e: RootEffect): void {
    switch (e.kind) {
      case 'send': {
        const ref = system.get(e.to);
        if (ref !== undefined) send(ref, e.event);
        else if (spawned.has(e.to)) send(e.to, e.event);
        return;
      }
      case 'spawnLifecycle': {
        const id = `lifecycle-${e.input.nodeId}`;
        spawn('nodeLifecycle', { id, systemId: id, input: e.input });
        spawned.add(id);
        return;
      }
      case 'spawnRebalancer':
        spawn('rebalancing', { id: 'rebalancer', systemId: 'rebalancer', input: e.input });
        spawned.add('rebalancer');
        return;
      case 'stop':
        enqueue.stopChild(e.id);
        return;
      case 'emit':
        enqueue.emit(e.event);
        return;
    }
  }
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
    shardHost: shardHostMachine,
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
    /** A leadership report about the term this node fenced (not a stale or unfenced one). */
    ofFencedTerm: ({ context }, p: { term: Term }) => context.fenced && context.term === p.term,
  },
  delays: {
    heartbeatInterval: ({ context }) => context.timing.heartbeatIntervalMs,
    retryInterval: ({ context }) => context.timing.retryIntervalMs,
  },
  actions: {
    /** Announces this node; bound by the runtime to a bus publish. */
    sendHeartbeat: (_args, _hb: Heartbeat) => {},
    spawnChildren: enqueueActions(({ context, enqueue }) => {
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
      enqueue.spawnChild('shardHost', {
        id: SHARD_HOST_SYSTEM_ID,
        systemId: SHARD_HOST_SYSTEM_ID,
        input: { nodeId: context.nodeId, now: context.now, fenceAfterMs: fenceAfterMs(context.timing) },
      });
    }),
    forwardToLeadership: enqueueActions(({ enqueue, system, event }) => {
      const ref = system.get(LEADERSHIP_SYSTEM_ID) as ActorRefFrom<typeof leadershipMachine> | undefined;
      if (ref === undefined) return;
      if (event.type === 'LEASE_CHANGED' || event.type === 'RESIGN' || event.type === 'STOP')
        enqueue.sendTo(ref, event);
    }),
    forwardToShardHost: enqueueActions(({ enqueue, system, event }) => {
      const ref = system.get(SHARD_HOST_SYSTEM_ID) as ActorRefFrom<typeof shardHostMachine> | undefined;
      if (ref !== undefined && event.type === 'RELEASE_REQUESTED') enqueue.sendTo(ref, event);
    }),
    setLoad: assign((_, p: { load: number }) => ({ load: p.load })),
    confirmMembership: enqueueActions(
      ({ context, enqueue, system }, p: { at: number; receivedAt: number; state: ClusterState | null }) =>
        perform(enqueue, system, confirmMembership(context, p)),
    ),
    noteConnection: enqueueActions(({ context, enqueue, system }, p: { at: number; status: LinkStatus }) =>
      perform(enqueue, system, noteConnection(context, p)),
    ),
    routeHeartbeat: enqueueActions(({ context, enqueue, system }, p: { at: number; heartbeat: Heartbeat }) =>
      perform(enqueue, system, routeHeartbeat(context, p)),
    ),
    adoptTopology: enqueueActions(
      ({ context, enqueue, system }, p: { state: ClusterState; revision: number; at: number }) =>
        perform(enqueue, system, adoptTopology(context, p)),
    ),
    rejoinIfExpelled: assign(({ context }) => rejoinIfExpelled(context)),
    /** Departed members past their retention leave the record (the leader checks every heartbeat). */
    queueCompaction: assign(({ context }) => queueCompaction(context)),
    becomeLeader: assign((_, p: { term: Term; at: number }) => ({
      term: p.term,
      fenced: false,
      now: p.at,
      queue: [],
      pending: null,
    })),
    becomeFollower: enqueueActions(({ context, enqueue, system }) =>
      perform(enqueue, system, stopLeading(context)),
    ),
    adoptRead: enqueueActions(
      ({ context, enqueue, system }, p: { state: ClusterState | null; revision: number; at: number }) =>
        perform(enqueue, system, adoptRead(context, p)),
    ),
    proposeElection: assign(({ context }) => ({
      queue: [
        { kind: 'election' as const, term: context.term ?? 0, source: 'root' as const },
        ...context.queue,
      ],
    })),
    startLeading: enqueueActions(({ context, enqueue, system }) =>
      perform(enqueue, system, startLeading(context)),
    ),
    enqueueProposal: assign(({ context }, p: { proposal: Proposal; at: number }) =>
      enqueueProposal(context, p),
    ),
    /** Queued only if the judge could hear the node for a full timeout; else it proposes again later. */
    enqueueFailure: assign(({ context }, p: FailedProposal) => enqueueFailure(context, p)),
    decideQueued: enqueueActions(({ context, enqueue, system }) =>
      perform(enqueue, system, decideQueued(context)),
    ),
    applyCommitted: enqueueActions(({ context, enqueue, system }, p: { revision: number; at: number }) =>
      perform(enqueue, system, applyCommitted(context, p)),
    ),
    countFailure: assign(({ context }) => ({ failures: context.failures + 1 })),
    dropPending: enqueueActions(({ context, enqueue, system }) =>
      perform(enqueue, system, dropPending(context)),
    ),
    /** A stale or unfenceable term: hand the lease back so that the current leader stays alone. */
    resignLeadership: enqueueActions(({ context, enqueue, system }) => {
      const ref = system.get(LEADERSHIP_SYSTEM_ID) as ActorRefFrom<typeof leadershipMachine> | undefined;
      if (ref !== undefined) enqueue.sendTo(ref, { type: 'RESIGN', at: context.now });
    }),
    requeuePending: assign(({ context }) => requeuePending(context)),
    /** Speaks for the leadership actor: its renewals and its stepping down, once the term is fenced. */
    emitLeadership: enqueueActions(({ enqueue }, p: { event: DomainEvent }) => enqueue.emit(p.event)),
  },
}).createMachine({
  id: 'clusterNode',
  type: 'parallel',
  context: ({ input }) => ({
    nodeId: input.nodeId,
    incarnation: input.incarnation,
    weight: input.weight,
    load: 0,
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
    fenced: false,
    queue: [],
    pending: null,
    tracked: {},
    failures: 0,
    hearing: initialHearing(input.now),
    heldFailures: [],
  }),
  entry: 'spawnChildren',
  on: {
    // The lease's term is not noted here: any client of the store can write that key (see highestTerm).
    LEASE_CHANGED: { actions: 'forwardToLeadership' },
    HEARTBEAT: { actions: { type: 'routeHeartbeat', params: ({ event }) => event } },
    RELEASE_REQUESTED: { actions: 'forwardToShardHost' },
    REPORT_LOAD: { actions: { type: 'setLoad', params: ({ event }) => event } },
    STORE_CONTACT: { actions: { type: 'confirmMembership', params: ({ event }) => event } },
    CONNECTION: { actions: { type: 'noteConnection', params: ({ event }) => event } },
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
            LEADERSHIP_RENEWED: {
              guard: { type: 'ofFencedTerm', params: ({ event }) => event.event },
              actions: { type: 'emitLeadership', params: ({ event }) => event },
            },
            LEADERSHIP_LOST: [
              {
                guard: { type: 'ofFencedTerm', params: ({ event }) => event },
                target: 'follower',
                actions: { type: 'emitLeadership', params: ({ event }) => event },
              },
              // A term that never committed its election never spoke: it ends silently.
              { target: 'follower' },
            ],
            TOPOLOGY: [
              {
                // A newer term has written: this node was deposed (paused, cut off) and must not write again.
                guard: { type: 'deposedBy', params: ({ event }) => event },
                target: 'follower',
                actions: [{ type: 'adoptTopology', params: ({ event }) => event }, 'resignLeadership'],
              },
              { actions: { type: 'adoptTopology', params: ({ event }) => event } },
            ],
            PROPOSE_JOIN: { actions: { type: 'enqueueProposal', params: ({ event }) => proposalOf(event) } },
            PROPOSE_FAILED: { actions: { type: 'enqueueFailure', params: ({ event }) => event } },
            PROPOSE_REBALANCE: {
              actions: { type: 'enqueueProposal', params: ({ event }) => proposalOf(event) },
            },
            PROPOSE_MIGRATIONS: {
              actions: { type: 'enqueueProposal', params: ({ event }) => proposalOf(event) },
            },
            COMMAND: { actions: { type: 'enqueueProposal', params: ({ event }) => proposalOf(event) } },
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
                      state: context.pending?.next ?? context.cluster,
                      expectedRevision: context.revision,
                      term: context.term ?? 0,
                      events: context.pending?.events ?? [],
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
          entry: [
            { type: 'sendHeartbeat', params: ({ context }) => heartbeatOf(context) },
            'queueCompaction',
          ],
          after: { heartbeatInterval: { target: 'beating', reenter: true } },
          on: { STOP: 'silent' },
        },
        silent: { type: 'final' },
      },
    },
  },
});

export type ClusterNodeMachine = typeof clusterNodeMachine;
