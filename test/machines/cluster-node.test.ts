/**
 * The cluster-node root with its real children (leadership, lifecycle, rebalancer, shard host) and
 * fake store actors: one test per row of the domain model's policy table that the root carries, plus
 * fencing and what the root emits.
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
import type { DomainEvent, LeadershipLost } from '../../src/domain/events.js';
import { type ClusterState, initialClusterState } from '../../src/domain/state.js';
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
    /** Domain events of every batch this node committed, as the root emitted them, in order. */
    committedEvents: (): DomainEvent[] => emitted.filter(isCommitted),
    committedTypes: () => emitted.filter(isCommitted).map((e) => e.type),
    /** Every domain event the root emitted of `type`. */
    emittedOf: <T extends DomainEvent['type']>(type: T) =>
      emitted.filter((e): e is Extract<DomainEvent, { type: T }> => e.type === type),
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

/** Events the root relays from leadership: never part of a committed batch. */
const RELAYED = new Set(['LeadershipRenewed', 'LeadershipLost']);
const isCommitted = (e: ClusterNodeEmitted): e is DomainEvent =>
  e.type !== 'CommandAnswered' && !RELAYED.has(e.type);

function lostEvent(term: number, at: number): LeadershipLost {
  return {
    type: 'LeadershipLost',
    id: `n1-1-L-${term}`,
    origin: 'n1',
    nodeId: 'n1',
    term,
    version: 0,
    at,
    reason: 'lease-lost',
  };
}

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

  it('LEADERSHIP_LOST returns to follower, stops the rebalancer and emits the LeadershipLost of its fenced term', async () => {
    const t = start();
    await t.elect(1, null);
    await t.settleAll();
    expect(t.actor.system.get('rebalancer')).toBeDefined();
    const lost = lostEvent(1, t.clock.now());
    t.actor.send({ type: 'LEADERSHIP_LOST', at: t.clock.now(), term: 1, event: lost });
    expect(t.role()).toBe('follower');
    expect(t.actor.system.get('rebalancer')).toBeUndefined();
    expect(t.actor.getSnapshot().context).toMatchObject({ term: null, fenced: false });
    expect(t.emitted.filter((e) => e.type === 'LeadershipLost')).toEqual([lost]);
  });
});

