/**
 * Node lifecycle statechart, run as the child of a stand-in root (system id 'node') that records what
 * the judge proposes; time comes from a simulated clock. The actor emits nothing: the root emits the
 * committed events.
 */

import { describe, expect, it } from 'vitest';
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
      weight: 2,
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
    beat: (incarnation = 1, weight = 1, load = 0) =>
      subject.send({ type: 'HEARTBEAT', at: clock.now(), incarnation, weight, load }),
    commit: (event: NodeJoined | NodeDraining | NodeFailed | NodeLeft) =>
      subject.send({ type: 'COMMITTED', at: clock.now(), event }),
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

  it('a follower actor suspects but proposes nothing; once judge, it proposes only a full timeout later', async () => {
    const t = start({ judge: false });
    await t.clock.advanceTo(timing.failureTimeoutMs);
    expect(t.value()).toEqual({ active: 'suspected' });
    expect(t.run.proposals()).toEqual([]);
    // The new judge may have missed heartbeats (it was cut off with everyone else): no verdict yet.
    const judgeAt = t.clock.now();
    t.subject.send({ type: 'JUDGE', at: judgeAt, judge: true });
    await settle();
    expect(t.value()).toEqual({ active: 'healthy' });
    expect(t.run.proposals()).toEqual([]);
    await t.clock.advanceTo(judgeAt + timing.failureTimeoutMs - 1);
    expect(t.run.proposals()).toEqual([]);
    await t.clock.advance(1);
    expect(t.run.proposals().map((p) => p.type)).toEqual(['PROPOSE_FAILED']);
  });

  it('a judge that could not hear gives a suspected node a full timeout from when it hears again', async () => {
    const t = start();
    await t.clock.advanceTo(timing.failureTimeoutMs);
    expect(t.run.proposals().map((p) => p.type)).toEqual(['PROPOSE_FAILED']);
    const restoredAt = t.clock.now() + 100;
    await t.clock.advanceTo(restoredAt);
    t.subject.send({ type: 'HEARING_RESTORED', at: restoredAt });
    await settle();
    expect(t.value()).toEqual({ active: 'healthy' });
    await t.clock.advanceTo(restoredAt + timing.failureTimeoutMs - 1);
    expect(t.run.proposals()).toHaveLength(1);
    t.beat();
    await t.clock.advanceTo(restoredAt + timing.failureTimeoutMs + 10);
    expect(t.value()).toEqual({ active: 'healthy' });
    expect(t.run.proposals()).toHaveLength(1);
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

  it('COMMITTED NodeFailed moves judge and follower alike to failed; neither emits (the root does)', async () => {
    const decided = start();
    decided.commit(failed);
    expect(decided.value()).toBe('failed');
    expect(decided.run.emitted).toEqual([]);

    const following = start({ judge: false });
    following.commit(failed);
    expect(following.value()).toBe('failed');
    expect(following.run.emitted).toEqual([]);
  });
});

describe('Membership facts', () => {
  it('a joining node is proposed for admission by the judge with the weight it announces, and COMMITTED NodeJoined makes it active', async () => {
    const t = start({ status: 'Joining' });
    expect(t.value()).toBe('joining');
    await t.clock.advanceTo(100);
    t.beat(1, 3, 42);
    await settle();
    expect(t.run.proposals()).toEqual([
      // On entry, before any heartbeat: the weight the actor was created with.
      { type: 'PROPOSE_JOIN', nodeId: 'n1', incarnation: 1, weight: 2, at: 0 },
      { type: 'PROPOSE_JOIN', nodeId: 'n1', incarnation: 1, weight: 3, at: 100 },
    ]);
    expect(t.subject.getSnapshot().context).toMatchObject({ weight: 3, load: 42, lastSeen: 100 });
    t.commit(joined(1));
    expect(t.value()).toEqual({ active: 'healthy' });
    expect(t.run.emitted).toEqual([]);
  });

  it('a heartbeat of an active node records the load it reports', () => {
    const t = start();
    t.beat(1, 1, 17);
    expect(t.subject.getSnapshot().context.load).toBe(17);
    t.beat(1, 1, 5);
    expect(t.subject.getSnapshot().context.load).toBe(5);
  });

  it('COMMITTED NodeDraining and NodeLeft move the state, emitting nothing', () => {
    const t = start();
    t.commit(draining);
    expect(t.value()).toEqual({ draining: 'healthy' });
    t.commit(left);
    expect(t.value()).toBe('left');
    expect(t.run.emitted).toEqual([]);
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
    expect(t.run.proposals()).toEqual([
      { type: 'PROPOSE_JOIN', nodeId: 'n1', incarnation: 2, weight: 1, at: 5000 },
    ]);
  });

  it('a restarted active node (newer incarnation) rejoins', () => {
    const t = start();
    t.beat(2);
    expect(t.value()).toBe('joining');
  });

  it('SYNC of a newer incarnation admitted meanwhile ends the wait of an actor joining it, with a full timeout', async () => {
    // A follower paused while n1 failed and was readmitted: it heard the new process's heartbeat (and
    // joined it), then reads the topology that already admits it.
    const t = start({ judge: false });
    await t.clock.advanceTo(3000);
    t.beat(2);
    expect(t.value()).toBe('joining');
    t.subject.send({ type: 'SYNC', at: 3000, status: 'Active', incarnation: 2 });
    expect(t.value()).toEqual({ active: 'healthy' });
    expect(t.subject.getSnapshot().context.incarnation).toBe(2);
    // Unheard since it was synced, a member is judged a full timeout later.
    const synced = start({ judge: false });
    await synced.clock.advanceTo(3000);
    synced.subject.send({ type: 'SYNC', at: 3000, status: 'Active', incarnation: 2 });
    await synced.clock.advanceTo(3000 + timing.failureTimeoutMs - 1);
    expect(synced.value()).toEqual({ active: 'healthy' });
    await synced.clock.advance(1);
    expect(synced.value()).toEqual({ active: 'suspected' });
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
