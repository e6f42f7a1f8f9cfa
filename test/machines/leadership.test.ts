/**
 * Leadership statechart: every lease edge case, driven by a simulated clock, with the lease actors
 * replaced by fakes whose outcomes each test chooses. It runs as the child of a stand-in root (system
 * id 'node') that records what leadership reports; the real root commits and emits the events.
 */

import { describe, expect, it } from 'vitest';
import type { ActorRefFrom } from 'xstate';
import {
  type AcquireOutput,
  type LeadershipReport,
  leadershipMachine,
  type ReadOutput,
  type RenewInput,
  type RenewOutput,
} from '../../machines/leadership.machine.js';
import type { LeadershipLost } from '../../src/domain/events.js';
import type { LeaseRecord } from '../../src/protocol/messages.js';
import { FakeActors, SimulatedClock, underRoot } from './harness.js';

const timing = { leaseTtlMs: 2000, renewIntervalMs: 500, renewDeadlineMs: 1500, retryIntervalMs: 250 };
const other = (term: number, revision = term): LeaseRecord => ({ holder: 'n2', term, revision });

function start(opts: { eligible?: boolean; now?: number } = {}) {
  const clock = new SimulatedClock(opts.now ?? 0);
  const fakes = new FakeActors();
  const machine = leadershipMachine.provide({
    actors: {
      acquireLease: fakes.logic<AcquireOutput, { nodeId: string }>('acquireLease'),
      renewLease: fakes.logic<RenewOutput, RenewInput>('renewLease'),
      releaseLease: fakes.logic<{ at: number }, { term: number; revision: number }>('releaseLease'),
      readLease: fakes.logic<ReadOutput, void>('readLease'),
    },
  });
  const input = { nodeId: 'n1', timing, now: clock.now(), eligible: opts.eligible ?? true, idPrefix: 'n1-1' };
  const run = underRoot(machine, input, { clock });
  const actor = run.start() as ActorRefFrom<typeof leadershipMachine>;
  const reports = () => run.reports() as unknown as LeadershipReport[];
  const t = {
    clock,
    input,
    fakes,
    actor,
    run,
    reports,
    value: () => actor.getSnapshot().value,
    types: () => reports().map((r) => r.type),
    lost: (): LeadershipLost[] => reports().flatMap((r) => (r.type === 'LEADERSHIP_LOST' ? [r.event] : [])),
    /** Lets the first lease lapse and wins the campaign at term 3. */
    async becomeLeader(term = 3) {
      await clock.advance(timing.leaseTtlMs);
      const now = clock.now();
      await fakes.resolve('acquireLease', {
        kind: 'acquired',
        term,
        revision: term,
        startedAt: now,
        at: now,
      });
      expect(actor.getSnapshot().value).toEqual({ leader: 'waiting' });
      return now;
    },
    async renewed(revision: number) {
      const now = clock.now();
      await fakes.resolve('renewLease', { kind: 'renewed', revision, startedAt: now, at: now });
    },
  };
  return t;
}

