/**
 * Leadership: lease-based election with the lease revision as the term (fencing token).
 *
 * follower ──(lease lapsed by own timer, eligible)──▶ candidate ──acquired──▶ leader
 *     ▲                                         │ held ▲      │unknown            │
 *     └─────────────────────────────────────────┘      └── reconciling ◀────────┘ (renew unknown: retry)
 * leader ──(no renewal within renewDeadline | lease lost | higher term seen)──▶ steppingDown ──▶ follower
 *                                     (renewDeadline: relinquishing, delete the lease still held ──▶ follower)
 * leader ──RESIGN / STOP──▶ releasing ──▶ follower / stopped
 *
 * Followers learn that a lease lapsed from their own timer (last renewal seen + TTL), because a
 * NATS 2.9 KV key that expires produces no watch event. Pure: time arrives on events (`at`) and in
 * the outputs of the lease actors, which the runtime binds to a real lease store with `.provide()`.
 */
import { assign, enqueueActions, fromPromise, setup } from 'xstate';
import type { LeadershipLost, LeadershipLostReason, LeadershipRenewed } from '../src/domain/events.js';
import type { NodeId, Term } from '../src/domain/values.js';
import type { LeaseRecord } from '../src/protocol/messages.js';
import { ROOT_SYSTEM_ID } from './system-ids.js';

/** Outcome of a campaign: won, lost to a holder, or unknown (timeout — neither won nor lost). */
export type AcquireOutput =
  | {
      readonly kind: 'acquired';
      readonly term: Term;
      readonly revision: number;
      readonly startedAt: number;
      readonly at: number;
    }
  | { readonly kind: 'held'; readonly lease: LeaseRecord; readonly at: number }
  | { readonly kind: 'unknown'; readonly reason: string; readonly at: number };

export type RenewOutput =
  | { readonly kind: 'renewed'; readonly revision: number; readonly startedAt: number; readonly at: number }
  /** Not sent: the clock had reached the renew deadline (`notAfter`) before the renewal could start. */
  | { readonly kind: 'late'; readonly at: number }
  | { readonly kind: 'lost'; readonly lease: LeaseRecord | null; readonly at: number }
  | { readonly kind: 'unknown'; readonly reason: string; readonly at: number };

export interface RenewInput {
  readonly nodeId: NodeId;
  readonly term: Term;
  readonly revision: number;
  /** The renew deadline: a renewal that would start at or after it is not sent. */
  readonly notAfter: number;
}

export interface ReadOutput {
  readonly lease: LeaseRecord | null;
  readonly at: number;
}

export interface LeadershipTiming {
  readonly leaseTtlMs: number;
  readonly renewIntervalMs: number;
  readonly renewDeadlineMs: number;
  readonly retryIntervalMs: number;
}

export interface LeadershipInput {
  readonly nodeId: NodeId;
  readonly timing: LeadershipTiming;
  /** Clock time at creation. */
  readonly now: number;
  /** Whether this node may campaign (it is Active, or the cluster has no Active node yet). */
  readonly eligible: boolean;
  /** Prefix for the ids of emitted events, unique per process incarnation. */
  readonly idPrefix: string;
}

export interface LeadershipContext {
  readonly nodeId: NodeId;
  readonly timing: LeadershipTiming;
  /** Time of the latest event or actor output processed. */
  readonly now: number;
  readonly eligible: boolean;
  /** The lease as last observed (watch, campaign answer or read); null when absent. */
  readonly observed: LeaseRecord | null;
  /** Follower: when the observed lease lapses unless renewed; the node campaigns then. */
  readonly lapseAt: number;
  /** Leader: the lease this node holds. */
  readonly held: { readonly term: Term; readonly revision: number } | null;
  /** Leader: start of the last successful renewal (or of the winning campaign). */
  readonly renewedFrom: number;
  readonly highestTerm: Term;
  /** Shard-map version the node holds, stamped on emitted events. */
  readonly version: number;
  readonly lostReason: LeadershipLostReason | null;
  readonly idPrefix: string;
  readonly seq: number;
}

export type LeadershipEvent =
  /** A change of the lease key seen by the watch; `holder: null` when deleted. */
  | { readonly type: 'LEASE_CHANGED'; readonly at: number; readonly lease: LeaseRecord | null }
  /** Facts from the node's topology: may it campaign, and the shard-map version it holds. */
  | {
      readonly type: 'TOPOLOGY_INFO';
      readonly at: number;
      readonly eligible: boolean;
      readonly version: number;
    }
  /** Give up leadership on purpose (drain); the node keeps following. */
  | { readonly type: 'RESIGN'; readonly at: number }
  /** Graceful stop: release the lease if held, then stop. */
  | { readonly type: 'STOP'; readonly at: number };

