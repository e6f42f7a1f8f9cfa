/**
 * Rebalancing statechart, run as the child of a stand-in root that records its proposals; the hand-off
 * actor is a fake whose outcome each test chooses, and time comes from a simulated clock. The root
 * emits the committed events (see cluster-node and root-effects tests), the rebalancer nothing.
 */
import { describe, expect, it } from 'vitest';
import {
  type HandOffInput,
  type HandOffOutput,
  rebalancingMachine,
} from '../../machines/rebalancing.machine.js';
import type { DomainEvent, PlannedMove, RebalanceReason } from '../../src/domain/events.js';
import type { ActiveRebalance } from '../../src/domain/state.js';
import { FakeActors, SimulatedClock, settle, underRoot } from './harness.js';

const timing = { handoffTimeoutMs: 1000, retryIntervalMs: 300 };
const moves = (...ids: number[]): PlannedMove[] =>
  ids.map((shardId) => ({ shardId, from: 'n1', to: 'n2', reason: 'balance' as const }));
const plan = (remaining: PlannedMove[], reason: RebalanceReason = 'node-joined'): ActiveRebalance => ({
  rebalanceId: 'r1',
  reason,
  epoch: 2,
  term: 1,
  startedAt: 0,
  remaining,
  moved: 0,
});
/** Stand-ins for the events a commit carries; the machine passes them through untouched. */
const marker = (id: string) => ({ type: 'ShardMigrated', id }) as unknown as DomainEvent;

function start(resume: ActiveRebalance | null = null) {
  const clock = new SimulatedClock(0);
  const fakes = new FakeActors();
  const run = underRoot(
    rebalancingMachine.provide({ actors: { handOff: fakes.logic<HandOffOutput, HandOffInput>('handOff') } }),
    { nodeId: 'n0', term: 1, now: 0, maxMovesPerRound: 2, timing, resume },
    { clock },
  );
  const subject = run.start();
  return {
    clock,
    fakes,
    run,
    subject,
    value: () => subject.getSnapshot().value,
    send: async (event: Parameters<typeof subject.send>[0]) => {
      subject.send(event);
      await settle();
    },
    handOffRounds: () =>
      fakes.inputsOf('handOff').map((i) => (i as HandOffInput).moves.map((m) => m.shardId)),
  };
}

describe('Rebalancing trigger policy, rebalancer side: a topology change starts planning', () => {
  it('TOPOLOGY_CHANGED when idle proposes a rebalance with its reason to the root', async () => {
    const t = start();
    expect(t.value()).toBe('idle');
    await t.send({ type: 'TOPOLOGY_CHANGED', at: 5, reason: 'node-failed' });
    expect(t.value()).toBe('planning');
    expect(t.run.proposals()).toEqual([{ type: 'PROPOSE_REBALANCE', reason: 'node-failed', at: 5 }]);
  });

  it('REJECTED during planning returns to idle', async () => {
    const t = start();
    await t.send({ type: 'TOPOLOGY_CHANGED', at: 5, reason: 'node-joined' });
    await t.send({ type: 'REJECTED', at: 6, code: 'NOTHING_TO_DO', message: 'balanced' });
    expect(t.value()).toBe('idle');
  });

  it('a plan committed with nothing to move settles at once; the rebalancer emits nothing (the root does)', async () => {
    const t = start();
    await t.send({ type: 'TOPOLOGY_CHANGED', at: 5, reason: 'node-joined' });
    await t.send({ type: 'COMMITTED', at: 6, events: [marker('a')], rebalance: null });
    expect(t.value()).toBe('idle');
    expect(t.subject.getSnapshot().context.rebalance).toBeNull();
    expect(t.run.emitted).toEqual([]);
  });
});

