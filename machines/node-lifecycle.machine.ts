/**
 * Node lifecycle: one actor per known node, on every node.
 *
 * joining ──NodeJoined──▶ active ──NodeDraining──▶ draining ──NodeLeft──▶ left
 *                          │  ▲                      │
 *             (deadline)   ▼  │ heartbeat            ▼ NodeFailed
 *                        suspected ──NodeFailed──▶ failed ──heartbeat of a newer incarnation──▶ joining
 *
 * Heartbeats re-arm an absolute deadline (`lastSeen + failureTimeout`) kept in context. Only the
 * leader's actors are judges: they propose joins (with the weight the node announces) and failures
 * to the root, which commits them through the domain core and emits the domain events; every actor
 * then moves on the committed fact. Followers' actors only follow.
 *
 * A judge that could not hear (cut off from the transport, paused, or just elected) gives every member
 * a full timeout from the moment it can hear again (`HEARING_RESTORED`, `JUDGE`), also a member it had
 * already suspected: silence it could not have heard proves nothing.
 */
import { assign, enqueueActions, setup } from 'xstate';
import type { NodeDraining, NodeFailed, NodeJoined, NodeLeft } from '../src/domain/events.js';
import type { NodeId, NodeStatus } from '../src/domain/values.js';
import { ROOT_SYSTEM_ID } from './system-ids.js';

export type MembershipEvent = NodeJoined | NodeDraining | NodeFailed | NodeLeft;

export interface NodeLifecycleInput {
  /** The node this actor tracks. */
  readonly nodeId: NodeId;
  readonly timing: { readonly heartbeatIntervalMs: number; readonly failureTimeoutMs: number };
  readonly now: number;
  readonly incarnation: number;
  /** Placement weight: announced in the first heartbeat heard, or recorded in the topology. */
  readonly weight: number;
  /** Status from the committed topology (Joining when first heard of by heartbeat). */
  readonly status: NodeStatus;
  readonly lastSeen: number;
  /** Whether this actor judges (runs on the leader). */
  readonly judge: boolean;
}

export interface NodeLifecycleContext {
  readonly nodeId: NodeId;
  readonly timing: NodeLifecycleInput['timing'];
  readonly now: number;
  readonly incarnation: number;
  /** Newest incarnation heard in a heartbeat (may be ahead of the committed one). */
  readonly heardIncarnation: number;
  /** Placement weight the node announces; a join proposes it. */
  readonly weight: number;
  /** Load the node last reported in its heartbeat (application-defined, e.g. its entity count). */
  readonly load: number;
  readonly lastSeen: number;
  /** Absolute time at which the node is considered failed unless heard from. */
  readonly deadline: number;
  readonly judge: boolean;
  /** Status the actor was created with; picks the first state. */
  readonly startAs: NodeStatus;
}

export type NodeLifecycleEvent =
  | {
      readonly type: 'HEARTBEAT';
      readonly at: number;
      readonly incarnation: number;
      readonly weight: number;
      readonly load: number;
    }
  /** A membership fact committed to the topology. */
  | { readonly type: 'COMMITTED'; readonly at: number; readonly event: MembershipEvent }
  /** Adopt a status from a topology snapshot without emitting (a follower catching up, a new leader). */
  | { readonly type: 'SYNC'; readonly at: number; readonly status: NodeStatus; readonly incarnation: number }
  | { readonly type: 'JUDGE'; readonly at: number; readonly judge: boolean }
  /** The observer could not hear anyone until `at` (disconnected, paused): the deadline restarts from then. */
  | { readonly type: 'HEARING_RESTORED'; readonly at: number };

/** What a judging lifecycle actor asks the root to commit. */
export type LifecycleProposal =
  | {
      readonly type: 'PROPOSE_JOIN';
      readonly nodeId: NodeId;
      readonly incarnation: number;
      readonly weight: number;
      readonly at: number;
    }
  | {
      readonly type: 'PROPOSE_FAILED';
      readonly nodeId: NodeId;
      readonly incarnation: number;
      readonly lastSeen: number;
      readonly at: number;
    };

/** A judge's proposal that a node failed. */
export type FailedProposal = Extract<LifecycleProposal, { type: 'PROPOSE_FAILED' }>;