/** What leadership tells the root (`sendTo` the root, as the other children do). */
export type LeadershipReport =
  | { readonly type: 'LEADER_ELECTED'; readonly at: number; readonly term: Term }
  | { readonly type: 'LEADERSHIP_RENEWED'; readonly at: number; readonly event: LeadershipRenewed }
  | {
      readonly type: 'LEADERSHIP_LOST';
      readonly at: number;
      readonly term: Term;
      readonly event: LeadershipLost;
    };

const later = (a: number, b: number) => Math.max(a, b);

/** A lease won: its term and revision, and when the winning write started and ended. */
export interface WonLease {
  readonly term: Term;
  readonly revision: number;
  readonly startedAt: number;
  readonly at: number;
}

/** The lease a campaign won, or null for any other outcome. */
function wonLease(o: AcquireOutput): WonLease | null {
  return o.kind === 'acquired'
    ? { term: o.term, revision: o.revision, startedAt: o.startedAt, at: o.at }
    : null;
}

/** Leader: the moment it must have renewed by, or stop acting. */
function renewDeadlineOf(context: LeadershipContext): number {
  return context.renewedFrom + context.timing.renewDeadlineMs;
}

/** Fields every leadership event carries: id, origin, the held term, the map version and the time. */
function eventBase(context: LeadershipContext) {
  return {
    id: `${context.idPrefix}-${context.seq}`,
    origin: context.nodeId,
    term: context.held?.term ?? 0,
    version: context.version,
    at: context.now,
  };
}

