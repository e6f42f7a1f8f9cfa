/**
 * Model-based coverage of the shard host: generated paths reach every state and take every transition,
 * executed against the real machine with a fake lease read and a fake application release. The model
 * predicts each answer and each call that starts or stops serving shards, with its payload.
 */

import { describe, expect, it } from 'vitest';
import { createActor, type EventObject } from 'xstate';
import { type ShardHostInput, shardHostMachine } from '../../machines/shard-host.machine.js';
import { type ClusterState, initialClusterState } from '../../src/domain/state.js';
import type { NodeId } from '../../src/domain/values.js';
import { allStateIds, allTransitionKeys, Coverage, FakeActors, TaggedClock } from './harness.js';
import {
  type AnyMachineSnapshot,
  type BoundCall,
  coverModel,
  type ModelSpec,
  missingTransitions,
} from './model.js';

const FENCE_AFTER_MS = 1000;
const input: ShardHostInput = { nodeId: 'n1', now: 0, fenceAfterMs: FENCE_AFTER_MS };
const inv = (state: string) => `0.shardHost.${state}`;
const FENCE_TIMER = 'xstate.after.untilFence.shardHost.membership.confirmed';

function map(version: number, owners: readonly (NodeId | null)[], moving: number[] = []): ClusterState {
  const member = (id: NodeId) => ({ id, status: 'Active' as const, incarnation: 1, weight: 1, lastSeen: 0 });
  return {
    ...initialClusterState(owners.length),
    nodes: { n1: member('n1'), n2: member('n2') },
    leader: { nodeId: 'n2', term: 3 },
    highestTerm: 3,
    shardMap: { version, term: 3, owners },
    rebalance:
      moving.length === 0
        ? null
        : {
            rebalanceId: 'r1',
            reason: 'node-joined',
            epoch: 1,
            term: 3,
            startedAt: 0,
            remaining: moving.map((shardId) => ({
              shardId,
              from: 'n1',
              to: 'n2',
              reason: 'balance' as const,
            })),
            moved: 0,
          },
  };
}

const events = (s: AnyMachineSnapshot): EventObject[] => {
  const at = (s.context as { now: number }).now;
  const value = s.value as { requests: string; membership: string };
  const all = [
    // n1 owns 0 and 1; the plan of version 5 moves 1 to n2.
    { type: 'TOPOLOGY', at, cluster: map(5, ['n1', 'n1', 'n2'], [1]) },
    // The plan was abandoned: 1 is still n1's and no longer moving.
    { type: 'TOPOLOGY', at, cluster: map(6, ['n1', 'n1', 'n2']) },
    // The move committed: 1 is n2's.
    { type: 'TOPOLOGY', at, cluster: map(7, ['n1', 'n2', 'n2']) },
    {
      type: 'RELEASE_REQUESTED',
      at,
      requestId: 'q',
      leader: 'n2',
      term: 3,
      moves: [
        { shardId: 1, to: 'n2', incarnation: 1 },
        { shardId: 2, to: 'n2', incarnation: 1 },
      ],
      version: 5,
    },
    {
      type: `xstate.done.actor.${inv('requests.verifying')}`,
      output: { lease: { holder: 'n2', term: 3, revision: 9 }, at },
    },
    {
      type: `xstate.done.actor.${inv('requests.verifying')}`,
      output: { lease: { holder: 'n3', term: 4, revision: 9 }, at },
    },
    { type: `xstate.error.actor.${inv('requests.verifying')}`, error: 'no quorum' },
    // The record read shows the plan (the map held lagged), or no such plan.
    {
      type: `xstate.done.actor.${inv('requests.rereading')}`,
      output: { cluster: map(5, ['n1', 'n1', 'n2'], [1]), at },
    },
    {
      type: `xstate.done.actor.${inv('requests.rereading')}`,
      output: { cluster: map(6, ['n1', 'n1', 'n2']), at },
    },
    { type: `xstate.error.actor.${inv('requests.rereading')}`, error: 'no quorum' },
    { type: `xstate.done.actor.${inv('requests.releasing')}`, output: { at } },
    { type: `xstate.error.actor.${inv('requests.releasing')}`, error: 'onRelease threw' },
    // A read that started after the last thing heard (it moves the deadline), and one a whole window old.
    { type: 'CONFIRMED', at: at + 1, receivedAt: at + 1 },
    { type: 'CONFIRMED', at: Math.max(0, at - FENCE_AFTER_MS), receivedAt: at },
    { type: FENCE_TIMER },
    { type: `xstate.done.actor.${inv('membership.fencing')}`, output: { at } },
    { type: `xstate.error.actor.${inv('membership.fencing')}`, error: 'onRelease threw' },
  ] as unknown as EventObject[];
  // Both regions release through the same actor, and the fakes tell calls apart by actor only: the
  // membership moves while no request is in progress, and no request arrives while fencing, so the
  // two releases are never in flight at once. (It also keeps the graph small: the regions are
  // independent but for the shards served, which the abstraction keeps.)
  const idle = value.requests === 'serving' && (s.context as { requests: unknown[] }).requests.length === 0;
  const membershipEvents = new Set(['CONFIRMED', FENCE_TIMER]);
  return all.filter(
    (e) =>
      !(membershipEvents.has(e.type) && !idle) &&
      !(e.type === 'RELEASE_REQUESTED' && value.membership === 'fencing'),
  );
};

