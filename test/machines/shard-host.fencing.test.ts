/**
 * Shard host self-fencing: a node whose membership is not confirmed in time stops serving every shard
 * before the leader may reassign them, and serves again only on a fresh confirmation. Time comes from
 * a simulated clock; the lease read and the application's release are fakes settled by each test. The
 * application is modelled by the hooks: the shards it was told to start, minus those it released.
 */
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import type { ReleaseRequest } from '../../machines/hosting.js';
import {
  type ReadLeaseOutput,
  type ReleaseAnswer,
  shardHostMachine,
} from '../../machines/shard-host.machine.js';
import { type ClusterState, initialClusterState } from '../../src/domain/state.js';
import type { NodeId, ShardId } from '../../src/domain/values.js';
import { PausableClock, PauseGate } from '../../src/sim/pause.js';
import { FakeActors, SimulatedClock, settle } from './harness.js';

const FENCE_AFTER_MS = 1000;

const member = (id: NodeId) => ({ id, status: 'Active' as const, incarnation: 1, weight: 1, lastSeen: 0 });
/** A map committed by n2 in term 3, whose plan moves n1's shards 0–3 to n2. */
function map(version: number, owners: readonly (NodeId | null)[]): ClusterState {
  return {
    ...initialClusterState(owners.length),
    nodes: { n1: member('n1'), n2: member('n2') },
    leader: { nodeId: 'n2', term: 3 },
    highestTerm: 3,
    shardMap: { version, term: 3, owners },
    rebalance: {
      rebalanceId: 'r1',
      reason: 'node-joined',
      epoch: 1,
      term: 3,
      startedAt: 0,
      remaining: [0, 1, 2, 3].map((shardId) => ({
        shardId,
        from: 'n1',
        to: 'n2',
        reason: 'balance' as const,
      })),
      moved: 0,
    },
  };
}
/** n1 owns shards 0–3, n2 owns 4 and 5. */
const OWNERS = ['n1', 'n1', 'n1', 'n1', 'n2', 'n2'];

function start() {
  const clock = new SimulatedClock(0);
  // The actor's timers go through a pause gate, so that a test can freeze the process (a long GC).
  const gate = new PauseGate(clock);
  const fakes = new FakeActors();
  const answers: ReleaseAnswer[] = [];
  const acquired: ShardId[][] = [];
  const lost: ShardId[][] = [];
  /** What the application serves: started by `acquired`, stopped by a release that succeeded. */
  const app = new Set<ShardId>();
  const machine = shardHostMachine.provide({
    actors: {
      readLease: fakes.logic<ReadLeaseOutput, void>('readLease'),
      releaseShards: fakes.logic<{ at: number }, { shards: readonly ShardId[] }>('releaseShards'),
    },
    actions: {
      answer: (_, a) => answers.push(a),
      // As the runtime does: an empty list starts nothing.
      acquired: (_, p) => {
        if (p.shards.length === 0) return;
        acquired.push([...p.shards]);
        for (const s of p.shards) app.add(s);
      },
      lost: (_, p) => {
        if (p.shards.length === 0) return;
        lost.push([...p.shards]);
        for (const s of p.shards) app.delete(s);
      },
    },
  });
  const actor = createActor(machine, {
    clock: new PausableClock(clock, gate),
    input: { nodeId: 'n1', now: 0, fenceAfterMs: FENCE_AFTER_MS },
  });
  actor.start();
  const t = {
    clock,
    gate,
    fakes,
    answers,
    acquired,
    lost,
    app,
    context: () => actor.getSnapshot().context,
    membership: () => (actor.getSnapshot().value as { membership: string }).membership,
    requests: () => (actor.getSnapshot().value as { requests: string }).requests,
    async topology(cluster: ClusterState) {
      actor.send({ type: 'TOPOLOGY', at: clock.now(), cluster });
      await settle();
    },
    /** A read that started at `at` showed this process a member; its answer arrives now. */
    async confirmed(at: number = clock.now()) {
      actor.send({ type: 'CONFIRMED', at, receivedAt: clock.now() });
      await settle();
    },
    /** The application lets go of the shards of the release in progress. */
    async released() {
      const call = fakes.pending('releaseShards');
      for (const s of (call.input as { shards: readonly ShardId[] }).shards) app.delete(s);
      await fakes.resolve('releaseShards', { at: clock.now() });
    },
    async request(shards: readonly ShardId[]) {
      const moves = shards.map((shardId) => ({ shardId, to: 'n2', incarnation: 1 }));
      const req: ReleaseRequest = { requestId: 'q', leader: 'n2', term: 3, moves, version: 5 };
      actor.send({ type: 'RELEASE_REQUESTED', at: clock.now(), ...req });
      await settle();
    },
    async lease() {
      await fakes.resolve('readLease', { lease: { holder: 'n2', term: 3, revision: 13 }, at: clock.now() });
    },
  };
  return t;
}

