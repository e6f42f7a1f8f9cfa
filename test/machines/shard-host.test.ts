/**
 * Shard host statechart: the old owner's side of a hand-off. The lease read and the application's
 * release are fakes whose outcomes each test chooses; time comes from a simulated clock. Answers and
 * acquired shards are recorded from the actions the runtime binds.
 */
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { type ReleaseRequest, serving } from '../../machines/hosting.js';
import {
  type ReadLeaseOutput,
  type ReadTopologyOutput,
  type ReleaseAnswer,
  shardHostMachine,
} from '../../machines/shard-host.machine.js';
import type { PlannedMove } from '../../src/domain/events.js';
import { type ClusterState, initialClusterState } from '../../src/domain/state.js';
import type { NodeId, ShardId } from '../../src/domain/values.js';
import type { HandoffRefusal, LeaseRecord } from '../../src/protocol/messages.js';
import { FakeActors, SimulatedClock, settle } from './harness.js';

const member = (id: NodeId) => ({ id, status: 'Active' as const, incarnation: 1, weight: 1, lastSeen: 0 });
/**
 * A map committed by `leader` (n2 of term 3 unless told): `owners[shard]`, at `version`, with the moves
 * of an active plan still to do. n1, n2 and n3 are members, each of incarnation 1.
 */
function map(
  version: number,
  owners: readonly (NodeId | null)[],
  remaining: readonly PlannedMove[] = [],
  leader: { nodeId: NodeId; term: number } = { nodeId: 'n2', term: 3 },
): ClusterState {
  return {
    ...initialClusterState(owners.length),
    nodes: { n1: member('n1'), n2: member('n2'), n3: member('n3') },
    leader,
    highestTerm: leader.term,
    shardMap: { version, term: leader.term, owners },
    rebalance:
      remaining.length === 0
        ? null
        : { rebalanceId: 'r1', reason: 'node-joined', epoch: 1, term: 3, startedAt: 0, remaining, moved: 0 },
  };
}
const move = (shardId: ShardId, to: NodeId = 'n2'): PlannedMove => ({
  shardId,
  from: 'n1',
  to,
  reason: 'balance',
});
/** n1 owns shards 0–3, n2 owns 4 and 5. */
const OWNERS = ['n1', 'n1', 'n1', 'n1', 'n2', 'n2'];
/** The plan of version 5: n1's shards 0–3 move to n2. */
const PLAN = [0, 1, 2, 3].map((s) => move(s));
/** Long enough that no test here comes near the self-fencing deadline (fencing has its own tests). */
const FENCE_AFTER_MS = 1_000_000_000;
/** The state with its membership confirmed, as it stays throughout these tests. */
const at = (requests: 'serving' | 'verifying' | 'rereading' | 'releasing') => ({
  requests,
  membership: 'confirmed',
});
const refusedFor = (code: HandoffRefusal['code'], message: string): HandoffRefusal => ({ code, message });
const holder = (term: number, node: NodeId = 'n2'): LeaseRecord => ({
  holder: node,
  term,
  revision: term + 10,
});

