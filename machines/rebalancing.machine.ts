/**
 * Rebalancing, run only by the leader (spawned on LeaderElected, stopped on LeadershipLost).
 *
 * idle ──TOPOLOGY_CHANGED──▶ planning ──plan committed──▶ migrating ⟲ (handingOff → committing) ──▶ idle
 *
 * planning asks the root to run the placement strategy through the domain's `rebalanceShards` and
 * commit the plan (recovery assignments take effect in that same commit: their old owner is gone).
 * migrating works the plan in paced rounds of at most `maxMovesPerRound` moves; each move is a
 * hand-off — the old owner releases, then the commit gives the shard to the new owner — so a shard
 * is never served twice; a released-but-uncommitted shard stays in the persisted plan and is
 * finished by whoever leads next. A topology change during a rebalance is queued: the current
 * round completes, the rest of the plan is closed, and planning starts again. The root emits the
 * domain events of each commit.
 */
import { assign, enqueueActions, fromPromise, setup } from 'xstate';
import type { DomainEvent, PlannedMove, RebalanceReason } from '../src/domain/events.js';
import type { ActiveRebalance } from '../src/domain/state.js';
import type { NodeId, ShardId, Term } from '../src/domain/values.js';
import { ROOT_SYSTEM_ID } from './system-ids.js';

export interface RebalancingInput {
  readonly nodeId: NodeId;
  readonly term: Term;
  readonly now: number;
  readonly maxMovesPerRound: number;
  readonly timing: { readonly handoffTimeoutMs: number; readonly retryIntervalMs: number };
  /** A plan persisted by a previous leader, to resume instead of redoing finished moves. */
  readonly resume: ActiveRebalance | null;
}

export interface RebalancingContext {
  readonly nodeId: NodeId;
  readonly term: Term;
  readonly now: number;
  readonly maxMovesPerRound: number;
  readonly timing: RebalancingInput['timing'];
  readonly rebalance: ActiveRebalance | null;
  /** Moves of the round in flight. */
  readonly round: readonly PlannedMove[];
  /** Shards the old owners released in the round, awaiting commit. */
  readonly released: readonly ShardId[];
  /** A topology change arrived mid-rebalance: re-plan after this round. */
  readonly queued: RebalanceReason | null;
  readonly reason: RebalanceReason;
  readonly rounds: number;
}

export type RebalancingEvent =
  | { readonly type: 'TOPOLOGY_CHANGED'; readonly at: number; readonly reason: RebalanceReason }
  | {
      readonly type: 'COMMITTED';
      readonly at: number;
      readonly events: readonly DomainEvent[];
      /** The rebalance after the commit; null when none remains active. */
      readonly rebalance: ActiveRebalance | null;
    }
  | { readonly type: 'REJECTED'; readonly at: number; readonly code: string; readonly message: string };

/** What the rebalancer asks the root to commit. */
export type RebalancingProposal =
  | { readonly type: 'PROPOSE_REBALANCE'; readonly reason: RebalanceReason; readonly at: number }
  | {
      readonly type: 'PROPOSE_MIGRATIONS';
      readonly shardIds: readonly ShardId[];
      /** Close the rebalance after these moves (a topology change is queued). */
      readonly finish: boolean;
      readonly at: number;
    };

export interface HandOffInput {
  readonly term: Term;
  readonly moves: readonly PlannedMove[];
}
export interface HandOffOutput {
  /** Shards whose old owner confirmed the release. */
  readonly released: readonly ShardId[];
  readonly at: number;
}