const lifecycle = setup({
  types: {
    context: {} as NodeLifecycleContext,
    events: {} as NodeLifecycleEvent,
    input: {} as NodeLifecycleInput,
  },
  guards: {
    isJudge: ({ context }) => context.judge,
    /** A heartbeat from a newer process of the same node. */
    newerIncarnation: ({ context }, p: { incarnation: number }) => p.incarnation > context.incarnation,
    currentIncarnation: ({ context }, p: { incarnation: number }) => p.incarnation === context.incarnation,
    committedIs: (_, p: { event: MembershipEvent; type: MembershipEvent['type'] }) => p.event.type === p.type,
    syncIs: (_, p: { status: NodeStatus; want: NodeStatus }) => p.status === p.want,
    startsAs: ({ context }, p: { status: NodeStatus }) => context.startAs === p.status,
  },
  delays: {
    untilDeadline: ({ context }) => Math.max(0, context.deadline - context.now),
  },
  actions: {
    hear: assign(({ context }, p: { at: number; incarnation: number; weight: number; load: number }) => ({
      now: Math.max(context.now, p.at),
      weight: p.weight,
      load: p.load,
      lastSeen: p.at,
      heardIncarnation: Math.max(context.heardIncarnation, p.incarnation),
      deadline: p.at + context.timing.failureTimeoutMs,
    })),
    tick: assign(({ context }, p: { at: number }) => ({ now: Math.max(context.now, p.at) })),
    passDeadline: assign(({ context }) => ({ now: Math.max(context.now, context.deadline) })),
    setJudge: assign(({ context }, p: { judge: boolean; at: number }) => ({
      judge: p.judge,
      now: Math.max(context.now, p.at),
      // A new judge gives every node a full timeout from now: it may have missed earlier heartbeats.
      deadline:
        p.judge && !context.judge
          ? Math.max(context.deadline, p.at + context.timing.failureTimeoutMs)
          : context.deadline,
    })),
    /** Silence the observer could not hear counts for nothing: a full timeout from when it hears again. */
    restartDeadline: assign(({ context }, p: { at: number }) => ({
      now: Math.max(context.now, p.at),
      deadline: Math.max(context.deadline, p.at + context.timing.failureTimeoutMs),
    })),
    /**
     * A newer incarnation learnt from a topology was admitted after the last silence this actor
     * measured: it gets a full timeout from now, as an admission seen as it happened gives it.
     */
    adopt: assign(({ context }, p: { incarnation: number; at: number }) => ({
      incarnation: Math.max(context.incarnation, p.incarnation),
      heardIncarnation: Math.max(context.heardIncarnation, p.incarnation),
      now: Math.max(context.now, p.at),
      deadline:
        p.incarnation > context.incarnation
          ? Math.max(context.deadline, p.at + context.timing.failureTimeoutMs)
          : context.deadline,
    })),
    /** A node (re)admitted gets a full timeout from admission. */
    admit: assign(({ context }, p: { incarnation: number; at: number }) => ({
      incarnation: p.incarnation,
      heardIncarnation: Math.max(context.heardIncarnation, p.incarnation),
      now: Math.max(context.now, p.at),
      deadline: Math.max(context.deadline, p.at + context.timing.failureTimeoutMs),
    })),
    /** The judge asks the root to admit the node (the root dedupes repeats while a commit is pending). */
    proposeJoinIfJudge: enqueueActions(({ context, enqueue, system }) => {
      if (!context.judge) return;
      const proposal: LifecycleProposal = {
        type: 'PROPOSE_JOIN',
        nodeId: context.nodeId,
        incarnation: context.heardIncarnation,
        weight: context.weight,
        at: context.now,
      };
      enqueue.sendTo(system.get(ROOT_SYSTEM_ID), proposal);
    }),
    proposeFailedIfJudge: enqueueActions(({ context, enqueue, system }) => {
      if (!context.judge) return;
      const proposal: LifecycleProposal = {
        type: 'PROPOSE_FAILED',
        nodeId: context.nodeId,
        incarnation: context.incarnation,
        lastSeen: context.lastSeen,
        at: context.now,
      };
      enqueue.sendTo(system.get(ROOT_SYSTEM_ID), proposal);
    }),
  },
});

/**
 * A member the failure detector watches. Active and Draining nodes are watched alike: a draining
 * node that goes silent still fails, and its remaining shards are recovered.
 */
const watched = lifecycle.createStateConfig({
  initial: 'healthy',
  on: {
    // Back to healthy so that the timer follows the deadline moved (a suspicion the judge could not
    // have formed is dropped; a deadline still past fires again at once, and the judge proposes then).
    JUDGE: {
      target: '.healthy',
      reenter: true,
      actions: { type: 'setJudge', params: ({ event }) => event },
    },
    HEARING_RESTORED: {
      target: '.healthy',
      reenter: true,
      actions: { type: 'restartDeadline', params: ({ event }) => event },
    },
    HEARTBEAT: [
      {
        guard: { type: 'newerIncarnation', params: ({ event }) => event },
        target: 'joining',
        actions: { type: 'hear', params: ({ event }) => event },
      },
      {
        guard: { type: 'currentIncarnation', params: ({ event }) => event },
        target: '.healthy',
        reenter: true,
        actions: { type: 'hear', params: ({ event }) => event },
      },
    ],
  },
  states: {
    healthy: {
      after: { untilDeadline: { target: 'suspected', actions: 'passDeadline' } },
    },
    /** Missed its deadline; the judge has proposed NodeFailed and waits for the commit. */
    suspected: {
      entry: 'proposeFailedIfJudge',
    },
  },
});