function start() {
  const clock = new SimulatedClock(0);
  const fakes = new FakeActors();
  const answers: ReleaseAnswer[] = [];
  const acquired: ShardId[][] = [];
  const machine = shardHostMachine.provide({
    actors: {
      readLease: fakes.logic<ReadLeaseOutput, void>('readLease'),
      readTopology: fakes.logic<ReadTopologyOutput, void>('readTopology'),
      releaseShards: fakes.logic<{ at: number }, { shards: readonly ShardId[] }>('releaseShards'),
    },
    actions: {
      answer: (_, a) => answers.push(a),
      // As the runtime does: an empty list starts nothing.
      acquired: (_, p) => {
        if (p.shards.length > 0) acquired.push([...p.shards]);
      },
    },
  });
  const actor = createActor(machine, {
    clock,
    input: { nodeId: 'n1', now: 0, fenceAfterMs: FENCE_AFTER_MS },
  });
  actor.start();
  let seq = 0;
  const t = {
    clock,
    fakes,
    actor,
    answers,
    acquired,
    value: () => actor.getSnapshot().value,
    context: () => actor.getSnapshot().context,
    serving: () => serving(actor.getSnapshot().context),
    async topology(cluster: ClusterState) {
      actor.send({ type: 'TOPOLOGY', at: clock.now(), cluster });
      await settle();
    },
    /**
     * A release request of `shards` to n2 (incarnation 1) by n2 at term 3 for the plan of map version 5,
     * unless told otherwise (`to` names another target for every shard).
     */
    async request(shards: readonly ShardId[], over: Partial<ReleaseRequest> & { to?: NodeId } = {}) {
      const { to = 'n2', ...rest } = over;
      const req: ReleaseRequest = {
        requestId: `q${++seq}`,
        leader: 'n2',
        term: 3,
        moves: shards.map((shardId) => ({ shardId, to, incarnation: 1 })),
        version: 5,
        ...rest,
      };
      actor.send({ type: 'RELEASE_REQUESTED', at: clock.now(), ...req });
      await settle();
      return req.requestId;
    },
    async lease(lease: LeaseRecord | null) {
      await fakes.resolve('readLease', { lease, at: clock.now() });
    },
    /** The record re-read from the store. */
    async record(cluster: ClusterState | null) {
      await fakes.resolve('readTopology', { cluster, at: clock.now() });
    },
    async released() {
      await fakes.resolve('releaseShards', { at: clock.now() });
    },
    /**
     * Requests `shards` and lets the lease read and the release succeed. When the map held lacks the
     * plan, the record re-read holds it: the plan of the request's version moving them to n2.
     */
    async release(shards: readonly ShardId[], over: Partial<ReleaseRequest> = {}) {
      const id = await t.request(shards, over);
      const leader = { nodeId: over.leader ?? 'n2', term: over.term ?? 3 };
      await t.lease(holder(leader.term, leader.nodeId));
      if (t.fakes.has('readTopology'))
        await t.record(
          map(
            over.version ?? 5,
            OWNERS,
            shards.map((s) => move(s)),
            leader,
          ),
        );
      await t.released();
      return id;
    },
  };
  return t;
}

/** n1 holds the map of version 5, whose plan moves its shards 0–3 to n2. */
async function startOwning() {
  const t = start();
  await t.topology(map(5, OWNERS, PLAN));
  return t;
}

describe('Fencing by the store: a request is honoured only for the holder of the lease at its term', () => {
  it('reads the lease, then has the application release the shards, and answers with them', async () => {
    const t = await startOwning();
    const id = await t.request([0, 1]);
    expect(t.value()).toEqual(at('verifying'));
    expect(t.fakes.inputsOf('readLease')).toHaveLength(1);
    expect(t.fakes.has('releaseShards')).toBe(false);
    await t.lease(holder(3));
    expect(t.value()).toEqual(at('releasing'));
    expect(t.fakes.inputsOf('releaseShards')).toEqual([{ shards: [0, 1] }]);
    // Not reported released before the application has let go of them.
    expect(t.answers).toEqual([]);
    await t.released();
    expect(t.value()).toEqual(at('serving'));
    expect(t.answers).toEqual([{ requestId: id, released: [0, 1], refused: null }]);
    expect(t.context().released).toEqual({ 0: 5, 1: 5 });
    expect(t.context().owned).toEqual([0, 1, 2, 3]);
    expect(t.serving()).toEqual([2, 3]);
    expect(t.context().requests).toEqual([]);
  });

  it.each([
    [
      'another node holds the lease at that term',
      holder(3, 'n3'),
      'n2 does not hold the lease of term 3 (n3 holds term 3)',
    ],
    [
      'the requester held an older term (it was deposed since)',
      holder(2),
      'n2 does not hold the lease of term 3 (n2 holds term 2)',
    ],
    [
      'the requester holds a newer term than the request’s',
      holder(4),
      'n2 does not hold the lease of term 3 (n2 holds term 4)',
    ],
    ['there is no lease', null, 'n2 does not hold the lease of term 3 (no lease)'],
  ] as const)('refuses when %s, keeping its shards', async (_, lease, why) => {
    const t = await startOwning();
    const id = await t.request([0, 1]);
    await t.lease(lease);
    expect(t.value()).toEqual(at('serving'));
    expect(t.answers).toEqual([
      { requestId: id, released: [], refused: refusedFor('not-lease-holder', why) },
    ]);
    expect(t.fakes.inputsOf('releaseShards')).toEqual([]);
    expect(t.context().released).toEqual({});
    expect(t.serving()).toEqual([0, 1, 2, 3]);
  });

  it('refuses when the lease cannot be read', async () => {
    const t = await startOwning();
    const id = await t.request([0]);
    await t.fakes.reject('readLease', new Error('no quorum'));
    expect(t.value()).toEqual(at('serving'));
    expect(t.answers).toEqual([
      { requestId: id, released: [], refused: refusedFor('lease-unreadable', 'the lease could not be read') },
    ]);
    expect(t.fakes.inputsOf('releaseShards')).toEqual([]);
    expect(t.serving()).toEqual([0, 1, 2, 3]);
  });
});