describe('What the root emits about leadership: LeaderElected once per term, after the fencing commit', () => {
  /**
   * Lets the leadership child's lease lapse and win the campaign at `term`. Meanwhile the node hears
   * its own heartbeats, as it does over the bus, so that its lifecycle actor keeps it alive.
   */
  async function win(t: ReturnType<typeof start>, term: number) {
    const until = t.clock.now() + timing.leaseTtlMs;
    while (t.clock.now() < until) {
      t.heartbeat('n1');
      await t.clock.advanceTo(Math.min(until, t.clock.now() + timing.heartbeatIntervalMs));
    }
    const now = t.clock.now();
    await t.fakes.resolve('acquireLease', {
      kind: 'acquired',
      term,
      revision: term,
      startedAt: now,
      at: now,
    });
  }
  /** A topology left by a leader `n2` of term 2 that no longer runs (no member is Active). */
  const leftBehind: ClusterState = {
    ...initialClusterState(8),
    highestTerm: 2,
    leader: { nodeId: 'n2', term: 2 },
  };

  it('emits LeaderElected of its own election only once the fencing commit resolves, exactly once, then renewals and the loss', async () => {
    const t = start();
    await win(t, 4);
    expect(t.role()).toEqual({ leader: 'fencing' });
    expect(t.emitted).toEqual([]);
    await t.fakes.resolve('readTopology', { state: leftBehind, revision: 3, at: t.clock.now() });
    expect(t.role()).toEqual({ leader: { writing: 'committing' } });
    expect(t.emitted).toEqual([]);
    const electedAt = t.clock.now();
    await t.fakes.resolve('commitTopology', { revision: 4, at: electedAt });
    expect(t.emittedOf('LeaderElected')).toEqual([
      expect.objectContaining({ nodeId: 'n1', term: 4, previous: { nodeId: 'n2', term: 2 }, at: electedAt }),
    ]);
    // The bootstrap commit admits the leader too, after its election and in the same order as committed.
    expect(t.committedTypes().slice(0, 2)).toEqual(['LeaderElected', 'NodeJoined']);
    expect(t.actor.getSnapshot().context.fenced).toBe(true);

    await t.settleAll();
    await t.clock.advance(timing.renewIntervalMs);
    const renewedAt = t.clock.now();
    await t.fakes.resolve('renewLease', {
      kind: 'renewed',
      revision: 5,
      startedAt: renewedAt,
      at: renewedAt,
    });
    await t.settleAll();
    expect(t.emittedOf('LeadershipRenewed')).toEqual([
      expect.objectContaining({ nodeId: 'n1', term: 4, expiresAt: renewedAt + timing.leaseTtlMs }),
    ]);

    t.actor.send({ type: 'LEASE_CHANGED', at: t.clock.now(), lease: { holder: 'n2', term: 5, revision: 6 } });
    await settle();
    expect(t.role()).toBe('follower');
    expect(t.emittedOf('LeadershipLost')).toEqual([
      expect.objectContaining({ nodeId: 'n1', term: 4, reason: 'superseded' }),
    ]);
    expect(t.emittedOf('LeaderElected')).toHaveLength(1);
  });

  it('a second term is announced once more, each LeaderElected once', async () => {
    const t = start();
    await win(t, 4);
    await t.fakes.resolve('readTopology', { state: null, revision: 0, at: t.clock.now() });
    await t.settleAll();
    // The lease is lost by a renewal that finds it gone; the next campaign wins term 7.
    await t.clock.advance(timing.renewIntervalMs);
    await t.fakes.resolve('renewLease', { kind: 'lost', lease: null, at: t.clock.now() });
    await t.settleAll();
    expect(t.role()).toBe('follower');
    await win(t, 7);
    await t.fakes.resolve('readTopology', { state: t.committed.at(-1)!, revision: 0, at: t.clock.now() });
    await t.settleAll();
    expect(t.emittedOf('LeaderElected').map((e) => e.term)).toEqual([4, 7]);
    expect(t.emittedOf('LeadershipLost').map((e) => e.term)).toEqual([4]);
  });

  it('a stale election (the fencing read finds a higher term) emits nothing: no LeaderElected, no LeadershipLost', async () => {
    const t = start();
    await win(t, 4);
    const newer: ClusterState = {
      ...initialClusterState(8),
      highestTerm: 6,
      leader: { nodeId: 'n2', term: 6 },
    };
    await t.fakes.resolve('readTopology', { state: newer, revision: 9, at: t.clock.now() });
    expect(t.role()).toBe('follower');
    // The root made leadership hand the lease back; leadership reported its loss, which the root kept quiet.
    expect(t.fakes.inputsOf('releaseLease')).toEqual([{ term: 4, revision: 4 }]);
    await t.fakes.resolve('releaseLease', { at: t.clock.now() });
    expect(t.fakes.inputsOf('commitTopology')).toEqual([]);
    expect(t.emitted).toEqual([]);
  });

  it('a term lost before its fencing commit resolved ends silently, and the late commit is ignored', async () => {
    const t = start();
    await win(t, 4);
    await t.fakes.resolve('readTopology', { state: null, revision: 0, at: t.clock.now() });
    expect(t.role()).toEqual({ leader: { writing: 'committing' } });
    const commit = t.fakes.pending('commitTopology');
    t.actor.send({ type: 'LEASE_CHANGED', at: t.clock.now(), lease: { holder: 'n2', term: 5, revision: 5 } });
    await settle();
    expect(t.role()).toBe('follower');
    commit.resolve({ revision: 1, at: t.clock.now() });
    await settle();
    expect(commit.aborted).toBe(true);
    expect(t.emitted).toEqual([]);
  });

  it('an election whose fencing commit keeps failing is dropped: the node resigns and emits nothing', async () => {
    const t = start();
    await win(t, 4);
    await t.fakes.resolve('readTopology', { state: null, revision: 0, at: t.clock.now() });
    for (let i = 0; i < 3; i++) {
      await t.fakes.reject('commitTopology');
      if (i < 2) await t.fakes.resolve('readTopology', { state: null, revision: 0, at: t.clock.now() });
    }
    expect(t.fakes.inputsOf('releaseLease')).toEqual([{ term: 4, revision: 4 }]);
    await t.fakes.resolve('releaseLease', { at: t.clock.now() });
    expect(t.role()).toBe('follower');
    expect(t.emitted).toEqual([]);
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
      command: { type: 'leaveCluster', nodeId: 'n2', incarnation: 1 },
    });
    await t.settleAll();
    const answer = t.emitted.find((e) => e.type === 'CommandAnswered');
    expect(answer).toMatchObject({ requestId: 'bye', ok: true });
    expect((answer as unknown as { events: DomainEvent[] }).events.map((e) => e.type)).toEqual(['NodeLeft']);
    expect(owners(t.committed.at(-1)!).every((o) => o === 'n1')).toBe(true);
  });

  it('a late leave of an old process is refused as stale and leaves the restarted one Active', async () => {
    const t = start();
    await t.elect(1, null);
    await t.settleAll();
    t.heartbeat('n2', 1);
    await t.settleAll();
    // n2 restarted (incarnation 2) before its old process's leave reached the leader.
    t.heartbeat('n2', 2);
    await t.settleAll();
    expect(t.committed.at(-1)!.nodes.n2).toMatchObject({ status: 'Active', incarnation: 2 });
    t.actor.send({
      type: 'COMMAND',
      at: t.clock.now(),
      requestId: 'late-bye',
      command: { type: 'leaveCluster', nodeId: 'n2', incarnation: 1 },
    });
    await t.settleAll();
    const answer = t.emitted.find((e) => e.type === 'CommandAnswered');
    expect(answer).toMatchObject({ requestId: 'late-bye', ok: false, code: 'STALE_INCARNATION' });
    expect(t.committed.at(-1)!.nodes.n2).toMatchObject({ status: 'Active', incarnation: 2 });
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

describe('Fencing by committed terms: a lease observation alone fences nothing', () => {
  const led = (term: number, version: number): ClusterState => ({
    ...initialClusterState(8),
    leader: { nodeId: 'n2', term },
    highestTerm: term,
    shardMap: { version, term, owners: new Array(8).fill(null) },
  });

  it('a follower that saw a forged lease of a huge term still adopts the real leader’s later writes', async () => {
    const t = start();
    t.actor.send({ type: 'TOPOLOGY', at: t.clock.now(), state: led(5, 1), revision: 11 });
    t.actor.send({
      type: 'LEASE_CHANGED',
      at: t.clock.now(),
      lease: { holder: 'evil', term: 999_999_999, revision: 12 },
    });
    await settle();
    expect(t.actor.getSnapshot().context.highestTerm).toBe(5);
    // The forged lease lapses; n2 wins term 14 and commits.
    t.actor.send({ type: 'TOPOLOGY', at: t.clock.now(), state: led(14, 2), revision: 15 });
    await settle();
    expect(t.actor.getSnapshot().context.cluster.leader).toEqual({ nodeId: 'n2', term: 14 });
    expect(t.actor.getSnapshot().context.highestTerm).toBe(14);
  });

  it('a write stamped with a term older than a committed one is still ignored', async () => {
    const t = start();
    t.actor.send({ type: 'TOPOLOGY', at: t.clock.now(), state: led(14, 2), revision: 15 });
    t.actor.send({ type: 'TOPOLOGY', at: t.clock.now(), state: led(5, 3), revision: 16 });
    await settle();
    expect(t.actor.getSnapshot().context.cluster.leader).toEqual({ nodeId: 'n2', term: 14 });
    expect(t.actor.getSnapshot().context.revision).toBe(15);
  });
});
