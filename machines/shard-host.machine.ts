/**
 * Shard host: the old owner's side of a hand-off, one actor per node (a child of the root).
 *
 * serving ──RELEASE_REQUESTED──▶ verifying ──lease held, plan in the map held──▶ releasing ──▶ serving
 *                                    │  │ lease held, no such plan held  ▲               │ released
 *                                    │  └──────────▶ rereading ──plan in the record read─┘
 *                                    │ not the lease holder, unreadable      │ no such plan, unreadable
 *                                    └──────────────── refused ◀────────────┘
 *
 * A request is honoured only for the holder of the current lease at the request's term, read from the
 * store (seed 921: a deposed leader's request), and only for a plan in the committed topology: the
 * requester is the leader of record in that term, the request's map version was committed, and each
 * shard still owned here is planned to move from this node to the named target, whose incarnation is
 * the one on record (`planRefusal`). Any client of the transport can send a request in the leader's
 * name with an invented map version; honoured, its shards would stay released with nobody to take them.
 * The map held may lag the leader's: before refusing, the host re-reads the record from the store
 * once. A refusal is typed (`HandoffRefusal`) and releases nothing. Released shards stay owned in the
 * map until the leader commits the move; the host stops serving them at once and remembers the map
 * version the plan was verified in.
 * Each committed map it is told about (TOPOLOGY) forgets released shards that moved and serves again
 * those whose hand-off was abandoned, but only from a map at least as new as the plan (seeds 258, 82,
 * 641); shards it served that the map takes away with no hand-off (it was judged failed, or left) are
 * released to the application at once. Requests are taken one at a time, in arrival order.
 */
import { assign, fromPromise, setup } from 'xstate';
import type { ClusterState } from '../src/domain/state.js';
import type { NodeId, ShardId } from '../src/domain/values.js';
import type { HandoffRefusal, LeaseRecord } from '../src/protocol/messages.js';
import {
  followMap,
  type HostingState,
  leaseRefusal,
  markReleased,
  planRefusal,
  type ReleaseRequest,
  releasable,
  requestedShards,
  serving,
  toRelease,
} from './hosting.js';

export interface ShardHostInput {
  readonly nodeId: NodeId;
  readonly now: number;
  /** How long it may serve after its membership was last confirmed (see `fenceAfterMs`). */
  readonly fenceAfterMs: number;
}

export interface ShardHostContext extends HostingState {
  readonly nodeId: NodeId;
  readonly now: number;
  /** Requests waiting, oldest first; the head is the one in progress outside `serving`. */
  readonly requests: readonly ReleaseRequest[];
  /** The committed map last told; a release is checked against it at once (seed 82). */
  readonly cluster: ClusterState | null;
  readonly fenceAfterMs: number;
  /** It serves nothing after this time unless its membership is confirmed again. */
  readonly confirmedUntil: number;
  /** Fenced: it could not confirm its membership in time and serves nothing until it does. */
  readonly fenced: boolean;
  /** Shards of the hand-off being released now (the application's onRelease is running). */
  readonly releasing: readonly ShardId[];
  /** Of those, shards it did not serve again when it unfenced meanwhile: served again if the release fails. */
  readonly withheld: readonly ShardId[];
}

export type ShardHostEvent =
  /** The committed map this node now holds. */
  | { readonly type: 'TOPOLOGY'; readonly at: number; readonly cluster: ClusterState }
  | ({ readonly type: 'RELEASE_REQUESTED'; readonly at: number } & ReleaseRequest)
  /**
   * A read from the store, started at `at` and answered at `receivedAt`, showed this process a
   * member: it confirms membership from when it was asked, and the answer tells the time now.
   */
  | { readonly type: 'CONFIRMED'; readonly at: number; readonly receivedAt: number };

/** The answer to a release request. */
export interface ReleaseAnswer {
  readonly requestId: string;
  readonly released: readonly ShardId[];
  /** Why the request was refused (then nothing was released); null when honoured. */
  readonly refused: HandoffRefusal | null;
}

export interface ReadLeaseOutput {
  readonly lease: LeaseRecord | null;
  readonly at: number;
}

/** The committed topology read from the store (null when there is none). */
export interface ReadTopologyOutput {
  readonly cluster: ClusterState | null;
  readonly at: number;
}

