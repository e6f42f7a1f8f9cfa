/**
 * The cluster-node root with its real children (leadership, lifecycle, rebalancer) and fake store
 * actors: one test per row of the domain model's policy table that the root carries, plus fencing.
 */

import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import {
  type ClusterNodeEmitted,
  type CommitTopologyInput,
  type CommitTopologyOutput,
  clusterNodeMachine,
  type ReadTopologyOutput,
} from '../../machines/cluster-node.machine.js';
import { leadershipMachine } from '../../machines/leadership.machine.js';
import {
  type HandOffInput,
  type HandOffOutput,
  rebalancingMachine,
} from '../../machines/rebalancing.machine.js';
import { FAST_TIMING } from '../../src/config.js';
import type { DomainEvent } from '../../src/domain/events.js';
import type { ClusterState } from '../../src/domain/state.js';
import type { Heartbeat } from '../../src/protocol/messages.js';
import { FakeActors, SimulatedClock, settle } from './harness.js';

const timing = FAST_TIMING;

function start(nodeId = 'n1') {
  const clock = new SimulatedClock(0);
  const fakes = new FakeActors();
  const beats: Heartbeat[] = [];
  const machine = clusterNodeMachine.provide({
    actions: { sendHeartbeat: (_, hb) => beats.push(hb) },
    actors: {
      readTopology: fakes.logic<ReadTopologyOutput, void>('readTopology'),
      commitTopology: fakes.logic<CommitTopologyOutput, CommitTopologyInput>('commitTopology'),
      leadership: leadershipMachine.provide({
        actors: {
          acquireLease: fakes.logic('acquireLease'),
          renewLease: fakes.logic('renewLease'),
          releaseLease: fakes.logic('releaseLease'),
          readLease: fakes.logic('readLease'),
        },
      }),
      rebalancing: rebalancingMachine.provide({
        actors: { handOff: fakes.logic<HandOffOutput, HandOffInput>('handOff') },
      }),
    },
  });
  const actor = createActor(machine, {
    systemId: 'node',
    clock,
    input: {
      nodeId,
      incarnation: 1,
      weight: 1,
      shardCount: 8,
      timing,
      maxMovesPerRound: 4,
      strategy: 'balanced',
      now: 0,
      idPrefix: `${nodeId}-1`,
    },
  });
  const emitted: ClusterNodeEmitted[] = [];
  actor.on('*', (e) => emitted.push(e));
  actor.start();
  let revision = 10;
  const committed: ClusterState[] = [];
  const t = {
    clock,
    fakes,
    actor,
    emitted,
    beats,
    committed,
    role: () => (actor.getSnapshot().value as { role: unknown }).role,
    /** Event types of every batch this node committed, in order. */
    committedTypes: () =>
      emitted.flatMap((e) => (e.type === 'TopologyCommitted' ? e.events.map((d) => d.type) : [])),
    committedEvents: (): DomainEvent[] =>
      emitted.flatMap((e) => (e.type === 'TopologyCommitted' ? [...e.events] : [])),
    async elect(term: number, read: ClusterState | null, readRevision = 0) {
      actor.send({ type: 'LEADER_ELECTED', at: clock.now(), term });
      await t.fakes.resolve('readTopology', { state: read, revision: readRevision, at: clock.now() });
      revision = Math.max(revision, readRevision);
    },
    /** Lets every pending commit succeed and every hand-off release all its shards, until quiet. */
    async settleAll(limit = 50) {
      for (let i = 0; i < limit; i++) {
        await settle();
        if (fakes.has('commitTopology')) {
          const input = fakes.pending('commitTopology').input as CommitTopologyInput;
          committed.push(input.state);
          await fakes.resolve('commitTopology', { revision: ++revision, at: clock.now() });
        } else if (fakes.has('handOff')) {
          const input = fakes.pending('handOff').input as HandOffInput;
          await fakes.resolve('handOff', { released: input.moves.map((m) => m.shardId), at: clock.now() });
        } else return;
      }
      throw new Error('the node did not settle');
    },
    heartbeat(from: string, incarnation = 1) {
      const hb: Heartbeat = { nodeId: from, incarnation, weight: 1, status: 'Joining', version: 0, load: 0 };
      actor.send({ type: 'HEARTBEAT', at: clock.now(), heartbeat: hb });
    },
  };
  return t;
}

