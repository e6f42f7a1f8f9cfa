/**
 * Node lifecycle statechart, run as the child of a stand-in root (system id 'node') that records what
 * the judge proposes; time comes from a simulated clock.
 */

import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { nodeLifecycleMachine } from '../../machines/node-lifecycle.machine.js';
import type { NodeDraining, NodeFailed, NodeJoined, NodeLeft } from '../../src/domain/events.js';
import type { NodeStatus } from '../../src/domain/values.js';
import { SimulatedClock, settle, underRoot } from './harness.js';

const timing = { heartbeatIntervalMs: 500, failureTimeoutMs: 2000 };
const base = { id: 'e', origin: 'n0', term: 1, version: 1, at: 0, nodeId: 'n1' } as const;
const joined = (incarnation = 1): NodeJoined => ({ ...base, type: 'NodeJoined', incarnation, weight: 1 });
const draining: NodeDraining = { ...base, type: 'NodeDraining' };
const failed: NodeFailed = {
  ...base,
  type: 'NodeFailed',
  lastSeen: 0,
  orphaned: [],
} as unknown as NodeFailed;
const left: NodeLeft = { ...base, type: 'NodeLeft', reason: 'graceful' } as unknown as NodeLeft;

function start(opts: { status?: NodeStatus; judge?: boolean; incarnation?: number } = {}) {
  const clock = new SimulatedClock(0);
  const run = underRoot(
    nodeLifecycleMachine,
    {
      nodeId: 'n1',
      timing,
      now: 0,
      incarnation: opts.incarnation ?? 1,
      status: opts.status ?? 'Active',
      lastSeen: 0,
      judge: opts.judge ?? true,
    },
    { clock },
  );
  const subject = run.start();
  return {
    clock,
    subject,
    run,
    value: () => subject.getSnapshot().value,
    beat: (incarnation = 1) => subject.send({ type: 'HEARTBEAT', at: clock.now(), incarnation }),
    commit: (event: NodeJoined | NodeDraining | NodeFailed | NodeLeft, emit = true) =>
      subject.send({ type: 'COMMITTED', at: clock.now(), event, emit }),
  };
}

describe('Node failure policy: active.healthy becomes suspected at lastSeen + failureTimeout, then NodeFailed', () => {
  it('a heartbeat re-arms the failure deadline from the time it was heard', async () => {
    const t = start();
    await t.clock.advanceTo(1500);
    t.beat();
    await t.clock.advanceTo(1500 + timing.failureTimeoutMs - 1);
    expect(t.value()).toEqual({ active: 'healthy' });
    await t.clock.advance(1);
    expect(t.value()).toEqual({ active: 'suspected' });
  });

  it('when the deadline passes the judge proposes PROPOSE_FAILED to the root with the last time it heard the node', async () => {
    const t = start();
    await t.clock.advanceTo(300);
    t.beat();
    await t.clock.advanceTo(300 + timing.failureTimeoutMs);
    expect(t.value()).toEqual({ active: 'suspected' });
    expect(t.run.proposals()).toEqual([
      {
        type: 'PROPOSE_FAILED',
        nodeId: 'n1',
        incarnation: 1,
        lastSeen: 300,
        at: 300 + timing.failureTimeoutMs,
      },
    ]);
  });

  it('a draining node that falls silent is also suspected and proposed failed', async () => {
    const t = start({ status: 'Draining' });
    await t.clock.advanceTo(timing.failureTimeoutMs);
    expect(t.value()).toEqual({ draining: 'suspected' });
    expect(t.run.proposals().map((p) => p.type)).toEqual(['PROPOSE_FAILED']);
  });

  it('a follower actor suspects but proposes nothing; it proposes once it becomes judge', async () => {
    const t = start({ judge: false });
    await t.clock.advanceTo(timing.failureTimeoutMs);
    expect(t.value()).toEqual({ active: 'suspected' });
    expect(t.run.proposals()).toEqual([]);
    t.subject.send({ type: 'JUDGE', at: t.clock.now(), judge: true });
    await settle();
    expect(t.run.proposals().map((p) => p.type)).toEqual(['PROPOSE_FAILED']);
  });

  it('a heartbeat of the current incarnation clears a suspicion', async () => {
    const t = start();
    await t.clock.advanceTo(timing.failureTimeoutMs);
    t.beat();
    expect(t.value()).toEqual({ active: 'healthy' });
  });

  it('a new judge gives every node a full timeout from the moment it takes over', async () => {
    const t = start({ judge: false });
    await t.clock.advanceTo(1000);
    t.subject.send({ type: 'JUDGE', at: 1000, judge: true });
    await t.clock.advanceTo(1000 + timing.failureTimeoutMs - 1);
    expect(t.value()).toEqual({ active: 'healthy' });
    expect(t.run.proposals()).toEqual([]);
    await t.clock.advance(1);
    expect(t.value()).toEqual({ active: 'suspected' });
    expect(t.run.proposals()).toEqual([
      {
        type: 'PROPOSE_FAILED',
        nodeId: 'n1',
        incarnation: 1,
        lastSeen: 0,
        at: 1000 + timing.failureTimeoutMs,
      },
    ]);
  });

  it('COMMITTED NodeFailed moves to failed and emits the event only where it was decided', async () => {
    const decided = start();
    decided.commit(failed, true);
    expect(decided.value()).toBe('failed');
    expect(decided.run.emitted).toEqual([failed]);

    const following = start({ judge: false });
    following.commit(failed, false);
    expect(following.value()).toBe('failed');
    expect(following.run.emitted).toEqual([]);
  });
});