export const rebalancingMachine = setup({
  types: {
    context: {} as RebalancingContext,
    events: {} as RebalancingEvent,
    input: {} as RebalancingInput,
  },
  actors: {
    /** Asks each old owner to release its shards of the round; resolves with what was released. */
    handOff: fromPromise<HandOffOutput, HandOffInput>(async () => {
      throw new Error('handOff is bound by the runtime');
    }),
  },
  guards: {
    /** Moves remain and this commit completed at least one: the next round may start at once. */
    progressed: (_, p: { rebalance: ActiveRebalance | null; events: readonly DomainEvent[] }) =>
      p.rebalance !== null &&
      p.rebalance.remaining.length > 0 &&
      p.events.some((e) => e.type === 'ShardMigrated'),
    hasRemaining: (_, p: { rebalance: ActiveRebalance | null }) =>
      p.rebalance !== null && p.rebalance.remaining.length > 0,
    isQueued: ({ context }) => context.queued !== null,
    releasedAny: (_, p: { released: readonly ShardId[] }) => p.released.length > 0,
    resuming: ({ context }) => context.rebalance !== null && context.rebalance.remaining.length > 0,
  },
  delays: {
    retryInterval: ({ context }) => context.timing.retryIntervalMs,
  },
  actions: {
    tick: assign(({ context }, p: { at: number }) => ({ now: Math.max(context.now, p.at) })),
    setReason: assign((_, p: { reason: RebalanceReason }) => ({ reason: p.reason })),
    queue: assign((_, p: { reason: RebalanceReason }) => ({ queued: p.reason })),
    takeQueued: assign(({ context }) => ({ reason: context.queued ?? context.reason, queued: null })),
    adoptRebalance: assign((_, p: { rebalance: ActiveRebalance | null }) => ({ rebalance: p.rebalance })),
    pickRound: assign(({ context }) => ({
      round: (context.rebalance?.remaining ?? []).slice(0, context.maxMovesPerRound),
      released: [],
      rounds: context.rounds + 1,
    })),
    setReleased: assign((_, p: { released: readonly ShardId[]; at: number }) => ({
      released: p.released,
      now: p.at,
    })),
    passRetry: assign(({ context }) => ({ now: context.now + context.timing.retryIntervalMs })),
    proposeRebalance: enqueueActions(({ context, enqueue, system }) => {
      const proposal: RebalancingProposal = {
        type: 'PROPOSE_REBALANCE',
        reason: context.reason,
        at: context.now,
      };
      enqueue.sendTo(system.get(ROOT_SYSTEM_ID), proposal);
    }),
    proposeMigrations: enqueueActions(({ context, enqueue, system }) => {
      const proposal: RebalancingProposal = {
        type: 'PROPOSE_MIGRATIONS',
        shardIds: context.released,
        finish: context.queued !== null,
        at: context.now,
      };
      enqueue.sendTo(system.get(ROOT_SYSTEM_ID), proposal);
    }),
  },
}).createMachine({
  id: 'rebalancing',
  context: ({ input }) => ({
    nodeId: input.nodeId,
    term: input.term,
    now: input.now,
    maxMovesPerRound: input.maxMovesPerRound,
    timing: input.timing,
    rebalance: input.resume,
    round: [],
    released: [],
    queued: null,
    reason: input.resume?.reason ?? 'leader-changed',
    rounds: 0,
  }),
  initial: 'starting',
  states: {
    /** A new leader first finishes the plan its predecessor persisted. */
    starting: {
      always: [{ guard: 'resuming', target: 'migrating' }, { target: 'idle' }],
    },
    idle: {
      on: {
        TOPOLOGY_CHANGED: {
          target: 'planning',
          actions: [
            { type: 'tick', params: ({ event }) => event },
            { type: 'setReason', params: ({ event }) => event },
          ],
        },
      },
    },
    planning: {
      entry: 'proposeRebalance',
      on: {
        TOPOLOGY_CHANGED: {
          actions: [
            { type: 'tick', params: ({ event }) => event },
            { type: 'queue', params: ({ event }) => event },
          ],
        },
        COMMITTED: [
          {
            guard: { type: 'hasRemaining', params: ({ event }) => event },
            target: 'migrating',
            actions: [
              { type: 'tick', params: ({ event }) => event },
              { type: 'adoptRebalance', params: ({ event }) => event },
            ],
          },
          {
            target: 'settled',
            actions: [
              { type: 'tick', params: ({ event }) => event },
              { type: 'adoptRebalance', params: ({ event }) => event },
            ],
          },
        ],
        // Nothing to do (e.g. no topology change since the last rebalance) or not possible now.
        REJECTED: { target: 'settled', actions: { type: 'tick', params: ({ event }) => event } },
      },
    },
    migrating: {
      initial: 'handingOff',
      on: {
        TOPOLOGY_CHANGED: {
          actions: [
            { type: 'tick', params: ({ event }) => event },
            { type: 'queue', params: ({ event }) => event },
          ],
        },
      },
      states: {
        handingOff: {
          entry: 'pickRound',
          invoke: {
            src: 'handOff',
            input: ({ context }) => ({ term: context.term, moves: context.round }),
            onDone: [
              {
                guard: { type: 'releasedAny', params: ({ event }) => event.output },
                target: 'committing',
                actions: { type: 'setReleased', params: ({ event }) => event.output },
              },
              // Nobody released (old owners slow or gone): close the plan if a change is queued, else retry.
              {
                guard: 'isQueued',
                target: 'committing',
                actions: { type: 'setReleased', params: ({ event }) => event.output },
              },
              { target: 'pausing', actions: { type: 'setReleased', params: ({ event }) => event.output } },
            ],
            onError: { target: 'pausing' },
          },
        },
        committing: {
          entry: 'proposeMigrations',
          on: {
            COMMITTED: [
              {
                guard: { type: 'progressed', params: ({ event }) => event },
                target: 'handingOff',
                reenter: true,
                actions: [
                  { type: 'tick', params: ({ event }) => event },
                  { type: 'adoptRebalance', params: ({ event }) => event },
                ],
              },
              // No move of the round could be committed: pace the retry instead of spinning.
              {
                guard: { type: 'hasRemaining', params: ({ event }) => event },
                target: 'pausing',
                actions: [
                  { type: 'tick', params: ({ event }) => event },
                  { type: 'adoptRebalance', params: ({ event }) => event },
                ],
              },
              {
                target: '#rebalancing.settled',
                actions: [
                  { type: 'tick', params: ({ event }) => event },
                  { type: 'adoptRebalance', params: ({ event }) => event },
                ],
              },
            ],
            REJECTED: { target: 'pausing', actions: { type: 'tick', params: ({ event }) => event } },
          },
        },
        pausing: {
          after: { retryInterval: { target: 'handingOff', actions: 'passRetry' } },
        },
      },
    },
    /** A rebalance ended: start the queued one, if any. */
    settled: {
      always: [{ guard: 'isQueued', target: 'planning', actions: 'takeQueued' }, { target: 'idle' }],
    },
  },
});

export type RebalancingMachine = typeof rebalancingMachine;