const owners = (s: ClusterState) => s.shardMap.owners;

describe('Single leader policy, root side: an elected node fences its term before acting', () => {
  it('reads the topology, then commits LeaderElected stamped with its term by compare-and-set on the read revision', async () => {
    const t = start();
    t.actor.send({ type: 'LEADER_ELECTED', at: 0, term: 4 });
    expect(t.role()).toEqual({ leader: 'fencing' });
    await t.fakes.resolve('readTopology', { state: null, revision: 7, at: 0 });
    expect(t.role()).toEqual({ leader: { writing: 'committing' } });
    const input = t.fakes.pending('commitTopology').input as CommitTopologyInput;
    expect(input.expectedRevision).toBe(7);
    expect(input.term).toBe(4);
    expect(input.state.leader).toEqual({ nodeId: 'n1', term: 4 });
    await t.settleAll();
    // Bootstrap: the first leader admits itself in the same commit, then places every shard.
    expect(t.committedTypes().slice(0, 2)).toEqual(['LeaderElected', 'NodeJoined']);
    const last = t.committed.at(-1)!;
    expect(owners(last).every((o) => o === 'n1')).toBe(true);
    expect(t.role()).toEqual({ leader: { writing: 'idle' } });
  });

  it('retries the fencing read after the retry interval when it fails', async () => {
    const t = start();
    t.actor.send({ type: 'LEADER_ELECTED', at: 0, term: 1 });
    await t.fakes.reject('readTopology');
    expect(t.role()).toEqual({ leader: 'fencingRetry' });
    await t.clock.advance(timing.retryIntervalMs);
    expect(t.role()).toEqual({ leader: 'fencing' });
    expect(t.fakes.inputsOf('readTopology')).toHaveLength(2);
  });

  it('a commit that fails is re-read and decided again; after three failures the batch is dropped', async () => {
    const t = start();
    await t.elect(1, null);
    await t.fakes.reject('commitTopology');
    expect(t.role()).toEqual({ leader: { writing: 'refreshing' } });
    await t.fakes.resolve('readTopology', { state: null, revision: 0, at: 0 });
    await t.fakes.reject('commitTopology');
    await t.fakes.reject('readTopology');
    expect(t.role()).toEqual({ leader: { writing: 'refreshRetry' } });
    await t.clock.advance(timing.retryIntervalMs);
    await t.fakes.resolve('readTopology', { state: null, revision: 0, at: t.clock.now() });
    await t.fakes.reject('commitTopology');
    expect(t.role()).toEqual({ leader: { writing: 'idle' } });
    expect(t.fakes.inputsOf('commitTopology')).toHaveLength(3);
  });

  it('LEADERSHIP_LOST returns to follower and stops the rebalancer', async () => {
    const t = start();
    await t.elect(1, null);
    expect(t.actor.system.get('rebalancer')).toBeDefined();
    t.actor.send({ type: 'LEADERSHIP_LOST', at: 0, term: 1 });
    expect(t.role()).toBe('follower');
    expect(t.actor.system.get('rebalancer')).toBeUndefined();
  });
});

describe('Rebalancing trigger policy: a committed membership change makes the leader rebalance', () => {
  it('a node admitted by the judge triggers a rebalance that moves shards to it', async () => {
    const t = start();
    await t.elect(1, null);
    await t.settleAll();
    t.heartbeat('n2');
    await t.settleAll();
    const types = t.committedTypes();
    const joinedAt = types.lastIndexOf('NodeJoined');
    expect(t.committedEvents()[joinedAt]).toMatchObject({ type: 'NodeJoined', nodeId: 'n2' });
    expect(types.slice(joinedAt + 1)).toContain('RebalancingTriggered');
    expect(types.at(-1)).toBe('RebalancingCompleted');
    const final = t.committed.at(-1)!;
    expect(owners(final).filter((o) => o === 'n2')).toHaveLength(4);
  });
});