/** Owns and serves shards 0–3 from time 0; never confirmed, it fences at FENCE_AFTER_MS. */
async function startServing() {
  const t = start();
  await t.topology(map(5, OWNERS));
  expect(t.app).toEqual(new Set([0, 1, 2, 3]));
  return t;
}

/** Served, then fenced at FENCE_AFTER_MS: the application let go of every shard. */
async function startFenced() {
  const t = await startServing();
  await t.clock.advanceTo(FENCE_AFTER_MS);
  await t.released();
  expect(t.membership()).toBe('fenced');
  return t;
}

describe('A node that hears no confirmation fences itself', () => {
  it('at its confirmed deadline and not before, releasing exactly the shards it serves', async () => {
    const t = await startServing();
    // Shard 1 goes to a hand-off first: it is no longer served, so fencing does not release it again.
    await t.request([1]);
    await t.lease();
    await t.released();
    expect(t.app).toEqual(new Set([0, 2, 3]));
    expect(t.context().confirmedUntil).toBe(FENCE_AFTER_MS);

    await t.clock.advanceTo(FENCE_AFTER_MS - 1);
    expect(t.membership()).toBe('confirmed');
    expect(t.context().fenced).toBe(false);
    expect(t.fakes.inputsOf('releaseShards')).toEqual([{ shards: [1] }]);

    await t.clock.advanceTo(FENCE_AFTER_MS);
    expect(t.membership()).toBe('fencing');
    expect(t.context().fenced).toBe(true);
    expect(t.fakes.inputsOf('releaseShards')).toEqual([{ shards: [1] }, { shards: [0, 2, 3] }]);
    await t.released();
    expect(t.membership()).toBe('fenced');
    expect(t.app).toEqual(new Set());
    // Still the owner in the map: fencing gives up serving, not ownership.
    expect(t.context().owned).toEqual([0, 1, 2, 3]);
  });

  it('serves nothing while fenced: newly owned shards and abandoned hand-offs are not started', async () => {
    const t = await startFenced();
    await t.clock.advance(5 * FENCE_AFTER_MS);
    // Shard 4 becomes n1's.
    await t.topology(map(6, ['n1', 'n1', 'n1', 'n1', 'n1', 'n2']));
    expect(t.context().owned).toEqual([0, 1, 2, 3, 4]);
    expect(t.acquired).toEqual([[0, 1, 2, 3]]);
    expect(t.app).toEqual(new Set());
    expect(t.membership()).toBe('fenced');
    // Nothing is pending that would start serving by itself.
    expect(t.clock.pending).toBe(0);
  });

  it('a failing onRelease while fencing still fences', async () => {
    const t = await startServing();
    await t.clock.advanceTo(FENCE_AFTER_MS);
    expect(t.fakes.inputsOf('releaseShards')).toEqual([{ shards: [0, 1, 2, 3] }]);
    await t.fakes.reject('releaseShards', new Error('onRelease threw'));
    expect(t.membership()).toBe('fenced');
    expect(t.context().fenced).toBe(true);
    await t.topology(map(6, ['n1', 'n1', 'n1', 'n1', 'n1', 'n2']));
    expect(t.acquired).toEqual([[0, 1, 2, 3]]);
  });

  it('a confirmation that arrives while fencing does not stop the release; it ends fenced', async () => {
    const t = await startServing();
    await t.clock.advanceTo(FENCE_AFTER_MS);
    await t.confirmed();
    expect(t.membership()).toBe('fencing');
    await t.released();
    expect(t.membership()).toBe('fenced');
    expect(t.app).toEqual(new Set());
  });
});