/** The answer to the request in progress: the shards of it that are released here (now or before). */
function released(context: ShardHostContext): ReleaseAnswer {
  const req = context.requests[0];
  if (req === undefined) return { requestId: '', released: [], refused: null };
  const done = releasable(context, requestedShards(req)).filter((s) => s in context.released);
  return { requestId: req.requestId, released: done, refused: null };
}

/** Released shards whose hand-off the map held already shows abandoned. */
function abandoned(context: ShardHostContext): readonly ShardId[] {
  return context.cluster === null ? [] : followMap(context, context.cluster, context.nodeId).acquired;
}

const UNREADABLE_LEASE: HandoffRefusal = { code: 'lease-unreadable', message: 'the lease could not be read' };
const UNREADABLE_TOPOLOGY: HandoffRefusal = {
  code: 'topology-unreadable',
  message: 'the topology could not be read',
};

/** The answer refusing the request in progress for `why`. */
function refusal(
  context: ShardHostContext,
  why: (req: ReleaseRequest) => HandoffRefusal | null,
): ReleaseAnswer {
  const req = context.requests[0];
  if (req === undefined)
    return { requestId: '', released: [], refused: { code: 'malformed', message: 'no request' } };
  // A refusal is only ever asked for when there is a reason; the fallback names the path if not.
  const refused = why(req) ?? { code: 'not-planned', message: 'refused' };
  return { requestId: req.requestId, released: [], refused };
}