describe('Single leader policy: a follower campaigns when the lease lapses', () => {
  it('waits one TTL from start before its first campaign, then campaigns for the lease', async () => {
    const t = start();
    await t.clock.advance(timing.leaseTtlMs - 1);
    expect(t.value()).toBe('follower');
    expect(t.fakes.inputsOf('acquireLease')).toEqual([]);
    await t.clock.advance(1);
    expect(t.value()).toBe('candidate');
    expect(t.fakes.inputsOf('acquireLease')).toEqual([{ nodeId: 'n1' }]);
  });

  it('campaigns only when the observed lease lapses by its own timer, last seen plus TTL', async () => {
    const t = start();
    await t.clock.advance(700);
    t.actor.send({ type: 'LEASE_CHANGED', at: 700, lease: other(1) });
    await t.clock.advance(1000);
    // A renewal seen later pushes the lapse out again.
    t.actor.send({ type: 'LEASE_CHANGED', at: 1700, lease: other(1, 2) });
    await t.clock.advanceTo(1700 + timing.leaseTtlMs - 1);
    expect(t.value()).toBe('follower');
    expect(t.fakes.inputsOf('acquireLease')).toHaveLength(0);
    await t.clock.advance(1);
    expect(t.value()).toBe('candidate');
  });

  it('does not campaign while ineligible, and campaigns once it becomes eligible and the lease has lapsed', async () => {
    const t = start({ eligible: false });
    await t.clock.advance(timing.leaseTtlMs * 3);
    expect(t.value()).toBe('follower');
    expect(t.fakes.inputsOf('acquireLease')).toHaveLength(0);
    t.actor.send({ type: 'TOPOLOGY_INFO', at: t.clock.now(), eligible: true, version: 4 });
    await t.clock.advance(timing.retryIntervalMs);
    expect(t.value()).toBe('candidate');
  });

  it('campaigns at once when the lease key is deleted', async () => {
    const t = start();
    await t.clock.advance(100);
    t.actor.send({ type: 'LEASE_CHANGED', at: 100, lease: null });
    await t.clock.advance(0);
    expect(t.value()).toBe('candidate');
    expect(t.clock.now()).toBe(100);
  });

  it('becomes leader when the campaign wins and reports LEADER_ELECTED with the term to the root, which commits LeaderElected', async () => {
    const t = start();
    t.actor.send({ type: 'LEASE_CHANGED', at: 0, lease: other(2) });
    await t.clock.advance(timing.leaseTtlMs);
    await t.fakes.resolve('acquireLease', {
      kind: 'acquired',
      term: 3,
      revision: 3,
      startedAt: 2000,
      at: 2000,
    });
    expect(t.value()).toEqual({ leader: 'waiting' });
    expect(t.reports()).toEqual([{ type: 'LEADER_ELECTED', at: 2000, term: 3 }]);
    expect(t.run.received.map((r) => r.clockAt)).toEqual([2000]);
    // The child speaks only to the root: the event itself is built and emitted by the root's commit.
    expect(t.run.emitted).toEqual([]);
  });

  it('follows when the campaign finds the lease held by another, and campaigns again only a TTL later', async () => {
    const t = start();
    await t.clock.advance(timing.leaseTtlMs);
    await t.fakes.resolve('acquireLease', { kind: 'held', lease: other(4), at: 2000 });
    expect(t.value()).toBe('follower');
    expect(t.actor.getSnapshot().context.observed).toEqual(other(4));
    await t.clock.advance(timing.leaseTtlMs - 1);
    expect(t.fakes.inputsOf('acquireLease')).toHaveLength(1);
    await t.clock.advance(1);
    expect(t.fakes.inputsOf('acquireLease')).toHaveLength(2);
    expect(t.types()).toEqual([]);
  });

  it('reconciles an unknown campaign outcome: a read showing itself makes it leader', async () => {
    const t = start();
    await t.clock.advance(timing.leaseTtlMs);
    await t.fakes.resolve('acquireLease', { kind: 'unknown', reason: 'timeout', at: 2000 });
    expect(t.value()).toBe('reconciling');
    await t.clock.advance(10);
    await t.fakes.resolve('readLease', { lease: { holder: 'n1', term: 5, revision: 5 }, at: 2010 });
    expect(t.value()).toEqual({ leader: 'waiting' });
    expect(t.reports()).toEqual([{ type: 'LEADER_ELECTED', at: 2010, term: 5 }]);
    // The renewal deadline counts from the read, the earliest moment the write is known to have applied.
    expect(t.actor.getSnapshot().context.renewedFrom).toBe(2010);
  });

  it('reconciles an unknown campaign outcome: a read showing another holder makes it follow', async () => {
    const t = start();
    await t.clock.advance(timing.leaseTtlMs);
    await t.fakes.resolve('acquireLease', { kind: 'unknown', reason: 'timeout', at: 2000 });
    await t.fakes.resolve('readLease', { lease: other(5), at: 2000 });
    expect(t.value()).toBe('follower');
    expect(t.actor.getSnapshot().context.observed).toEqual(other(5));
    expect(t.types()).toEqual([]);
  });

  it('treats a failed campaign call as unknown and reconciles', async () => {
    const t = start();
    await t.clock.advance(timing.leaseTtlMs);
    await t.fakes.reject('acquireLease');
    expect(t.value()).toBe('reconciling');
  });

  it('backs off when the reconciling read fails, and reads again after the retry interval', async () => {
    const t = start();
    await t.clock.advance(timing.leaseTtlMs);
    await t.fakes.resolve('acquireLease', { kind: 'unknown', reason: 'timeout', at: 2000 });
    await t.fakes.reject('readLease');
    expect(t.value()).toBe('backoff');
    await t.clock.advance(timing.retryIntervalMs - 1);
    expect(t.fakes.inputsOf('readLease')).toHaveLength(1);
    await t.clock.advance(1);
    expect(t.value()).toBe('reconciling');
    expect(t.fakes.inputsOf('readLease')).toHaveLength(2);
  });

  it('leaves backoff for follower when the watch shows the lease', async () => {
    const t = start();
    await t.clock.advance(timing.leaseTtlMs);
    await t.fakes.reject('acquireLease');
    await t.fakes.reject('readLease');
    t.actor.send({ type: 'LEASE_CHANGED', at: 2000, lease: other(6) });
    expect(t.value()).toBe('follower');
  });
});