describe('Node failure policy, end to end in the root: a silent node is committed Failed', () => {
  it('a member that stops beating is proposed and committed failed at its deadline, and its shards recovered', async () => {
    const t = start();
    await t.elect(1, null);
    await t.settleAll();
    t.heartbeat('n2');
    await t.settleAll();
    const heardAt = t.clock.now();
    // n1 keeps beating (its own lifecycle), n2 falls silent.
    for (let at = 500; at < timing.failureTimeoutMs + 500; at += 500) {
      await t.clock.advanceTo(heardAt + at);
      t.heartbeat('n1');
      await t.settleAll();
    }
    const failed = t.committedEvents().filter((e) => e.type === 'NodeFailed');
    expect(failed).toEqual([expect.objectContaining({ nodeId: 'n2', lastSeen: heardAt })]);
    expect(failed[0]!.at).toBe(heardAt + timing.failureTimeoutMs);
    expect(owners(t.committed.at(-1)!).every((o) => o === 'n1')).toBe(true);
  });
});

describe('Shard coverage policy: a new leader repairs orphaned shards left by its predecessor', () => {
  it('on election, a read topology with orphans and no active rebalance is rebalanced', async () => {
    // Build a two-node topology, then fail n2 by command and keep the state right after the failure.
    const a = start();
    await a.elect(1, null);
    await a.settleAll();
    a.heartbeat('n2');
    await a.settleAll();
    a.actor.send({
      type: 'COMMAND',
      at: a.clock.now(),
      requestId: 'q1',
      command: { type: 'markNodeFailed', nodeId: 'n2' },
    });
    await settle();
    a.committed.push((a.fakes.pending('commitTopology').input as CommitTopologyInput).state);
    const orphaned = a.committed.at(-1)!;
    expect(orphaned.orphaned.length).toBeGreaterThan(0);
    expect(orphaned.rebalance).toBeNull();

    const b = start('n1');
    await b.elect(2, orphaned, 50);
    await b.settleAll();

    const recovered = b.committedEvents().filter((e) => e.type === 'ShardAssigned');
    expect(recovered.map((e) => (e as { reason: string }).reason)).toEqual(
      orphaned.orphaned.map(() => 'recovery'),
    );
    expect(b.committed.at(-1)!.orphaned).toEqual([]);
  });
});

describe('Graceful shutdown policy: leaveCluster from a stopping node commits NodeLeft at once', () => {
  it('answers the command with the committed NodeLeft and rebalances the departed node’s shards', async () => {
    const t = start();
    await t.elect(1, null);
    await t.settleAll();
    t.heartbeat('n2');
    await t.settleAll();
    t.actor.send({
      type: 'COMMAND',
      at: t.clock.now(),
      requestId: 'bye',
      command: { type: 'leaveCluster', nodeId: 'n2' },
    });
    await t.settleAll();
    const answer = t.emitted.find((e) => e.type === 'CommandAnswered');
    expect(answer).toMatchObject({ requestId: 'bye', ok: true });
    expect((answer as unknown as { events: DomainEvent[] }).events.map((e) => e.type)).toEqual(['NodeLeft']);
    expect(owners(t.committed.at(-1)!).every((o) => o === 'n1')).toBe(true);
  });

  it('a command that the domain rejects is answered with its code, and nothing is written', async () => {
    const t = start();
    await t.elect(1, null);
    await t.settleAll();
    const writes = t.fakes.inputsOf('commitTopology').length;
    t.actor.send({
      type: 'COMMAND',
      at: t.clock.now(),
      requestId: 'x',
      command: { type: 'drainNode', nodeId: 'nobody' },
    });
    await t.settleAll();
    expect(t.emitted.find((e) => e.type === 'CommandAnswered')).toMatchObject({ requestId: 'x', ok: false });
    expect(t.fakes.inputsOf('commitTopology')).toHaveLength(writes);
  });
});

describe('Heartbeats', () => {
  it('announces itself every heartbeat interval until STOP', async () => {
    const t = start();
    await t.clock.advanceTo(timing.heartbeatIntervalMs * 3);
    expect(t.beats).toHaveLength(4);
    t.actor.send({ type: 'STOP', at: t.clock.now() });
    await t.clock.advance(timing.heartbeatIntervalMs * 3);
    expect(t.beats).toHaveLength(4);
    expect(t.actor.getSnapshot().value).toEqual({ role: 'stopped', heartbeat: 'silent' });
  });
});