/** Payloads of every answer the runs gave, so that the prediction is not vacuous. */
const answered: unknown[] = [];

const spec: ModelSpec<ShardHostInput> = {
  machine: shardHostMachine,
  events,
  abstract: (s) => {
    const c = s.context as {
      owned: number[];
      released: Record<number, number>;
      requests: unknown[];
      cluster: ClusterState | null;
    };
    // Two queued requests behave as more would: cap the queue so that the graph stays finite. The
    // times decide no transition but the fresh guard, which the two CONFIRMED events both exercise.
    // The map held decides whether a request's plan is found without a re-read.
    return [c.owned, c.released, Math.min(c.requests.length, 2), c.cluster?.shardMap.version ?? null];
  },
  bound: ['answer', 'acquired', 'lost'],
  start: (runInput, coverage) => {
    const clock = new TaggedClock();
    const fakes = new FakeActors();
    const calls: BoundCall[] = [];
    const actor = createActor(
      shardHostMachine.provide({
        actors: {
          readLease: fakes.logic('readLease'),
          readTopology: fakes.logic('readTopology'),
          releaseShards: fakes.logic('releaseShards'),
        },
        actions: {
          answer: (_, params) => calls.push({ type: 'answer', params }),
          acquired: (_, params) => calls.push({ type: 'acquired', params }),
          lost: (_, params) => calls.push({ type: 'lost', params }),
        },
      }),
      { id: 'subject', clock, input: runInput, inspect: coverage.inspect },
    );
    clock.system = actor.system;
    actor.start();
    const stop = () => {
      for (const c of calls) if (c.type === 'answer') answered.push(c.params);
      actor.stop();
    };
    return { subject: actor, clock, fakes, emitted: [], sent: () => [], calls, stop };
  },
};

describe('shard host model', () => {
  it('generated paths reach every state and take every transition, with the predicted answers and acquired shards', async () => {
    const coverage = new Coverage();
    const { paths } = await coverModel(spec, [input], coverage);
    expect(paths).toBeGreaterThan(10);
    expect(allStateIds(shardHostMachine).filter((id) => !coverage.states.has(id))).toEqual([]);
    expect(missingTransitions(shardHostMachine, coverage)).toEqual([]);
    expect(coverage.transitions.size).toBe(allTransitionKeys(shardHostMachine).length);
    // Honoured, and refused by the lease, for an unreadable lease, for no such plan in the record and
    // for an unreadable record, all occurred.
    expect(answered).toContainEqual({ requestId: 'q', released: [1], refused: null });
    const refused = (code: string, message: unknown) =>
      expect.objectContaining({ released: [], refused: { code, message } });
    expect(answered).toContainEqual(refused('not-lease-holder', expect.stringContaining('n3 holds term 4')));
    expect(answered).toContainEqual(refused('lease-unreadable', 'the lease could not be read'));
    expect(answered).toContainEqual(refused('not-planned', 'no committed plan moves shard 1 from n1 to n2'));
    expect(answered).toContainEqual(refused('topology-unreadable', 'the topology could not be read'));
  });
});
