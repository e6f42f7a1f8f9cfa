/**
 * Model-based coverage of the cluster-node root. Its children are replaced by inert actors so that the
 * root alone is under test (their own charts have their own coverage); the store actors are fakes.
 */

import { describe, expect, it } from 'vitest';
import { createActor, createMachine, type EventObject, type InspectionEvent } from 'xstate';
import { type ClusterNodeInput, clusterNodeMachine } from '../../machines/cluster-node.machine.js';
import { confirmsMembership } from '../../machines/hosting.js';
import { FAST_TIMING } from '../../src/config.js';
import type { LeadershipLost, LeadershipRenewed } from '../../src/domain/events.js';
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
/** A read that shows this process (n1, incarnation 1) a member, and one that shows it failed. */
const member: ClusterState = {
  ...initialClusterState(8),
  nodes: { n1: { id: 'n1', status: 'Active', incarnation: 1, lastSeen: 0, weight: 1 } },
};
const failed: ClusterState = {
  ...member,
  nodes: { n1: { id: 'n1', status: 'Failed', incarnation: 1, lastSeen: 0, weight: 1 } },
};
const inv = (path: string) => `0.clusterNode.role.leader.${path}`;
/** What the leadership child reports about term 1, the term of the sample election. */
const stamp = (at: number) => ({ id: 'L-1', origin: 'n1', term: 1, version: 0, at, nodeId: 'n1' });
const renewed = (at: number): LeadershipRenewed => ({
  ...stamp(at),
  type: 'LeadershipRenewed',
  expiresAt: at + 1,
});
const lost = (at: number): LeadershipLost => ({ ...stamp(at), type: 'LeadershipLost', reason: 'lease-lost' });

const events = (s: AnyMachineSnapshot): EventObject[] => {
  const at = (s.context as { now: number }).now;
  const hb = { nodeId: 'n2', incarnation: 1, weight: 1, status: 'Joining', version: 0, load: 0 };
  return [
    { type: 'LEASE_CHANGED', at, lease: { holder: 'n2', term: 1, revision: 1 } },
    { type: 'HEARTBEAT', at, heartbeat: hb },
    { type: 'TOPOLOGY', at, state: initialClusterState(8), revision: 5 },
    { type: 'TOPOLOGY', at, state: newer, revision: 6 },
    { type: 'LEADER_ELECTED', at, term: 1 },
    { type: 'LEADERSHIP_RENEWED', at, event: renewed(at) },
    { type: 'LEADERSHIP_LOST', at, term: 1, event: lost(at) },
    {
      type: 'RELEASE_REQUESTED',
      at,
      requestId: 'r',
      leader: 'n2',
      term: 1,
      moves: [{ shardId: 0, to: 'n2', incarnation: 1 }],
      version: 1,
    },
    { type: 'REPORT_LOAD', at, load: 3 },
    { type: 'STORE_CONTACT', at, receivedAt: at, state: member },
    { type: 'STORE_CONTACT', at, receivedAt: at, state: failed },
    { type: 'CONNECTION', at, status: 'disconnected' },
    { type: 'CONNECTION', at, status: 'connected' },
    { type: 'COMMAND', at, requestId: 'q', command: { type: 'markNodeFailed', nodeId: 'nobody' } },
    { type: 'RESIGN', at },
    { type: 'STOP', at },
    { type: 'PROPOSE_JOIN', nodeId: 'n2', incarnation: 1, weight: 1, at },
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

/** Per run: confirming store contacts the root received, and confirmations the shard host heard. */
const confirmations = { contacts: 0, heard: 0 };

/** Types of every event the runs emitted, so that the prediction is not vacuous. */
const emittedTypes = new Set<string>();

const spec: ModelSpec<ClusterNodeInput> = {
  machine: clusterNodeMachine,
  events,
  abstract: (s) => {
    const c = s.context as {
      term: unknown;
      queue: unknown[];
      pending: unknown;
      failures: number;
      fenced: boolean;
    };
    return [c.term, c.fenced, c.queue.length > 0, c.pending !== null, c.failures];
  },
  // Every emitted event is the root's own (committed domain events, relayed leadership events, answers).
  start: (runInput, coverage) => {
    const clock = new TaggedClock();
    const fakes = new FakeActors();
    let contacts = 0;
    let heard = 0;
    // The shard host stands in as a recorder of the confirmations the root passes on.
    const shardHost = createMachine({ on: { CONFIRMED: { actions: () => heard++ } } });
    const inspect = (ev: InspectionEvent) => {
      coverage.inspect(ev);
      if (ev.type !== '@xstate.event' || ev.actorRef !== actor || ev.event.type !== 'STORE_CONTACT') return;
      if (confirmsMembership(ev.event.state, 'n1', 1)) contacts++;
    };
    const actor = createActor(
      clusterNodeMachine.provide({
        actors: {
          leadership: inert as never,
          nodeLifecycle: inert as never,
          rebalancing: inert as never,
          shardHost: shardHost as never,
          readTopology: fakes.logic('readTopology'),
          commitTopology: fakes.logic('commitTopology'),
        },
      }),
      { id: 'subject', systemId: 'node', clock, input: runInput, inspect },
    );
    const emitted: EventObject[] = [];
    actor.on('*', (e) => emitted.push(e));
    clock.system = actor.system;
    actor.start();
    const stop = () => {
      for (const e of emitted) emittedTypes.add(e.type);
      // Every confirming contact reached the shard host, and nothing else did.
      expect(heard).toBe(contacts);
      confirmations.contacts += contacts;
      confirmations.heard += heard;
      actor.stop();
    };
    return { subject: actor, clock, fakes, emitted, sent: () => [], stop };
  },
};

describe('cluster-node model', () => {
  it('generated paths reach every state and take every transition of the root, with the predicted emitted events', async () => {
    const coverage = new Coverage();
    const { paths } = await coverModel(spec, [input], coverage);
    expect(paths).toBeGreaterThan(10);
    expect(allStateIds(clusterNodeMachine).filter((id) => !coverage.states.has(id))).toEqual([]);
    expect(missingTransitions(clusterNodeMachine, coverage)).toEqual([]);
    expect([...emittedTypes].sort()).toEqual([
      'CommandAnswered',
      'LeaderElected',
      'LeadershipLost',
      'LeadershipRenewed',
      'NodeJoined',
    ]);
    expect(confirmations.heard).toBeGreaterThan(0);
  });
});