describe('Fencing by the committed plan: a request is honoured only for a plan in the topology record', () => {
  it('honours a plan in the map it holds without reading the record', async () => {
    const t = await startOwning();
    const id = await t.request([0, 1]);
    await t.lease(holder(3));
    expect(t.value()).toEqual(at('releasing'));
    await t.released();
    expect(t.answers).toEqual([{ requestId: id, released: [0, 1], refused: null }]);
    expect(t.fakes.inputsOf('readTopology')).toEqual([]);
  });

  it('honours a plan the map it holds lags behind, found in the record re-read', async () => {
    const t = start();
    await t.topology(map(4, OWNERS));
    const id = await t.request([0, 1]);
    await t.lease(holder(3));
    expect(t.value()).toEqual(at('rereading'));
    await t.record(map(5, OWNERS, PLAN));
    expect(t.value()).toEqual(at('releasing'));
    await t.released();
    expect(t.answers).toEqual([{ requestId: id, released: [0, 1], refused: null }]);
    expect(t.context().released).toEqual({ 0: 5, 1: 5 });
  });

  it.each([
    [
      'an invented map version (the real leader and term)',
      { version: 1_005 },
      refusedFor('not-planned', 'map version 1005 is not committed (the record is at 5)'),
    ],
    [
      'a target the plan does not move the shards to',
      { to: 'n3' },
      refusedFor('not-planned', 'no committed plan moves shard 0 from n1 to n3'),
    ],
    [
      'a target incarnation that is not on record (a restarted target)',
      { moves: [{ shardId: 0, to: 'n2', incarnation: 2 }] },
      refusedFor('wrong-incarnation', 'n2 of incarnation 2 is not on record (incarnation 1)'),
    ],
    [
      'a target that is not a member',
      { to: 'evil' },
      refusedFor('wrong-incarnation', 'evil of incarnation 1 is not on record (not a member)'),
    ],
    [
      'a lease holder the record does not name as its leader (a forged lease)',
      { leader: 'n3', term: 4 },
      refusedFor('not-planned', 'n3 of term 4 is not the committed leader (n2 of term 3)'),
    ],
  ] as [string, Partial<ReleaseRequest> & { to?: NodeId }, HandoffRefusal][])(
    'refuses %s after one re-read of the record, releasing nothing',
    async (_, over, refused) => {
      const t = await startOwning();
      const id = await t.request([0, 1], over);
      await t.lease(holder(over.term ?? 3, over.leader ?? 'n2'));
      expect(t.value()).toEqual(at('rereading'));
      await t.record(map(5, OWNERS, PLAN));
      expect(t.value()).toEqual(at('serving'));
      expect(t.answers).toEqual([{ requestId: id, released: [], refused }]);
      expect(t.fakes.inputsOf('readTopology')).toHaveLength(1);
      expect(t.fakes.inputsOf('releaseShards')).toEqual([]);
      expect(t.context().released).toEqual({});
      expect(t.serving()).toEqual([0, 1, 2, 3]);
    },
  );

  it('refuses a request for shards no plan moves, whatever the lease says', async () => {
    const t = start();
    await t.topology(map(5, OWNERS));
    const id = await t.request([0, 1, 2, 3]);
    await t.lease(holder(3));
    await t.record(map(5, OWNERS));
    expect(t.answers).toEqual([
      {
        requestId: id,
        released: [],
        refused: refusedFor('not-planned', 'no committed plan moves shard 0 from n1 to n2'),
      },
    ]);
    expect(t.serving()).toEqual([0, 1, 2, 3]);
  });

  it('refuses when there is no record to find the plan in, or it cannot be read', async () => {
    const none = start();
    const a = await none.request([0]);
    await none.lease(holder(3));
    await none.record(null);
    expect(none.answers).toEqual([
      { requestId: a, released: [], refused: refusedFor('not-planned', 'no committed topology is known') },
    ]);

    const unreadable = await startOwning();
    const b = await unreadable.request([0], { version: 6 });
    await unreadable.lease(holder(3));
    await unreadable.fakes.reject('readTopology', new Error('no quorum'));
    expect(unreadable.answers).toEqual([
      {
        requestId: b,
        released: [],
        refused: refusedFor('topology-unreadable', 'the topology could not be read'),
      },
    ]);
    expect(unreadable.serving()).toEqual([0, 1, 2, 3]);
  });

  it('passes over shards it no longer owns: nothing of them to release', async () => {
    const t = await startOwning();
    // Shard 4 is n2's already; only 0 is asked of n1.
    const id = await t.release([0, 4]);
    expect(t.answers).toEqual([{ requestId: id, released: [0], refused: null }]);
  });
});