export const nodeLifecycleMachine = lifecycle.createMachine({
  id: 'nodeLifecycle',
  context: ({ input }) => ({
    nodeId: input.nodeId,
    timing: input.timing,
    now: input.now,
    incarnation: input.incarnation,
    heardIncarnation: input.incarnation,
    weight: input.weight,
    load: 0,
    lastSeen: input.lastSeen,
    deadline: Math.max(input.lastSeen, input.now) + input.timing.failureTimeoutMs,
    judge: input.judge,
    startAs: input.status,
  }),
  initial: 'routing',
  on: {
    JUDGE: { actions: { type: 'setJudge', params: ({ event }) => event } },
    HEARING_RESTORED: { actions: { type: 'restartDeadline', params: ({ event }) => event } },
    SYNC: [
      {
        guard: { type: 'syncIs', params: ({ event }) => ({ status: event.status, want: 'Active' }) },
        target: '.active',
        actions: { type: 'adopt', params: ({ event }) => event },
      },
      {
        guard: { type: 'syncIs', params: ({ event }) => ({ status: event.status, want: 'Draining' }) },
        target: '.draining',
        actions: { type: 'adopt', params: ({ event }) => event },
      },
      {
        guard: { type: 'syncIs', params: ({ event }) => ({ status: event.status, want: 'Failed' }) },
        target: '.failed',
        actions: { type: 'adopt', params: ({ event }) => event },
      },
      {
        guard: { type: 'syncIs', params: ({ event }) => ({ status: event.status, want: 'Left' }) },
        target: '.left',
        actions: { type: 'adopt', params: ({ event }) => event },
      },
      { actions: { type: 'adopt', params: ({ event }) => event } },
    ],
    COMMITTED: [
      {
        guard: { type: 'committedIs', params: ({ event }) => ({ event: event.event, type: 'NodeJoined' }) },
        target: '.active',
        actions: {
          type: 'admit',
          params: ({ event }) => ({
            incarnation: event.event.type === 'NodeJoined' ? event.event.incarnation : 0,
            at: event.at,
          }),
        },
      },
      {
        guard: { type: 'committedIs', params: ({ event }) => ({ event: event.event, type: 'NodeDraining' }) },
        target: '.draining',
        actions: { type: 'tick', params: ({ event }) => event },
      },
      {
        guard: { type: 'committedIs', params: ({ event }) => ({ event: event.event, type: 'NodeFailed' }) },
        target: '.failed',
        actions: { type: 'tick', params: ({ event }) => event },
      },
      {
        guard: { type: 'committedIs', params: ({ event }) => ({ event: event.event, type: 'NodeLeft' }) },
        target: '.left',
        actions: { type: 'tick', params: ({ event }) => event },
      },
    ],
  },
  states: {
    /** Picks the starting state from the status the actor was created with. */
    routing: {
      always: [
        { guard: { type: 'startsAs', params: { status: 'Active' } }, target: 'active' },
        { guard: { type: 'startsAs', params: { status: 'Draining' } }, target: 'draining' },
        { guard: { type: 'startsAs', params: { status: 'Failed' } }, target: 'failed' },
        { guard: { type: 'startsAs', params: { status: 'Left' } }, target: 'left' },
        { target: 'joining' },
      ],
    },
    joining: {
      entry: 'proposeJoinIfJudge',
      on: {
        JUDGE: { actions: [{ type: 'setJudge', params: ({ event }) => event }, 'proposeJoinIfJudge'] },
        HEARTBEAT: [
          {
            guard: 'isJudge',
            actions: [{ type: 'hear', params: ({ event }) => event }, 'proposeJoinIfJudge'],
          },
          { actions: { type: 'hear', params: ({ event }) => event } },
        ],
      },
    },
    active: watched,
    draining: watched,
    failed: {
      on: {
        HEARTBEAT: {
          guard: { type: 'newerIncarnation', params: ({ event }) => event },
          target: 'joining',
          actions: { type: 'hear', params: ({ event }) => event },
        },
      },
    },
    left: {
      on: {
        HEARTBEAT: {
          guard: { type: 'newerIncarnation', params: ({ event }) => event },
          target: 'joining',
          actions: { type: 'hear', params: ({ event }) => event },
        },
      },
    },
  },
});

export type NodeLifecycleMachine = typeof nodeLifecycleMachine;