export const leadershipMachine = setup({
  types: {
    context: {} as LeadershipContext,
    events: {} as LeadershipEvent,
    input: {} as LeadershipInput,
  },
  actors: {
    /** Campaign: create the lease key only if absent. */
    acquireLease: fromPromise<AcquireOutput, { nodeId: NodeId }>(async () => {
      throw new Error('acquireLease is bound by the runtime');
    }),
    /** Renew: update the lease at the revision held. */
    /**
     * Renew: update the lease at the revision held, unless the clock has reached `notAfter` (the renew
     * deadline), in which case nothing is sent and the output is `late`.
     */
    renewLease: fromPromise<RenewOutput, RenewInput>(async () => {
      throw new Error('renewLease is bound by the runtime');
    }),
    /** Release: delete the lease if still held at that revision. */
    releaseLease: fromPromise<{ at: number }, { term: Term; revision: number }>(async () => {
      throw new Error('releaseLease is bound by the runtime');
    }),
    /** Read the lease to reconcile an unknown outcome. */
    readLease: fromPromise<ReadOutput, void>(async () => {
      throw new Error('readLease is bound by the runtime');
    }),
  },
  guards: {
    isEligible: ({ context }) => context.eligible,
    acquired: (_, output: AcquireOutput) => output.kind === 'acquired',
    heldByOther: (_, output: AcquireOutput) => output.kind === 'held',
    /** Renewed, by a write that started before the renew deadline (a later one does not count). */
    renewed: ({ context }, output: RenewOutput) =>
      output.kind === 'renewed' && output.startedAt < renewDeadlineOf(context),
    /** The renewal was refused or started at or after the deadline: the leader must stop. */
    renewalLate: (_, output: RenewOutput) => output.kind === 'late' || output.kind === 'renewed',
    /** Stepping down at the renew deadline: the lease may still be ours and live, so delete it. */
    mayStillHold: ({ context }) => context.lostReason === 'renew-deadline' && context.held !== null,
    leaseLost: (_, output: RenewOutput) => output.kind === 'lost',
    readShowsSelf: ({ context }, output: ReadOutput) => output.lease?.holder === context.nodeId,
    /** Another node holds a lease at least as new as ours: we are superseded. */
    supersededBy: ({ context }, lease: LeaseRecord | null) =>
      lease !== null && lease.holder !== context.nodeId && lease.term >= (context.held?.term ?? 0),
  },
  delays: {
    /** Follower: until the observed lease lapses (0 when none was seen). */
    untilLapse: ({ context }) => later(0, context.lapseAt - context.now),
    renewInterval: ({ context }) => context.timing.renewIntervalMs,
    /** Leader: until renewDeadline after the start of the last successful renewal. */
    untilRenewDeadline: ({ context }) => later(0, renewDeadlineOf(context) - context.now),
    retryInterval: ({ context }) => context.timing.retryIntervalMs,
  },
  actions: {
    observeLease: assign(({ context }, p: { lease: LeaseRecord | null; at: number }) => ({
      now: later(context.now, p.at),
      observed: p.lease,
      // A lease we just saw written lives TTL from now; an absent one can be taken at once.
      lapseAt: p.lease === null ? p.at : p.at + context.timing.leaseTtlMs,
      highestTerm: later(context.highestTerm, p.lease?.term ?? 0),
    })),
    /** After a failed or unknown attempt: try again after the retry interval. */
    scheduleRetry: assign(({ context }, p: { at: number }) => ({
      now: later(context.now, p.at),
      lapseAt: later(context.lapseAt, p.at + context.timing.retryIntervalMs),
    })),
    /** Holds the lease won (null: the outcome was not a win, which the guard has ruled out). */
    takeLease: assign(({ context }, p: WonLease | null) =>
      p === null
        ? {}
        : {
            now: later(context.now, p.at),
            held: { term: p.term, revision: p.revision },
            renewedFrom: p.startedAt,
            highestTerm: later(context.highestTerm, p.term),
            lostReason: null,
          },
    ),
    recordRenewal: assign(({ context }, p: { revision: number; startedAt: number; at: number } | null) =>
      p === null
        ? {}
        : {
            now: later(context.now, p.at),
            held: context.held ? { term: context.held.term, revision: p.revision } : null,
            renewedFrom: p.startedAt,
          },
    ),
    setLostReason: assign((_, p: { reason: LeadershipLostReason }) => ({ lostReason: p.reason })),
    /**
     * A renewal that applied too late to count: the lease now sits at its revision, which is the one to
     * delete when relinquishing.
     */
    noteLateRenewal: assign(({ context }, p: { revision: number; at: number } | null) => ({
      now: later(context.now, p?.at ?? context.now),
      held: context.held && p !== null ? { term: context.held.term, revision: p.revision } : context.held,
      lostReason: 'renew-deadline' as const,
    })),
    /** The renew-deadline timer fired: it is at least that late now. */
    passRenewDeadline: assign(({ context }) => ({
      now: later(context.now, context.renewedFrom + context.timing.renewDeadlineMs),
      lostReason: 'renew-deadline' as const,
    })),
    /** Entering follower after leading: our last write may live a full TTL, so wait that long. */
    dropLease: assign(({ context }) => ({
      held: null,
      lapseAt: later(context.lapseAt, context.now + context.timing.leaseTtlMs),
    })),
    passLapse: assign(({ context }) => ({ now: later(context.now, context.lapseAt) })),
    passRetry: assign(({ context }) => ({ now: context.now + context.timing.retryIntervalMs })),
    passRenewInterval: assign(({ context }) => ({ now: context.now + context.timing.renewIntervalMs })),
    updateTopology: assign(({ context }, p: { eligible: boolean; version: number; at: number }) => ({
      now: later(context.now, p.at),
      eligible: p.eligible,
      version: later(context.version, p.version),
    })),
    tick: assign(({ context }, p: { at: number }) => ({ now: later(context.now, p.at) })),
    /** Tells the root the lease is won; it fences the term with a commit before acting as leader. */
    reportElected: enqueueActions(({ context, enqueue, system }) => {
      const root = system.get(ROOT_SYSTEM_ID);
      if (root === undefined || context.held === null) return;
      const report: LeadershipReport = { type: 'LEADER_ELECTED', at: context.now, term: context.held.term };
      enqueue.sendTo(root, report);
    }),
    reportRenewed: enqueueActions(({ context, enqueue, system }) => {
      const root = system.get(ROOT_SYSTEM_ID);
      if (root === undefined) return;
      const event: LeadershipRenewed = {
        type: 'LeadershipRenewed',
        ...eventBase(context),
        nodeId: context.nodeId,
        expiresAt: context.renewedFrom + context.timing.leaseTtlMs,
      };
      const report: LeadershipReport = { type: 'LEADERSHIP_RENEWED', at: context.now, event };
      enqueue.sendTo(root, report);
    }),
    reportLost: enqueueActions(({ context, enqueue, system }) => {
      const root = system.get(ROOT_SYSTEM_ID);
      if (root === undefined) return;
      const event: LeadershipLost = {
        type: 'LeadershipLost',
        ...eventBase(context),
        nodeId: context.nodeId,
        reason: context.lostReason ?? 'lease-lost',
      };
      const report: LeadershipReport = { type: 'LEADERSHIP_LOST', at: context.now, term: event.term, event };
      enqueue.sendTo(root, report);
    }),
    nextSeq: assign(({ context }) => ({ seq: context.seq + 1 })),
  },
}).createMachine({
  id: 'leadership',
  context: ({ input }) => ({
    nodeId: input.nodeId,
    timing: input.timing,
    now: input.now,
    eligible: input.eligible,
    observed: null,
    // Nothing seen yet: wait one TTL before the first campaign, unless the watch shows the lease absent sooner.
    lapseAt: input.now + input.timing.leaseTtlMs,
    held: null,
    renewedFrom: input.now,
    highestTerm: 0,
    version: 0,
    lostReason: null,
    idPrefix: input.idPrefix,
    seq: 0,
  }),
  initial: 'follower',
  on: {
    TOPOLOGY_INFO: { actions: { type: 'updateTopology', params: ({ event }) => event } },
  },
  states: {
    follower: {
      after: {
        untilLapse: [
          { guard: 'isEligible', target: 'candidate', actions: 'passLapse' },
          // Not eligible: look again after a retry interval.
          {
            target: 'follower',
            reenter: true,
            actions: ['passLapse', { type: 'scheduleRetry', params: ({ context }) => ({ at: context.now }) }],
          },
        ],
      },
      on: {
        LEASE_CHANGED: {
          target: 'follower',
          reenter: true,
          actions: { type: 'observeLease', params: ({ event }) => ({ lease: event.lease, at: event.at }) },
        },
        TOPOLOGY_INFO: {
          target: 'follower',
          reenter: true,
          actions: { type: 'updateTopology', params: ({ event }) => event },
        },
        STOP: { target: 'stopped', actions: { type: 'tick', params: ({ event }) => event } },
      },
    },
    candidate: {
      invoke: {
        src: 'acquireLease',
        input: ({ context }) => ({ nodeId: context.nodeId }),
        onDone: [
          {
            guard: { type: 'acquired', params: ({ event }) => event.output },
            target: 'leader',
            actions: [
              {
                type: 'takeLease',
                params: ({ event }) => wonLease(event.output),
              },
              'reportElected',
              'nextSeq',
            ],
          },
          {
            guard: { type: 'heldByOther', params: ({ event }) => event.output },
            target: 'follower',
            actions: {
              type: 'observeLease',
              params: ({ event }) => ({
                lease: event.output.kind === 'held' ? event.output.lease : null,
                at: event.output.at,
              }),
            },
          },
          { target: 'reconciling', actions: { type: 'tick', params: ({ event }) => event.output } },
        ],
        onError: { target: 'reconciling' },
      },
      on: {
        LEASE_CHANGED: {
          actions: { type: 'observeLease', params: ({ event }) => ({ lease: event.lease, at: event.at }) },
        },
        STOP: { target: 'stopped', actions: { type: 'tick', params: ({ event }) => event } },
      },
    },
    /** The campaign's outcome is unknown (timeout): the create may have applied. Read to find out. */
    reconciling: {
      invoke: {
        src: 'readLease',
        onDone: [
          {
            guard: { type: 'readShowsSelf', params: ({ event }) => event.output },
            target: 'leader',
            actions: [
              {
                type: 'takeLease',
                params: ({ event }) => {
                  const lease = event.output.lease!;
                  // The write applied at an unknown time before this read: count the renewal from the read.
                  return {
                    term: lease.term,
                    revision: lease.revision,
                    startedAt: event.output.at,
                    at: event.output.at,
                  };
                },
              },
              'reportElected',
              'nextSeq',
            ],
          },
          {
            target: 'follower',
            actions: [
              { type: 'observeLease', params: ({ event }) => event.output },
              { type: 'scheduleRetry', params: ({ event }) => event.output },
            ],
          },
        ],
        onError: { target: 'backoff' },
      },
      on: { STOP: { target: 'stopped', actions: { type: 'tick', params: ({ event }) => event } } },
    },
    /** The store could not be read: wait before trying again. */
    backoff: {
      after: { retryInterval: { target: 'reconciling', actions: 'passRetry' } },
      on: {
        LEASE_CHANGED: {
          target: 'follower',
          actions: { type: 'observeLease', params: ({ event }) => ({ lease: event.lease, at: event.at }) },
        },
        STOP: { target: 'stopped', actions: { type: 'tick', params: ({ event }) => event } },
      },
    },
    leader: {
      initial: 'waiting',
      // Re-armed on every successful renewal, because the transition re-enters `leader`.
      after: {
        untilRenewDeadline: { target: 'steppingDown', actions: 'passRenewDeadline' },
      },
      on: {
        LEASE_CHANGED: [
          {
            guard: { type: 'supersededBy', params: ({ event }) => event.lease },
            target: 'steppingDown',
            actions: [
              { type: 'observeLease', params: ({ event }) => ({ lease: event.lease, at: event.at }) },
              { type: 'setLostReason', params: { reason: 'superseded' } },
            ],
          },
          { actions: { type: 'tick', params: ({ event }) => event } },
        ],
        RESIGN: {
          target: 'releasing',
          actions: [
            { type: 'tick', params: ({ event }) => event },
            { type: 'setLostReason', params: { reason: 'resigned' } },
          ],
        },
        STOP: {
          target: 'releasingForStop',
          actions: [
            { type: 'tick', params: ({ event }) => event },
            { type: 'setLostReason', params: { reason: 'resigned' } },
          ],
        },
      },
      states: {
        waiting: {
          after: { renewInterval: { target: 'renewing', actions: 'passRenewInterval' } },
        },
        renewing: {
          invoke: {
            src: 'renewLease',
            input: ({ context }) => ({
              nodeId: context.nodeId,
              term: context.held!.term,
              revision: context.held!.revision,
              notAfter: renewDeadlineOf(context),
            }),
            onDone: [
              {
                guard: { type: 'renewed', params: ({ event }) => event.output },
                target: '#leadership.leader',
                reenter: true,
                actions: [
                  {
                    type: 'recordRenewal',
                    params: ({ event }) => (event.output.kind === 'renewed' ? event.output : null),
                  },
                  'reportRenewed',
                  'nextSeq',
                ],
              },
              {
                // Followers may have seen a renewal that started past the deadline: the lease is released.
                guard: { type: 'renewalLate', params: ({ event }) => event.output },
                target: '#leadership.steppingDown',
                actions: {
                  type: 'noteLateRenewal',
                  params: ({ event }) => (event.output.kind === 'renewed' ? event.output : null),
                },
              },
              {
                guard: { type: 'leaseLost', params: ({ event }) => event.output },
                target: '#leadership.steppingDown',
                actions: [
                  { type: 'tick', params: ({ event }) => event.output },
                  { type: 'setLostReason', params: { reason: 'lease-lost' } },
                ],
              },
              // Unknown: the renewal may or may not have applied. Keep the old revision and retry; the
              // deadline timer decides if it goes on too long. A retry at a stale revision reads as lost.
              { target: 'waiting', actions: { type: 'tick', params: ({ event }) => event.output } },
            ],
            onError: { target: 'waiting' },
          },
        },
      },
    },
    /** Lost the lease (deadline, lost, superseded): stop acting at once, tell everyone, follow. */
    steppingDown: {
      entry: ['reportLost', 'nextSeq'],
      always: [
        { guard: 'mayStillHold', target: 'relinquishing' },
        { target: 'follower', actions: 'dropLease' },
      ],
    },
    /**
     * Stopped at the renew deadline, the lease may still be live (a renewal the followers saw): delete
     * it at the revision held, so that a follower takes over now rather than a TTL later.
     */
    relinquishing: {
      invoke: {
        src: 'releaseLease',
        input: ({ context }) => ({ term: context.held!.term, revision: context.held!.revision }),
        onDone: {
          target: 'follower',
          actions: ['dropLease', { type: 'tick', params: ({ event }) => event.output }],
        },
        onError: { target: 'follower', actions: 'dropLease' },
      },
      on: {
        LEASE_CHANGED: {
          actions: { type: 'observeLease', params: ({ event }) => ({ lease: event.lease, at: event.at }) },
        },
        STOP: { target: 'stopped', actions: { type: 'tick', params: ({ event }) => event } },
      },
    },
    /** Resigning on purpose: release so that a follower can take over at once. */
    releasing: {
      entry: ['reportLost', 'nextSeq'],
      invoke: {
        src: 'releaseLease',
        input: ({ context }) => ({ term: context.held!.term, revision: context.held!.revision }),
        onDone: {
          target: 'follower',
          actions: ['dropLease', { type: 'tick', params: ({ event }) => event.output }],
        },
        onError: { target: 'follower', actions: 'dropLease' },
      },
    },
    releasingForStop: {
      entry: ['reportLost', 'nextSeq'],
      invoke: {
        src: 'releaseLease',
        input: ({ context }) => ({ term: context.held!.term, revision: context.held!.revision }),
        onDone: { target: 'stopped', actions: { type: 'tick', params: ({ event }) => event.output } },
        onError: { target: 'stopped' },
      },
    },
    stopped: { type: 'final', entry: assign({ held: null }) },
  },
});

export type LeadershipMachine = typeof leadershipMachine;