describe('A fenced node serves again on a fresh confirmation', () => {
  it('starts every shard it owns, those it came to own while fenced included, and is fenced again if not confirmed', async () => {
    const t = await startFenced();
    await t.topology(map(6, ['n1', 'n1', 'n1', 'n1', 'n1', 'n2']));
    await t.clock.advance(300);
    const at = t.clock.now();
    await t.confirmed(at);
    expect(t.membership()).toBe('confirmed');
    expect(t.context().fenced).toBe(false);
    expect(t.acquired).toEqual([
      [0, 1, 2, 3],
      [0, 1, 2, 3, 4],
    ]);
    expect(t.app).toEqual(new Set([0, 1, 2, 3, 4]));
    expect(t.context().confirmedUntil).toBe(at + FENCE_AFTER_MS);

    await t.clock.advanceTo(at + FENCE_AFTER_MS - 1);
    expect(t.membership()).toBe('confirmed');
    await t.clock.advanceTo(at + FENCE_AFTER_MS);
    expect(t.membership()).toBe('fencing');
    expect(t.fakes.inputsOf('releaseShards').at(-1)).toEqual({ shards: [0, 1, 2, 3, 4] });
  });

  it('a stale confirmation (its read started a whole window before now) does not unfence', async () => {
    const t = await startFenced();
    // Fenced at FENCE_AFTER_MS: a read that started at 0 confirms only up to then.
    await t.confirmed(0);
    expect(t.membership()).toBe('fenced');
    expect(t.context().fenced).toBe(true);
    expect(t.acquired).toEqual([[0, 1, 2, 3]]);
    // One that started a moment later is fresh.
    await t.confirmed(1);
    expect(t.membership()).toBe('confirmed');
    expect(t.acquired).toEqual([
      [0, 1, 2, 3],
      [0, 1, 2, 3],
    ]);
  });

  it('a confirmation is judged when it arrives: a read that started long before does not unfence', async () => {
    const t = await startFenced();
    await t.clock.advanceTo(FENCE_AFTER_MS + FENCE_AFTER_MS / 2);
    // Valid until 1.4 windows, but answered at 1.5: its window ended before it arrived.
    await t.confirmed((FENCE_AFTER_MS * 4) / 10);
    expect(t.membership()).toBe('fenced');
    expect(t.acquired).toEqual([[0, 1, 2, 3]]);
  });

  it('tells the application of every shard a hand-off takes, fenced or not', async () => {
    const t = await startFenced();
    await t.request([0]);
    await t.lease();
    expect(t.fakes.pending('releaseShards').input).toEqual({ shards: [0] });
  });

  it('shards released to a hand-off while fenced are not started again', async () => {
    const t = await startFenced();
    await t.request([1, 2]);
    await t.lease();
    await t.released();
    expect(t.answers).toEqual([{ requestId: 'q', released: [1, 2], refused: null }]);
    expect(t.context().released).toEqual({ 1: 5, 2: 5 });
    await t.confirmed();
    expect(t.acquired.at(-1)).toEqual([0, 3]);
    expect(t.app).toEqual(new Set([0, 3]));
  });
});

describe('Confirmations in time keep a node serving', () => {
  it('across many fence windows, each deadline moved by the latest confirmation', async () => {
    const t = await startServing();
    // A confirmation every 400 ms (reads that take 50 ms) over ten windows.
    for (let now = 400; now <= 10 * FENCE_AFTER_MS; now += 400) {
      await t.clock.advanceTo(now);
      await t.confirmed(now - 50);
      expect(t.membership(), `at ${now}`).toBe('confirmed');
    }
    expect(t.context().confirmedUntil).toBe(10 * FENCE_AFTER_MS - 50 + FENCE_AFTER_MS);
    expect(t.context().fenced).toBe(false);
    expect(t.fakes.inputsOf('releaseShards')).toEqual([]);
    expect(t.app).toEqual(new Set([0, 1, 2, 3]));
    // Silence from here: it fences exactly at the last confirmation's deadline.
    const deadline = t.context().confirmedUntil;
    await t.clock.advanceTo(deadline - 1);
    expect(t.membership()).toBe('confirmed');
    await t.clock.advanceTo(deadline);
    expect(t.membership()).toBe('fencing');
  });

  it('a confirmation that does not move the deadline (an older read) changes nothing', async () => {
    const t = await startServing();
    await t.clock.advanceTo(700);
    await t.confirmed(600);
    // A slower read that started earlier comes back after it.
    await t.confirmed(550);
    expect(t.context().confirmedUntil).toBe(600 + FENCE_AFTER_MS);
    await t.clock.advanceTo(600 + FENCE_AFTER_MS - 1);
    expect(t.membership()).toBe('confirmed');
    await t.clock.advanceTo(600 + FENCE_AFTER_MS);
    expect(t.membership()).toBe('fencing');
  });
});