describe('Lease renewal policy: the leader renews every renewInterval and steps down at renewDeadline', () => {
  it('renews every renew interval with the revision it holds, reporting LeadershipRenewed to the root', async () => {
    const t = start();
    const from = await t.becomeLeader(3);
    await t.clock.advance(timing.renewIntervalMs);
    expect(t.value()).toEqual({ leader: 'renewing' });
    expect(t.fakes.inputsOf('renewLease')).toEqual([
      { nodeId: 'n1', term: 3, revision: 3, notAfter: from + timing.renewDeadlineMs },
    ]);
    await t.renewed(4);
    expect(t.value()).toEqual({ leader: 'waiting' });
    expect(t.reports()[1]).toEqual({
      type: 'LEADERSHIP_RENEWED',
      at: from + timing.renewIntervalMs,
      event: {
        type: 'LeadershipRenewed',
        id: 'n1-1-1',
        origin: 'n1',
        nodeId: 'n1',
        term: 3,
        version: 0,
        at: from + timing.renewIntervalMs,
        expiresAt: from + timing.renewIntervalMs + timing.leaseTtlMs,
      },
    });
    await t.clock.advance(timing.renewIntervalMs);
    expect(t.fakes.inputsOf('renewLease')[1]).toEqual({
      nodeId: 'n1',
      term: 3,
      revision: 4,
      notAfter: from + timing.renewIntervalMs + timing.renewDeadlineMs,
    });
  });

  it('stays leader when a renewal fails once and the next succeeds', async () => {
    const t = start();
    await t.becomeLeader();
    await t.clock.advance(timing.renewIntervalMs);
    await t.fakes.reject('renewLease');
    expect(t.value()).toEqual({ leader: 'waiting' });
    await t.clock.advance(timing.renewIntervalMs);
    await t.renewed(4);
    expect(t.value()).toEqual({ leader: 'waiting' });
    expect(t.types()).toEqual(['LEADER_ELECTED', 'LEADERSHIP_RENEWED']);
    // The successful renewal re-armed the deadline from its start.
    await t.clock.advance(timing.renewDeadlineMs - 1);
    expect(t.lost()).toEqual([]);
  });

  it('retries an unknown renewal outcome at the revision it still holds', async () => {
    const t = start();
    const from = await t.becomeLeader(3);
    await t.clock.advance(timing.renewIntervalMs);
    await t.fakes.resolve('renewLease', { kind: 'unknown', reason: 'timeout', at: t.clock.now() });
    expect(t.value()).toEqual({ leader: 'waiting' });
    await t.clock.advance(timing.renewIntervalMs);
    const notAfter = from + timing.renewDeadlineMs;
    expect(t.fakes.inputsOf('renewLease')).toEqual([
      { nodeId: 'n1', term: 3, revision: 3, notAfter },
      { nodeId: 'n1', term: 3, revision: 3, notAfter },
    ]);
    expect(t.types()).toEqual(['LEADER_ELECTED']);
  });

  it("steps down with reason 'renew-deadline' when no renewal succeeds in time, before the lease could expire", async () => {
    const t = start();
    const from = await t.becomeLeader();
    // Every renewal hangs.
    await t.clock.advance(timing.renewDeadlineMs - 1);
    expect(t.value()).toEqual({ leader: 'renewing' });
    await t.clock.advance(1);
    expect(t.value()).toBe('relinquishing');
    await t.fakes.resolve('releaseLease', { at: t.clock.now() });
    expect(t.value()).toBe('follower');
    const lost = t.run.received.find((r) => r.event.type === 'LEADERSHIP_LOST');
    const report = lost?.event as Extract<LeadershipReport, { type: 'LEADERSHIP_LOST' }> | undefined;
    expect(report).toMatchObject({
      term: 3,
      event: { type: 'LeadershipLost', reason: 'renew-deadline', term: 3 },
    });
    expect(lost!.clockAt).toBe(from + timing.renewDeadlineMs);
    expect(lost!.clockAt).toBeLessThan(from + timing.leaseTtlMs);
    expect(report!.event.at).toBeLessThan(from + timing.leaseTtlMs);
    expect(t.actor.getSnapshot().context.held).toBeNull();
  });

  it('deletes the lease it may still hold when it steps down at the renew deadline, at the revision held', async () => {
    const t = start();
    await t.becomeLeader(3);
    await t.clock.advance(timing.renewDeadlineMs);
    expect(t.value()).toBe('relinquishing');
    expect(t.fakes.inputsOf('releaseLease')).toEqual([{ term: 3, revision: 3 }]);
    // A failed delete (store unreachable) still ends in follower: the TTL removes the lease.
    await t.fakes.reject('releaseLease');
    expect(t.value()).toBe('follower');
    expect(t.actor.getSnapshot().context.held).toBeNull();
  });

  it('steps down without sending when the renewal could only start at or after the deadline (a paused leader resuming)', async () => {
    const t = start();
    await t.becomeLeader(3);
    await t.clock.advance(timing.renewIntervalMs);
    await t.fakes.resolve('renewLease', { kind: 'late', at: t.clock.now() });
    expect(t.value()).toBe('relinquishing');
    expect(t.lost().map((e) => e.reason)).toEqual(['renew-deadline']);
    expect(t.fakes.inputsOf('releaseLease')).toEqual([{ term: 3, revision: 3 }]);
  });

  it('does not count a renewal that started at the deadline, and deletes the lease at the revision it wrote', async () => {
    const t = start();
    const from = await t.becomeLeader(3);
    await t.clock.advance(timing.renewIntervalMs);
    await t.fakes.resolve('renewLease', {
      kind: 'renewed',
      revision: 4,
      startedAt: from + timing.renewDeadlineMs,
      at: t.clock.now(),
    });
    expect(t.value()).toBe('relinquishing');
    expect(t.types()).toEqual(['LEADER_ELECTED', 'LEADERSHIP_LOST']);
    expect(t.fakes.inputsOf('releaseLease')).toEqual([{ term: 3, revision: 4 }]);
  });

  it('does not release a lease lost to another holder when it steps down', async () => {
    const t = start();
    await t.becomeLeader(3);
    await t.clock.advance(timing.renewIntervalMs);
    await t.fakes.resolve('renewLease', { kind: 'lost', lease: other(4), at: t.clock.now() });
    expect(t.value()).toBe('follower');
    expect(t.fakes.inputsOf('releaseLease')).toEqual([]);
  });

  it('measures the renew deadline from the start of the last successful renewal', async () => {
    const t = start();
    await t.becomeLeader();
    await t.clock.advance(timing.renewIntervalMs);
    const renewStart = t.clock.now();
    await t.clock.advance(100);
    await t.fakes.resolve('renewLease', {
      kind: 'renewed',
      revision: 4,
      startedAt: renewStart,
      at: t.clock.now(),
    });
    await t.clock.advanceTo(renewStart + timing.renewDeadlineMs - 1);
    expect(t.lost()).toEqual([]);
    await t.clock.advanceTo(renewStart + timing.renewDeadlineMs);
    expect(t.lost().map((e) => e.reason)).toEqual(['renew-deadline']);
  });

  it("steps down with reason 'lease-lost' when a renewal finds the lease gone", async () => {
    const t = start();
    await t.becomeLeader();
    await t.clock.advance(timing.renewIntervalMs);
    await t.fakes.resolve('renewLease', { kind: 'lost', lease: other(4), at: t.clock.now() });
    expect(t.value()).toBe('follower');
    expect(t.lost().map((e) => e.reason)).toEqual(['lease-lost']);
  });

  it("steps down with reason 'superseded' when it sees another holder with a higher term", async () => {
    const t = start();
    await t.becomeLeader(3);
    t.actor.send({ type: 'LEASE_CHANGED', at: t.clock.now(), lease: other(4) });
    expect(t.value()).toBe('follower');
    expect(t.lost().map((e) => e.reason)).toEqual(['superseded']);
    expect(t.actor.getSnapshot().context.observed).toEqual(other(4));
  });

  it('keeps leading when the watch delivers a stale lease of an older term', async () => {
    const t = start();
    await t.becomeLeader(3);
    t.actor.send({ type: 'LEASE_CHANGED', at: t.clock.now(), lease: other(2) });
    expect(t.value()).toEqual({ leader: 'waiting' });
    expect(t.lost()).toEqual([]);
  });

  it('after stepping down, waits a full TTL before campaigning, since its last write may still live', async () => {
    const t = start();
    await t.becomeLeader(3);
    t.actor.send({ type: 'LEASE_CHANGED', at: t.clock.now(), lease: other(4) });
    const down = t.clock.now();
    await t.clock.advanceTo(down + timing.leaseTtlMs - 1);
    expect(t.fakes.inputsOf('acquireLease')).toHaveLength(1);
    await t.clock.advanceTo(down + timing.leaseTtlMs);
    expect(t.value()).toBe('candidate');
  });
});