describe('Membership facts', () => {
  it('a joining node is proposed for admission by the judge, and COMMITTED NodeJoined makes it active', async () => {
    const t = start({ status: 'Joining' });
    expect(t.value()).toBe('joining');
    t.beat();
    await settle();
    expect(t.run.proposals()).toEqual([
      { type: 'PROPOSE_JOIN', nodeId: 'n1', incarnation: 1, at: 0 },
      { type: 'PROPOSE_JOIN', nodeId: 'n1', incarnation: 1, at: 0 },
    ]);
    t.commit(joined(1));
    expect(t.value()).toEqual({ active: 'healthy' });
    expect(t.run.emitted).toEqual([joined(1)]);
  });

  it('COMMITTED NodeDraining and NodeLeft move the state and emit only with emit: true', () => {
    const t = start();
    t.commit(draining, false);
    expect(t.value()).toEqual({ draining: 'healthy' });
    t.commit(left, true);
    expect(t.value()).toBe('left');
    expect(t.run.emitted).toEqual([left]);
  });

  it('a failed node heard with a newer incarnation goes back to joining and is proposed again', async () => {
    const t = start({ status: 'Failed' });
    expect(t.value()).toBe('failed');
    t.beat(1);
    expect(t.value()).toBe('failed');
    await t.clock.advanceTo(5000);
    t.beat(2);
    await settle();
    expect(t.value()).toBe('joining');
    expect(t.run.proposals()).toEqual([{ type: 'PROPOSE_JOIN', nodeId: 'n1', incarnation: 2, at: 5000 }]);
  });

  it('a restarted active node (newer incarnation) rejoins', () => {
    const t = start();
    t.beat(2);
    expect(t.value()).toBe('joining');
  });

  it('SYNC adopts a committed status without emitting', () => {
    const t = start({ status: 'Joining', judge: false });
    t.subject.send({ type: 'SYNC', at: 0, status: 'Draining', incarnation: 1 });
    expect(t.value()).toEqual({ draining: 'healthy' });
    t.subject.send({ type: 'SYNC', at: 0, status: 'Left', incarnation: 1 });
    expect(t.value()).toBe('left');
    expect(t.run.emitted).toEqual([]);
  });
});

describe('Restore', () => {
  function restoreAt(persistAt: number, restoreAtTime: number) {
    return (async () => {
      const clock = new SimulatedClock(0);
      const input = {
        nodeId: 'n1',
        timing,
        now: 0,
        incarnation: 1,
        status: 'Active' as const,
        lastSeen: 0,
        judge: false,
      };
      const first = createActor(nodeLifecycleMachine, { clock, input });
      first.start();
      await clock.advanceTo(persistAt);
      const persisted = first.getPersistedSnapshot();
      first.stop();
      await clock.advanceTo(restoreAtTime);
      // The input is ignored when a snapshot is given.
      const restored = createActor(nodeLifecycleMachine, { clock, snapshot: persisted, input });
      restored.start();
      return { clock, restored };
    })();
  }

  it('a restored snapshot has no timer until RESUME, which re-arms the deadline at its original absolute time', async () => {
    const { clock, restored } = await restoreAt(400, 400);
    expect(clock.pending).toBe(0);
    restored.send({ type: 'RESUME', at: 400 });
    await clock.advanceTo(timing.failureTimeoutMs - 1);
    expect(restored.getSnapshot().value).toEqual({ active: 'healthy' });
    await clock.advanceTo(timing.failureTimeoutMs);
    expect(restored.getSnapshot().value).toEqual({ active: 'suspected' });
  });

  it('RESUME after the deadline already passed suspects at once', async () => {
    const { clock, restored } = await restoreAt(400, 3000);
    restored.send({ type: 'RESUME', at: 3000 });
    await clock.advance(0);
    expect(restored.getSnapshot().value).toEqual({ active: 'suspected' });
  });
});