describe('A process paused past its deadline', () => {
  it('fences the moment it resumes, at the deadline of its latest confirmation', async () => {
    const t = await startServing();
    await t.clock.advanceTo(500);
    await t.confirmed(500);
    t.gate.pause();
    await t.clock.advanceTo(5 * FENCE_AFTER_MS);
    expect(t.membership()).toBe('confirmed');
    // Its timers fire as it resumes: the one armed for 500 + FENCE_AFTER_MS is long past.
    t.gate.resume();
    await t.clock.advance(0);
    expect(t.membership()).toBe('fencing');
    expect(t.fakes.inputsOf('releaseShards')).toEqual([{ shards: [0, 1, 2, 3] }]);
  });
});

describe('Shards the map takes away with no hand-off', () => {
  it('are released to the application at once: the node was judged failed, or its leave was recorded', async () => {
    const t = await startServing();
    // Shard 1 left by a hand-off first: the application let go of it then, and is not told again.
    await t.request([1]);
    await t.lease();
    await t.released();
    // n1 failed: its shards are orphaned (0, 1) or already reassigned (2); it keeps 3.
    await t.topology(map(6, [null, 'n2', 'n2', 'n1', 'n2', 'n2']));
    expect(t.lost).toEqual([[0, 2]]);
    expect(t.app).toEqual(new Set([3]));
    expect(t.context().owned).toEqual([3]);
    // Still serving what it has, and no release is waited for.
    expect(t.membership()).toBe('confirmed');
    expect(t.requests()).toBe('serving');
  });

  it('a fenced node serves nothing, so it has nothing to let go of', async () => {
    const t = await startFenced();
    await t.topology(map(6, [null, null, 'n2', 'n2', 'n2', 'n2']));
    expect(t.lost).toEqual([]);
    expect(t.context().owned).toEqual([]);
  });
});

describe('Release requests while fenced', () => {
  it('are still verified and answered; the released shards are reported', async () => {
    const t = await startFenced();
    await t.request([0, 4]);
    expect(t.requests()).toBe('verifying');
    await t.lease();
    expect(t.requests()).toBe('releasing');
    await t.released();
    expect(t.requests()).toBe('serving');
    expect(t.membership()).toBe('fenced');
    expect(t.answers).toEqual([{ requestId: 'q', released: [0], refused: null }]);
    expect(t.context().released).toEqual({ 0: 5 });
  });
});

describe('A node that unfences while a hand-off releases shards', () => {
  it('does not serve those shards again, and serves them again only if the release fails', async () => {
    const t = await startFenced();
    await t.request([0, 1]);
    await t.lease();
    expect(t.requests()).toBe('releasing');
    // A fresh confirmation arrives while the application is letting go of shards 0 and 1.
    await t.confirmed();
    expect(t.membership()).toBe('confirmed');
    expect(t.app).toEqual(new Set([2, 3]));
    await t.released();
    expect(t.app).toEqual(new Set([2, 3]));
    expect(t.context().releasing).toEqual([]);
  });

  it('serves the withheld shards again when the application fails to release them', async () => {
    const t = await startFenced();
    await t.request([0, 1]);
    await t.lease();
    await t.confirmed();
    expect(t.app).toEqual(new Set([2, 3]));
    await t.fakes.reject('releaseShards', new Error('onRelease threw'));
    expect(t.app).toEqual(new Set([0, 1, 2, 3]));
  });
});