describe('What is released', () => {
  it('releases only shards this node owns; the others of the request are not reported', async () => {
    const t = await startOwning();
    const id = await t.release([1, 4, 5]);
    expect(t.fakes.inputsOf('releaseShards')).toEqual([{ shards: [1] }]);
    expect(t.answers).toEqual([{ requestId: id, released: [1], refused: null }]);
    expect(t.context().released).toEqual({ 1: 5 });
  });

  it('reports shards released before as released, and releases only the rest', async () => {
    const t = await startOwning();
    await t.release([0, 1]);
    // The leader asks again (its earlier answer was lost) and for one more shard.
    const id = await t.release([0, 1, 2]);
    expect(t.fakes.inputsOf('releaseShards')).toEqual([{ shards: [0, 1] }, { shards: [2] }]);
    expect(t.answers.at(-1)).toEqual({ requestId: id, released: [0, 1, 2], refused: null });
    expect(t.serving()).toEqual([3]);
  });

  it('a later plan’s version wins for a shard released again', async () => {
    const t = await startOwning();
    await t.release([0], { version: 5 });
    await t.release([0], { version: 7 });
    expect(t.context().released).toEqual({ 0: 7 });
  });

  it('when the application fails to release, the shards stay served; only shards released before are reported', async () => {
    const t = await startOwning();
    await t.release([0]);
    const id = await t.request([0, 1, 2]);
    await t.lease(holder(3));
    expect(t.fakes.inputsOf('releaseShards').at(-1)).toEqual({ shards: [1, 2] });
    await t.fakes.reject('releaseShards', new Error('onRelease threw'));
    expect(t.value()).toEqual(at('serving'));
    expect(t.answers.at(-1)).toEqual({ requestId: id, released: [0], refused: null });
    expect(t.context().released).toEqual({ 0: 5 });
    expect(t.serving()).toEqual([1, 2, 3]);
  });
});

describe('Requests are served one at a time, in arrival order', () => {
  it('queues requests that arrive while one is verified or released, and answers them in order', async () => {
    const t = await startOwning();
    const a = await t.request([0]);
    const b = await t.request([1], { leader: 'n3', term: 4 });
    expect(t.fakes.inputsOf('readLease')).toHaveLength(1);
    await t.lease(holder(3));
    expect(t.value()).toEqual(at('releasing'));
    const c = await t.request([2]);
    // Still one read: the second request waits for the first to be answered.
    expect(t.fakes.inputsOf('readLease')).toHaveLength(1);
    expect(t.context().requests.map((r) => r.requestId)).toEqual([a, b, c]);
    await t.released();
    expect(t.answers.map((x) => x.requestId)).toEqual([a]);
    expect(t.value()).toEqual(at('verifying'));
    expect(t.fakes.inputsOf('readLease')).toHaveLength(2);
    // The second request is n3's at term 4, and n3 holds term 4; the map held is n2's, the record n3's.
    await t.lease(holder(4, 'n3'));
    expect(t.value()).toEqual(at('rereading'));
    await t.record(map(5, OWNERS, PLAN, { nodeId: 'n3', term: 4 }));
    await t.released();
    await t.lease(holder(4, 'n3'));
    expect(t.answers).toEqual([
      { requestId: a, released: [0], refused: null },
      { requestId: b, released: [1], refused: null },
      // The third is n2's at term 3, which n3 superseded in between.
      {
        requestId: c,
        released: [],
        refused: refusedFor('not-lease-holder', 'n2 does not hold the lease of term 3 (n3 holds term 4)'),
      },
    ]);
    expect(t.fakes.inputsOf('releaseShards')).toEqual([{ shards: [0] }, { shards: [1] }]);
    expect(t.value()).toEqual(at('serving'));
    expect(t.context().requests).toEqual([]);
  });
});