describe('Resignation and stop', () => {
  it('RESIGN releases the lease at the revision held, reports LeadershipLost resigned, and follows', async () => {
    const t = start();
    await t.becomeLeader(3);
    await t.clock.advance(timing.renewIntervalMs);
    await t.renewed(9);
    t.actor.send({ type: 'RESIGN', at: t.clock.now() });
    expect(t.value()).toBe('releasing');
    expect(t.fakes.inputsOf('releaseLease')).toEqual([{ term: 3, revision: 9 }]);
    expect(t.lost().map((e) => e.reason)).toEqual(['resigned']);
    await t.fakes.resolve('releaseLease', { at: t.clock.now() });
    expect(t.value()).toBe('follower');
    expect(t.actor.getSnapshot().context.held).toBeNull();
  });

  it('follows even when the release fails', async () => {
    const t = start();
    await t.becomeLeader();
    t.actor.send({ type: 'RESIGN', at: t.clock.now() });
    await t.fakes.reject('releaseLease');
    expect(t.value()).toBe('follower');
  });

  it('STOP while leader releases the lease, then reaches its final state', async () => {
    const t = start();
    await t.becomeLeader(3);
    t.actor.send({ type: 'STOP', at: t.clock.now() });
    expect(t.value()).toBe('releasingForStop');
    expect(t.fakes.inputsOf('releaseLease')).toEqual([{ term: 3, revision: 3 }]);
    await t.fakes.resolve('releaseLease', { at: t.clock.now() });
    expect(t.value()).toBe('stopped');
    expect(t.actor.getSnapshot().status).toBe('done');
    expect(t.lost().map((e) => e.reason)).toEqual(['resigned']);
  });

  it('STOP while following stops at once without touching the lease', async () => {
    const t = start();
    t.actor.send({ type: 'STOP', at: 0 });
    expect(t.actor.getSnapshot().status).toBe('done');
    expect(t.fakes.calls).toEqual([]);
    expect(t.clock.pending).toBe(0);
  });
});