export const shardHostMachine = setup({
  types: {
    context: {} as ShardHostContext,
    events: {} as ShardHostEvent,
    input: {} as ShardHostInput,
  },
  actors: {
    /** Reads the lease through the store's leader. */
    readLease: fromPromise<ReadLeaseOutput, void>(async () => {
      throw new Error('readLease is bound by the runtime');
    }),
    /** Reads the committed topology through the store's leader. */
    readTopology: fromPromise<ReadTopologyOutput, void>(async () => {
      throw new Error('readTopology is bound by the runtime');
    }),
    /** Tells the application to stop serving shards (its `onRelease` hook), within the hand-off timeout. */
    releaseShards: fromPromise<{ at: number }, { shards: readonly ShardId[] }>(async () => {
      throw new Error('releaseShards is bound by the runtime');
    }),
  },
  guards: {
    hasRequest: ({ context }) => context.requests.length > 0,
    leaseRefused: ({ context }, p: ReadLeaseOutput) =>
      context.requests[0] === undefined || leaseRefusal(context.requests[0], p.lease) !== null,
    /** The request matches a plan in the map this node holds. */
    plannedInHeld: ({ context }) =>
      context.requests[0] !== undefined &&
      planRefusal(context.requests[0], context.cluster, context.nodeId) === null,
    /** The request matches a plan in the record just read. */
    plannedInRead: ({ context }, p: ReadTopologyOutput) =>
      context.requests[0] !== undefined &&
      planRefusal(context.requests[0], p.cluster, context.nodeId) === null,
    /** A confirmation recent enough to serve on, judged at the time it arrived. */
    fresh: ({ context }, p: { at: number; receivedAt: number }) =>
      p.at + context.fenceAfterMs > Math.max(context.now, p.receivedAt),
  },
  delays: {
    untilFence: ({ context }) => Math.max(0, context.confirmedUntil - context.now),
  },
  actions: {
    /** Starts serving shards (the application's `onAcquire` hook); bound by the runtime. */
    acquired: (_args, _p: { shards: readonly ShardId[] }) => {},
    /**
     * Stops serving shards the map took away with no hand-off (the application's `onRelease` hook);
     * bound by the runtime. Nothing waits for it: the shards may already be someone else's.
     */
    lost: (_args, _p: { shards: readonly ShardId[] }) => {},
    /** Answers the requester; bound by the runtime. */
    answer: (_args, _p: ReleaseAnswer) => {},
    followMap: assign(({ context }, p: { cluster: ClusterState | null; at: number }) => {
      if (p.cluster === null) return {};
      const { owned, released } = followMap(context, p.cluster, context.nodeId);
      return { owned, released, cluster: p.cluster, now: Math.max(context.now, p.at) };
    }),
    queueRequest: assign(({ context }, p: ReleaseRequest & { at: number }) => ({
      requests: [
        ...context.requests,
        { requestId: p.requestId, leader: p.leader, term: p.term, moves: p.moves, version: p.version },
      ],
      now: Math.max(context.now, p.at),
    })),
    /** The shards of the request in progress are no longer served here. */
    markReleased: assign(({ context }) => {
      const req = context.requests[0];
      return req
        ? { released: markReleased(context, releasable(context, requestedShards(req)), req.version) }
        : {};
    }),
    nextRequest: assign(({ context }) => ({ requests: context.requests.slice(1) })),
    /**
     * The request in progress was verified against the map of `version`: its shards count as released
     * for that map at least, so that a map the node holds that is older than it proves nothing about
     * them (a re-read record may plan anew what the map held shows abandoned).
     */
    noteVerified: assign(({ context }, p: { version: number }) => {
      const [req, ...rest] = context.requests;
      return req ? { requests: [{ ...req, version: Math.max(req.version, p.version) }, ...rest] } : {};
    }),
    confirm: assign(({ context }, p: { at: number; receivedAt: number }) => ({
      confirmedUntil: Math.max(context.confirmedUntil, p.at + context.fenceAfterMs),
      now: Math.max(context.now, p.receivedAt),
    })),
    /** The fence timer fired: it is at least the deadline it was armed for. */
    passDeadline: assign(({ context }) => ({ now: Math.max(context.now, context.confirmedUntil) })),
    fence: assign({ fenced: true }),
    unfence: assign({ fenced: false }),
    /** Serving again after a fence, except the shards a hand-off is releasing meanwhile (seed 644). */
    withholdReleasing: assign(({ context }) => ({
      withheld: serving(context).filter((s) => context.releasing.includes(s)),
    })),
    beginRelease: assign(({ context }) => ({
      releasing: context.requests[0] ? toRelease(context, requestedShards(context.requests[0])) : [],
    })),
    endRelease: assign({ releasing: [], withheld: [] }),
  },
}).createMachine({
  id: 'shardHost',
  context: ({ input }) => ({
    nodeId: input.nodeId,
    now: input.now,
    owned: [],
    released: {},
    requests: [],
    cluster: null,
    fenceAfterMs: input.fenceAfterMs,
    // A process that just connected has just been in contact with the store.
    confirmedUntil: input.now + input.fenceAfterMs,
    fenced: false,
    releasing: [],
    withheld: [],
  }),
  on: {
    TOPOLOGY: {
      actions: [
        // A fenced node serves nothing: it has nothing to stop or start serving.
        {
          type: 'lost',
          params: ({ context, event }) => ({
            shards: context.fenced ? [] : followMap(context, event.cluster, context.nodeId).lost,
          }),
        },
        {
          type: 'acquired',
          params: ({ context, event }) => ({
            shards: context.fenced ? [] : followMap(context, event.cluster, context.nodeId).acquired,
          }),
        },
        { type: 'followMap', params: ({ event }) => event },
      ],
    },
    RELEASE_REQUESTED: { actions: { type: 'queueRequest', params: ({ event }) => event } },
  },
  type: 'parallel',
  states: {
    requests: {
      initial: 'serving',
      states: {
        serving: {
          always: { guard: 'hasRequest', target: 'verifying' },
        },
        /** Is the requester the current lease holder at its term? Asked of the store, not of this view. */
        verifying: {
          invoke: {
            src: 'readLease',
            onDone: [
              {
                guard: { type: 'leaseRefused', params: ({ event }) => event.output },
                target: 'serving',
                actions: [
                  {
                    type: 'answer',
                    params: ({ context, event }) =>
                      refusal(context, (req) => leaseRefusal(req, event.output.lease)),
                  },
                  'nextRequest',
                ],
              },
              {
                guard: 'plannedInHeld',
                target: 'releasing',
                actions: {
                  type: 'noteVerified',
                  params: ({ context }) => ({ version: context.cluster?.shardMap.version ?? 0 }),
                },
              },
              // The map held may lag the leader's: look in the record itself before refusing.
              { target: 'rereading' },
            ],
            onError: {
              target: 'serving',
              actions: [
                { type: 'answer', params: ({ context }) => refusal(context, () => UNREADABLE_LEASE) },
                'nextRequest',
              ],
            },
          },
        },
        /** Does the committed record, read from the store, hold the plan the request names? */
        rereading: {
          invoke: {
            src: 'readTopology',
            onDone: [
              {
                guard: { type: 'plannedInRead', params: ({ event }) => event.output },
                target: 'releasing',
                actions: {
                  type: 'noteVerified',
                  params: ({ event }) => ({ version: event.output.cluster?.shardMap.version ?? 0 }),
                },
              },
              {
                target: 'serving',
                actions: [
                  {
                    type: 'answer',
                    params: ({ context, event }) =>
                      refusal(context, (req) => planRefusal(req, event.output.cluster, context.nodeId)),
                  },
                  'nextRequest',
                ],
              },
            ],
            onError: {
              target: 'serving',
              actions: [
                { type: 'answer', params: ({ context }) => refusal(context, () => UNREADABLE_TOPOLOGY) },
                'nextRequest',
              ],
            },
          },
        },
        /** The application stops serving the shards before they are reported released. */
        releasing: {
          entry: 'beginRelease',
          invoke: {
            src: 'releaseShards',
            input: ({ context }) => ({
              // Every shard leaving is told to the application, fenced or not: a fenced node may have
              // come to own it after it stopped serving, so its onRelease is the one record of letting go.
              shards: context.requests[0] ? toRelease(context, requestedShards(context.requests[0])) : [],
            }),
            onDone: {
              target: 'serving',
              actions: [
                'endRelease',
                'markReleased',
                { type: 'answer', params: ({ context }) => released(context) },
                'nextRequest',
                // A hand-off already abandoned in the map this node holds (no later map would come to
                // say so) is served again at once.
                {
                  type: 'acquired',
                  params: ({ context }) => ({ shards: context.fenced ? [] : abandoned(context) }),
                },
                {
                  type: 'followMap',
                  params: ({ context, event }) => ({ cluster: context.cluster, at: event.output.at }),
                },
              ],
            },
            // The application failed to release: the shards stay here; report those released before.
            onError: {
              target: 'serving',
              actions: [
                // Withheld at an unfence meanwhile, and not released after all: served again.
                {
                  type: 'acquired',
                  params: ({ context }) => ({ shards: context.fenced ? [] : context.withheld }),
                },
                'endRelease',
                { type: 'answer', params: ({ context }) => released(context) },
                'nextRequest',
              ],
            },
          },
        },
      },
    },
    /**
     * Self-fencing: a node that cannot confirm its membership stops serving before the leader may
     * reassign its shards, and serves again only once a read shows it a member of the current map.
     */
    membership: {
      initial: 'confirmed',
      states: {
        confirmed: {
          // Re-armed from each confirmation's arrival, so the timer always stands for the latest
          // deadline: one armed for an earlier deadline and held across a pause would otherwise fire
          // on resuming only to re-arm from its stale time, and serve on past the deadline.
          on: {
            CONFIRMED: {
              target: 'confirmed',
              reenter: true,
              actions: { type: 'confirm', params: ({ event }) => event },
            },
          },
          after: { untilFence: { target: 'fencing', actions: 'passDeadline' } },
        },
        /** The application stops serving every shard (its `onRelease`), then the node waits, fenced. */
        fencing: {
          entry: 'fence',
          on: { CONFIRMED: { actions: { type: 'confirm', params: ({ event }) => event } } },
          invoke: {
            src: 'releaseShards',
            input: ({ context }) => ({ shards: serving(context) }),
            onDone: { target: 'fenced' },
            onError: { target: 'fenced' },
          },
        },
        fenced: {
          on: {
            CONFIRMED: {
              guard: { type: 'fresh', params: ({ event }) => event },
              target: 'confirmed',
              actions: [
                { type: 'confirm', params: ({ event }) => event },
                'unfence',
                'withholdReleasing',
                {
                  type: 'acquired',
                  params: ({ context }) => ({
                    shards: serving(context).filter((s) => !context.releasing.includes(s)),
                  }),
                },
              ],
            },
          },
        },
      },
    },
  },
});

export type ShardHostMachine = typeof shardHostMachine;