describe('Following the committed map', () => {
  it('starts serving shards it is newly given', async () => {
    const t = start();
    await t.topology(map(1, OWNERS));
    expect(t.acquired).toEqual([[0, 1, 2, 3]]);
    await t.topology(map(2, ['n1', 'n1', 'n1', 'n1', 'n1', 'n2']));
    expect(t.acquired).toEqual([[0, 1, 2, 3], [4]]);
    expect(t.context().owned).toEqual([0, 1, 2, 3, 4]);
    // The same map again starts nothing.
    await t.topology(map(2, ['n1', 'n1', 'n1', 'n1', 'n1', 'n2']));
    expect(t.acquired).toHaveLength(2);
  });

  it('forgets a released shard once the map shows it moved, and does not serve it again', async () => {
    const t = await startOwning();
    await t.release([0, 1]);
    await t.topology(map(6, ['n2', 'n1', 'n1', 'n1', 'n2', 'n2'], [move(1)]));
    expect(t.context().owned).toEqual([1, 2, 3]);
    expect(t.context().released).toEqual({ 1: 5 });
    expect(t.acquired).toEqual([[0, 1, 2, 3]]);
    expect(t.serving()).toEqual([2, 3]);
  });

  it('serves an abandoned hand-off’s shards again only from a map at least as new as the plan', async () => {
    const t = await startOwning();
    await t.release([1], { version: 5 });
    // A map older than the plan proves nothing: it may predate the plan that moves the shard.
    await t.topology(map(4, OWNERS));
    expect(t.context().released).toEqual({ 1: 5 });
    // The plan's own map still moves it.
    await t.topology(map(5, OWNERS, [move(1)]));
    expect(t.context().released).toEqual({ 1: 5 });
    // A newer plan that still moves it (elsewhere) keeps it released.
    await t.topology(map(6, OWNERS, [move(1, 'n3')]));
    expect(t.context().released).toEqual({ 1: 5 });
    expect(t.acquired).toEqual([[0, 1, 2, 3]]);
    expect(t.serving()).toEqual([0, 2, 3]);
    // The plan was abandoned (a new leader, a re-plan without it): the shard is served again here.
    await t.topology(map(7, OWNERS));
    expect(t.context().released).toEqual({});
    expect(t.acquired).toEqual([[0, 1, 2, 3], [1]]);
    expect(t.serving()).toEqual([0, 1, 2, 3]);
  });

  it('a request for a plan the map it holds already shows abandoned is refused, nothing released (seed 82)', async () => {
    const t = start();
    // The map held is already past the plan and moves nothing; so is the record.
    await t.topology(map(6, OWNERS));
    const id = await t.request([1], { version: 5 });
    await t.lease(holder(3));
    await t.record(map(6, OWNERS));
    expect(t.answers).toEqual([
      {
        requestId: id,
        released: [],
        refused: refusedFor('not-planned', 'no committed plan moves shard 1 from n1 to n2'),
      },
    ]);
    expect(t.fakes.inputsOf('releaseShards')).toEqual([]);
    expect(t.context().released).toEqual({});
    expect(t.serving()).toEqual([0, 1, 2, 3]);
  });

  it('a release the record re-read plans anew, past the map held that shows it abandoned, stays released', async () => {
    const t = start();
    // The map held is past the plan of version 5 and moves nothing; the record has planned the move again.
    await t.topology(map(6, OWNERS));
    const id = await t.request([1], { version: 5 });
    await t.lease(holder(3));
    await t.record(map(7, OWNERS, [move(1)]));
    await t.released();
    expect(t.answers).toEqual([{ requestId: id, released: [1], refused: null }]);
    // Released for the record's map: the older map held does not bring it back.
    expect(t.context().released).toEqual({ 1: 7 });
    expect(t.acquired).toEqual([[0, 1, 2, 3]]);
    expect(t.serving()).toEqual([0, 2, 3]);
    await t.topology(map(7, OWNERS, [move(1)]));
    expect(t.serving()).toEqual([0, 2, 3]);
    // The new plan is abandoned too: served again.
    await t.topology(map(8, OWNERS));
    expect(t.acquired).toEqual([[0, 1, 2, 3], [1]]);
    expect(t.serving()).toEqual([0, 1, 2, 3]);
  });

  it('a release for a plan the map it holds still carries, or has not reached yet, stays released', async () => {
    const carried = start();
    await carried.topology(map(5, OWNERS, [move(1)]));
    await carried.release([1], { version: 5 });
    expect(carried.context().released).toEqual({ 1: 5 });
    expect(carried.acquired).toEqual([[0, 1, 2, 3]]);

    const behind = start();
    await behind.topology(map(4, OWNERS));
    await behind.release([1], { version: 5 });
    expect(behind.fakes.inputsOf('readTopology')).toHaveLength(1);
    expect(behind.context().released).toEqual({ 1: 5 });
    expect(behind.acquired).toEqual([[0, 1, 2, 3]]);
  });

  it('restores abandoned shards and starts new ones in one sorted call', async () => {
    const t = await startOwning();
    await t.release([2], { version: 5 });
    await t.topology(map(6, ['n1', 'n1', 'n1', 'n1', 'n1', 'n2']));
    expect(t.acquired.at(-1)).toEqual([2, 4]);
    expect(t.serving()).toEqual([0, 1, 2, 3, 4]);
  });
});
