/**
 * Model-based coverage of the cluster-node root. Its children are replaced by inert actors so that the
 * root alone is under test (their own charts have their own coverage); the store actors are fakes.
 */

import { describe, expect, it } from 'vitest';
import { createActor, createMachine, type EventObject } from 'xstate';
import { type ClusterNodeInput, clusterNodeMachine } from '../../machines/cluster-node.machine.js';
import { FAST_TIMING } from '../../src/config.js';
import { type ClusterState, initialClusterState } from '../../src/domain/state.js';
import { allStateIds, Coverage, FakeActors, TaggedClock } from './harness.js';
import { type AnyMachineSnapshot, coverModel, type ModelSpec, missingTransitions } from './model.js';

const timing = FAST_TIMING;
const input: ClusterNodeInput = {
  nodeId: 'n1',
  incarnation: 1,
  weight: 1,
  shardCount: 8,
  timing,
  maxMovesPerRound: 4,
  strategy: 'balanced',
  now: 0,
  idPrefix: 'n1-1',
};
/** A topology written under a later term than the one this node is elected for. */
const newer: ClusterState = { ...initialClusterState(8), highestTerm: 9, leader: { nodeId: 'n2', term: 9 } };
const inv = (path: string) => `0.clusterNode.role.leader.${path}`;

const events = (s: AnyMachineSnapshot): EventObject[] => {
  const at = (s.context as { now: number }).now;
  const hb = { nodeId: 'n2', incarnation: 1, weight: 1, status: 'Joining', version: 0, load: 0 };
  return [
    { type: 'LEASE_CHANGED', at, lease: { holder: 'n2', term: 1, revision: 1 } },
    { type: 'HEARTBEAT', at, heartbeat: hb },
    { type: 'TOPOLOGY', at, state: initialClusterState(8), revision: 5 },
    { type: 'TOPOLOGY', at, state: newer, revision: 6 },
    { type: 'LEADER_ELECTED', at, term: 1 },
    { type: 'LEADERSHIP_LOST', at, term: 1 },
    { type: 'COMMAND', at, requestId: 'q', command: { type: 'markNodeFailed', nodeId: 'nobody' } },
    { type: 'RESIGN', at },
    { type: 'STOP', at },
    { type: 'PROPOSE_JOIN', nodeId: 'n2', incarnation: 1, at },
    { type: 'PROPOSE_FAILED', nodeId: 'n2', incarnation: 1, lastSeen: 0, at },
    { type: 'PROPOSE_REBALANCE', reason: 'node-joined', at },
    { type: 'PROPOSE_MIGRATIONS', shardIds: [0], finish: false, at },
    { type: `xstate.done.actor.${inv('fencing')}`, output: { state: null, revision: 0, at } },
    { type: `xstate.done.actor.${inv('fencing')}`, output: { state: newer, revision: 3, at } },
    { type: `xstate.error.actor.${inv('fencing')}`, error: 'unavailable' },
    { type: `xstate.done.actor.${inv('writing.committing')}`, output: { revision: 1, at } },
    { type: `xstate.error.actor.${inv('writing.committing')}`, error: 'conflict' },
    { type: `xstate.done.actor.${inv('writing.refreshing')}`, output: { state: null, revision: 0, at } },
    { type: `xstate.error.actor.${inv('writing.refreshing')}`, error: 'unavailable' },
    { type: 'xstate.after.retryInterval.clusterNode.role.leader.fencingRetry' },
    { type: 'xstate.after.retryInterval.clusterNode.role.leader.writing.refreshRetry' },
    { type: 'xstate.after.heartbeatInterval.clusterNode.heartbeat.beating' },
  ] as EventObject[];
};

const inert = createMachine({});

const spec: ModelSpec<ClusterNodeInput> = {
  machine: clusterNodeMachine,
  events,
  abstract: (s) => {
    const c = s.context as {
      term: unknown;
      queue: unknown[];
      pending: unknown;
      failures: number;
      revision: number;
    };
    return [c.term, c.queue.length > 0, c.pending !== null, c.failures];
  },
  // Membership events are emitted by the lifecycle children when present; the root's own answers are exact.
  predicts: (e) => e.type === 'TopologyCommitted' || e.type === 'CommandAnswered',
  start: (runInput, coverage) => {
    const clock = new TaggedClock();
    const fakes = new FakeActors();
    const actor = createActor(
      clusterNodeMachine.provide({
        actors: {
          leadership: inert as never,
          nodeLifecycle: inert as never,
          rebalancing: inert as never,
          readTopology: fakes.logic('readTopology'),
          commitTopology: fakes.logic('commitTopology'),
        },
      }),
      { id: 'subject', systemId: 'node', clock, input: runInput, inspect: coverage.inspect },
    );
    const emitted: EventObject[] = [];
    actor.on('*', (e) => emitted.push(e));
    clock.system = actor.system;
    actor.start();
    return { subject: actor, clock, fakes, emitted, proposals: () => [], stop: () => actor.stop() };
  },
};

describe('cluster-node model', () => {
  it('generated paths reach every state and take every transition of the root, with the predicted commits and answers', async () => {
    const coverage = new Coverage();
    const { paths } = await coverModel(spec, [input], coverage);
    expect(paths).toBeGreaterThan(10);
    expect(allStateIds(clusterNodeMachine).filter((id) => !coverage.states.has(id))).toEqual([]);
    expect(missingTransitions(clusterNodeMachine, coverage)).toEqual([]);
  });
});
