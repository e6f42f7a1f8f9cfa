/**
 * Model-based coverage of the leadership statechart: every state and every transition is reached by a
 * generated path, executed against the real machine with fake lease actors and a simulated clock, as
 * the child of a stand-in root that records what leadership reports to it.
 */

import { describe, expect, it } from 'vitest';
import type { EventObject } from 'xstate';
import { type LeadershipInput, leadershipMachine } from '../../machines/leadership.machine.js';
import { allStateIds, allTransitionKeys, Coverage, FakeActors, TaggedClock, underRoot } from './harness.js';
import {
  type AnyMachineSnapshot,
  coverModel,
  type ModelSpec,
  missingTransitions,
  transitionPaths,
} from './model.js';

const timing = { leaseTtlMs: 2000, renewIntervalMs: 500, renewDeadlineMs: 1500, retryIntervalMs: 250 };
const input: LeadershipInput = { nodeId: 'n1', timing, now: 0, eligible: true, idPrefix: 'n1-1' };
const inv = (state: string) => `0.leadership.${state}`;
const done = (state: string, output: unknown): EventObject =>
  ({ type: `xstate.done.actor.${inv(state)}`, output }) as EventObject;
const error = (state: string): EventObject =>
  ({ type: `xstate.error.actor.${inv(state)}`, error: 'store unavailable' }) as EventObject;

const events = (s: AnyMachineSnapshot): EventObject[] => {
  const now = (s.context as { now: number }).now;
  return [
    { type: 'LEASE_CHANGED', at: now, lease: { holder: 'n2', term: 5, revision: 5 } },
    { type: 'LEASE_CHANGED', at: now, lease: { holder: 'n2', term: 1, revision: 1 } },
    { type: 'LEASE_CHANGED', at: now, lease: null },
    { type: 'TOPOLOGY_INFO', at: now, eligible: false, version: 2 },
    { type: 'TOPOLOGY_INFO', at: now, eligible: true, version: 2 },
    { type: 'RESIGN', at: now },
    { type: 'STOP', at: now },
    { type: 'xstate.after.untilLapse.leadership.follower' },
    { type: 'xstate.after.retryInterval.leadership.backoff' },
    { type: 'xstate.after.untilRenewDeadline.leadership.leader' },
    { type: 'xstate.after.renewInterval.leadership.leader.waiting' },
    done('candidate', { kind: 'acquired', term: 3, revision: 3, startedAt: now, at: now }),
    done('candidate', { kind: 'held', lease: { holder: 'n2', term: 2, revision: 2 }, at: now }),
    done('candidate', { kind: 'unknown', reason: 'timeout', at: now }),
    error('candidate'),
    done('reconciling', { lease: { holder: 'n1', term: 3, revision: 3 }, at: now }),
    done('reconciling', { lease: { holder: 'n2', term: 4, revision: 4 }, at: now }),
    error('reconciling'),
    done('leader.renewing', { kind: 'renewed', revision: 4, startedAt: now, at: now }),
    done('leader.renewing', {
      kind: 'renewed',
      revision: 4,
      startedAt: now + timing.renewDeadlineMs,
      at: now,
    }),
    done('leader.renewing', { kind: 'late', at: now }),
    done('leader.renewing', { kind: 'lost', lease: null, at: now }),
    done('leader.renewing', { kind: 'unknown', reason: 'timeout', at: now }),
    error('leader.renewing'),
    done('releasing', { at: now }),
    error('releasing'),
    done('relinquishing', { at: now }),
    error('relinquishing'),
    done('releasingForStop', { at: now }),
    error('releasingForStop'),
  ] as EventObject[];
};

/** Types of every report the runs' stand-in roots received, so that the prediction is not vacuous. */
const reported = new Set<string>();

const leadershipSpec: ModelSpec<LeadershipInput> = {
  machine: leadershipMachine,
  events,
  abstract: (s) => {
    const ctx = s.context as {
      eligible: boolean;
      held: unknown;
      observed: { holder: string } | null;
    };
    return [ctx.eligible, ctx.held !== null, ctx.observed?.holder ?? null];
  },
  underRoot: true,
  start: (runInput, coverage) => {
    const clock = new TaggedClock();
    const fakes = new FakeActors();
    const run = underRoot(
      leadershipMachine.provide({
        actors: {
          acquireLease: fakes.logic('acquireLease'),
          renewLease: fakes.logic('renewLease'),
          releaseLease: fakes.logic('releaseLease'),
          readLease: fakes.logic('readLease'),
        },
      }),
      runInput,
      { clock, inspect: coverage.inspect },
    );
    clock.system = run.root.system;
    const subject = run.start();
    const stop = () => {
      for (const e of run.reports()) reported.add(e.type);
      run.root.stop();
    };
    return { subject, clock, fakes, emitted: run.emitted, sent: () => run.sent(), stop };
  },
};

describe('leadership model', () => {
  it('generated paths reach every state and take every transition of the real machine, with the predicted reports to the root', async () => {
    const coverage = new Coverage();
    const { paths } = await coverModel(leadershipSpec, [input], coverage);
    expect(paths).toBeGreaterThan(10);
    expect(allStateIds(leadershipMachine).filter((id) => !coverage.states.has(id))).toEqual([]);
    expect(missingTransitions(leadershipMachine, coverage)).toEqual([]);
    expect(coverage.transitions.size).toBe(allTransitionKeys(leadershipMachine).length);
    expect([...reported].sort()).toEqual(['LEADERSHIP_LOST', 'LEADERSHIP_RENEWED', 'LEADER_ELECTED']);
  });

  it('the graph finds paths to the final state', () => {
    const finals = transitionPaths(leadershipSpec, input).filter((p) =>
      p.at(-1)?.type.includes('releasingForStop'),
    );
    expect(finals.length).toBeGreaterThan(0);
  });
});