describe('Migration rounds', () => {
  it('a committed plan is migrated in rounds of at most maxMovesPerRound, each released, then committed', async () => {
    const t = start();
    await t.send({ type: 'TOPOLOGY_CHANGED', at: 5, reason: 'node-joined' });
    await t.send({
      type: 'COMMITTED',
      at: 6,
      events: [marker('plan')],
      rebalance: plan(moves(1, 2, 3, 4, 5)),
    });
    expect(t.value()).toEqual({ migrating: 'handingOff' });
    expect(t.handOffRounds()).toEqual([[1, 2]]);
    expect(t.fakes.inputsOf('handOff')[0]).toMatchObject({ term: 1 });

    await t.fakes.resolve('handOff', { released: [1, 2], at: 10 });
    expect(t.value()).toEqual({ migrating: 'committing' });
    await t.send({ type: 'COMMITTED', at: 11, events: [marker('m12')], rebalance: plan(moves(3, 4, 5)) });
    expect(t.handOffRounds()).toEqual([
      [1, 2],
      [3, 4],
    ]);
    await t.fakes.resolve('handOff', { released: [3, 4], at: 12 });
    await t.send({ type: 'COMMITTED', at: 13, events: [marker('m34')], rebalance: plan(moves(5)) });
    await t.fakes.resolve('handOff', { released: [5], at: 14 });
    await t.send({ type: 'COMMITTED', at: 15, events: [marker('m5'), marker('done')], rebalance: null });

    expect(t.value()).toBe('idle');
    expect(t.handOffRounds()).toEqual([[1, 2], [3, 4], [5]]);
    expect(t.run.proposals()).toEqual([
      { type: 'PROPOSE_REBALANCE', reason: 'node-joined', at: 5 },
      { type: 'PROPOSE_MIGRATIONS', shardIds: [1, 2], finish: false, at: 10 },
      { type: 'PROPOSE_MIGRATIONS', shardIds: [3, 4], finish: false, at: 12 },
      { type: 'PROPOSE_MIGRATIONS', shardIds: [5], finish: false, at: 14 },
    ]);
    // The committed events are the root's to emit.
    expect(t.run.emitted).toEqual([]);
  });

  it('only the shards actually released are proposed for migration', async () => {
    const t = start(plan(moves(1, 2, 3)));
    await t.fakes.resolve('handOff', { released: [2], at: 10 });
    expect(t.run.proposals()).toEqual([{ type: 'PROPOSE_MIGRATIONS', shardIds: [2], finish: false, at: 10 }]);
  });

  it('a TOPOLOGY_CHANGED during migration is queued: the round completes, the plan is closed, and planning starts again', async () => {
    const t = start();
    await t.send({ type: 'TOPOLOGY_CHANGED', at: 5, reason: 'node-joined' });
    await t.send({ type: 'COMMITTED', at: 6, events: [], rebalance: plan(moves(1, 2, 3, 4)) });
    await t.send({ type: 'TOPOLOGY_CHANGED', at: 7, reason: 'node-failed' });
    expect(t.value()).toEqual({ migrating: 'handingOff' });
    await t.fakes.resolve('handOff', { released: [1, 2], at: 10 });
    expect(t.run.proposals().at(-1)).toEqual({
      type: 'PROPOSE_MIGRATIONS',
      shardIds: [1, 2],
      finish: true,
      at: 10,
    });
    await t.send({ type: 'COMMITTED', at: 11, events: [], rebalance: null });
    expect(t.value()).toBe('planning');
    expect(t.run.proposals().at(-1)).toEqual({ type: 'PROPOSE_REBALANCE', reason: 'node-failed', at: 11 });
    expect(t.handOffRounds()).toEqual([[1, 2]]);
  });

  it('a change queued while planning re-plans once the plan settles', async () => {
    const t = start();
    await t.send({ type: 'TOPOLOGY_CHANGED', at: 5, reason: 'node-joined' });
    await t.send({ type: 'TOPOLOGY_CHANGED', at: 6, reason: 'node-left' });
    await t.send({ type: 'REJECTED', at: 7, code: 'X', message: 'x' });
    expect(t.value()).toBe('planning');
    expect(t.run.proposals().map((p) => p.reason)).toEqual(['node-joined', 'node-left']);
  });

  it('when nothing is released it pauses and retries the same round after the retry interval', async () => {
    const t = start(plan(moves(1, 2, 3)));
    await t.fakes.resolve('handOff', { released: [], at: 10 });
    expect(t.value()).toEqual({ migrating: 'pausing' });
    await t.clock.advance(timing.retryIntervalMs - 1);
    expect(t.handOffRounds()).toHaveLength(1);
    await t.clock.advance(1);
    expect(t.value()).toEqual({ migrating: 'handingOff' });
    expect(t.handOffRounds()).toEqual([
      [1, 2],
      [1, 2],
    ]);
    expect(t.run.proposals()).toEqual([]);
  });

  it('when nothing is released but a change is queued it closes the plan instead of retrying', async () => {
    const t = start(plan(moves(1, 2, 3)));
    await t.send({ type: 'TOPOLOGY_CHANGED', at: 7, reason: 'node-failed' });
    await t.fakes.resolve('handOff', { released: [], at: 10 });
    expect(t.run.proposals()).toEqual([{ type: 'PROPOSE_MIGRATIONS', shardIds: [], finish: true, at: 10 }]);
  });

  it('a failed hand-off or a rejected commit pauses, then retries', async () => {
    const t = start(plan(moves(1, 2, 3)));
    await t.fakes.reject('handOff');
    expect(t.value()).toEqual({ migrating: 'pausing' });
    await t.clock.advance(timing.retryIntervalMs);
    await t.fakes.resolve('handOff', { released: [1], at: 400 });
    await t.send({ type: 'REJECTED', at: 401, code: 'COMMIT_FAILED', message: 'retry' });
    expect(t.value()).toEqual({ migrating: 'pausing' });
    await t.clock.advance(timing.retryIntervalMs);
    expect(t.value()).toEqual({ migrating: 'handingOff' });
  });

  it('a new leader resumes a persisted plan: it starts in migrating with the plan’s first round', () => {
    const t = start(plan(moves(7, 8, 9), 'node-draining'));
    expect(t.value()).toEqual({ migrating: 'handingOff' });
    expect(t.handOffRounds()).toEqual([[7, 8]]);
    expect(t.subject.getSnapshot().context.reason).toBe('node-draining');
    expect(t.run.proposals()).toEqual([]);
  });

  it('a persisted plan with nothing left starts idle', () => {
    const t = start(plan([]));
    expect(t.value()).toBe('idle');
  });
});
