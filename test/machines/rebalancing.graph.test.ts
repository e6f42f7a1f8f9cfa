/**
 * Model-based coverage of the rebalancing statechart (fresh and resuming a persisted plan), run as the
 * child of a stand-in root that records its proposals, with a fake hand-off actor.
 */

import { describe, expect, it } from 'vitest';
import type { EventObject } from 'xstate';
import { type RebalancingInput, rebalancingMachine } from '../../machines/rebalancing.machine.js';
import type { ActiveRebalance } from '../../src/domain/state.js';
import { allStateIds, Coverage, FakeActors, TaggedClock, underRoot } from './harness.js';
import {
  type AnyMachineSnapshot,
  coverModel,
  executePath,
  type ModelSpec,
  missingTransitions,
} from './model.js';

const plan = (n: number): ActiveRebalance => ({
  rebalanceId: 'r1',
  reason: 'node-joined',
  epoch: 2,
  term: 1,
  startedAt: 0,
  remaining: Array.from({ length: n }, (_, i) => ({
    shardId: i,
    from: 'n1',
    to: 'n2',
    reason: 'balance' as const,
  })),
  moved: 0,
});
const base: RebalancingInput = {
  nodeId: 'n0',
  term: 1,
  now: 0,
  maxMovesPerRound: 2,
  timing: { handoffTimeoutMs: 1000, retryIntervalMs: 300 },
  resume: null,
};
const handOff = '0.rebalancing.migrating.handingOff';

const events = (s: AnyMachineSnapshot): EventObject[] => {
  const at = (s.context as { now: number }).now;
  const triggered = { type: 'RebalancingTriggered', id: 'e', origin: 'n0', term: 1, version: 1, at };
  return [
    { type: 'TOPOLOGY_CHANGED', at, reason: 'node-failed' },
    { type: 'COMMITTED', at, events: [triggered], rebalance: plan(3) },
    { type: 'COMMITTED', at, events: [], rebalance: null },
    {
      type: 'COMMITTED',
      at,
      events: [
        {
          type: 'ShardMigrated',
          id: 'm',
          origin: 'n0',
          term: 1,
          version: 2,
          at,
          shardId: 0,
          from: 'n1',
          to: 'n2',
          reason: 'balance',
        },
      ],
      rebalance: plan(2),
    },
    { type: 'REJECTED', at, code: 'NOTHING_TO_DO', message: 'balanced' },
    { type: `xstate.done.actor.${handOff}`, output: { released: [0], at } },
    { type: `xstate.done.actor.${handOff}`, output: { released: [], at } },
    { type: `xstate.error.actor.${handOff}`, error: 'timeout' },
    { type: 'xstate.after.retryInterval.rebalancing.migrating.pausing' },
  ] as EventObject[];
};

const spec: ModelSpec<RebalancingInput> = {
  machine: rebalancingMachine,
  events,
  abstract: (s) => {
    const c = s.context as { queued: unknown; rebalance: ActiveRebalance | null };
    return [c.queued !== null, c.rebalance?.remaining.length ?? null];
  },
  underRoot: true,
  start: (input, coverage) => {
    const clock = new TaggedClock();
    const fakes = new FakeActors();
    const run = underRoot(
      rebalancingMachine.provide({ actors: { handOff: fakes.logic('handOff') } }),
      input,
      {
        clock,
        inspect: coverage.inspect,
      },
    );
    clock.system = run.root.system;
    const subject = run.start();
    return {
      subject,
      clock,
      fakes,
      emitted: run.emitted,
      sent: () => run.sent(),
      stop: () => run.root.stop(),
    };
  },
};

describe('rebalancing model', () => {
  it('generated paths reach every state and take every transition, with the predicted events and proposals', async () => {
    const coverage = new Coverage();
    const { paths } = await coverModel(spec, [base], coverage);
    expect(paths).toBeGreaterThan(5);
    // Resuming a persisted plan takes the other branch out of `starting`.
    await executePath(spec, { ...base, resume: plan(3) }, [], coverage);
    expect(allStateIds(rebalancingMachine).filter((id) => !coverage.states.has(id))).toEqual([]);
    expect(missingTransitions(rebalancingMachine, coverage)).toEqual([]);
  });
});
