import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { DomainEvent } from '../../../src/domain/events.js';
import { SimulatedClock } from '../../../src/ports/simulated-clock.js';
import { EventAdmission } from '../../../src/runtime/event-admission.js';
import { newCounters } from '../../../src/runtime/node-counters.js';

const WAIT_MS = 2_000;

function setup(committed: { nodeId: string; term: number } | null = { nodeId: 'n1', term: 3 }) {
  const clock = new SimulatedClock(1_000);
  const counters = newCounters();
  const delivered: DomainEvent[] = [];
  const logged: { msg: string; origin?: string }[] = [];
  const log = pino({ level: 'warn' }, { write: (l: string) => logged.push(JSON.parse(l)) });
  let leader = committed;
  const admission = new EventAdmission({
    clock,
    log,
    counters,
    waitMs: WAIT_MS,
    committedLeader: () => leader,
    deliver: (e) => delivered.push(e),
  });
  return {
    clock,
    counters,
    delivered,
    logged,
    admission,
    commit: (l: { nodeId: string; term: number }) => {
      leader = l;
    },
  };
}

let seq = 0;
function elected(origin: string, term: number, previous: { nodeId: string; term: number } | null = null) {
  return {
    type: 'LeaderElected',
    id: `${origin}-${seq++}`,
    origin,
    term,
    version: 1,
    at: 1_000,
    nodeId: origin,
    previous,
  } satisfies DomainEvent;
}
function joined(origin: string, term: number, nodeId = 'evil') {
  return {
    type: 'NodeJoined',
    id: `${origin}-${seq++}`,
    origin,
    term,
    version: 1,
    at: 1_000,
    nodeId,
    incarnation: 1,
    weight: 1,
  } satisfies DomainEvent;
}
function lost(origin: string, term: number) {
  return {
    type: 'LeadershipLost',
    id: `${origin}-${seq++}`,
    origin,
    term,
    version: 1,
    at: 1_000,
    nodeId: origin,
    reason: 'resigned',
  } satisfies DomainEvent;
}

describe('event admission', () => {
  it("delivers an event decided by its term's committed leader", () => {
    const s = setup();
    const e = joined('n1', 3, 'n4');
    s.admission.admit(e);
    expect(s.delivered).toEqual([e]);
    expect(s.counters.forgedEvents).toBe(0);
  });

  it("drops, counts and logs an event from a node that did not hold its term's lease", () => {
    const s = setup();
    s.admission.admit(joined('mallory', 3));
    s.admission.admit(lost('n2', 3));
    expect(s.delivered).toEqual([]);
    expect(s.counters.forgedEvents).toBe(2);
    expect(s.logged.map((l) => [l.msg, l.origin])).toEqual([
      ['dropped an event: its origin did not hold the lease of its term', 'mallory'],
      ['dropped an event: its origin did not hold the lease of its term', 'n2'],
    ]);
  });

  it('never delivers a forged election with a huge term: it waits for a holder that never comes', async () => {
    const s = setup();
    s.admission.admit(elected('mallory', 999_999_999));
    await s.clock.advance(WAIT_MS - 1);
    expect(s.counters.forgedEvents).toBe(0);
    await s.clock.advance(1);
    expect(s.delivered).toEqual([]);
    expect(s.counters.forgedEvents).toBe(1);
    expect(s.logged[0]?.msg).toMatch(/no holder of its term became known within 2000 ms/);
    expect(s.clock.pending).toBe(0);
  });

  it("delivers, in order, events that outran their term's commit once a committed topology names their origin", async () => {
    const s = setup();
    const a = elected('n2', 4, { nodeId: 'n1', term: 3 });
    const b = joined('n2', 4, 'n5');
    const forged = joined('mallory', 4);
    s.admission.admit(a);
    s.admission.admit(b);
    s.admission.admit(forged);
    await s.clock.advance(100);
    expect(s.delivered).toEqual([]);
    s.admission.noteHolder(4, 'n2');
    expect(s.delivered).toEqual([a, b]);
    expect(s.counters.forgedEvents).toBe(1);
    expect(s.clock.pending).toBe(0);
  });

  it('also learns a term from the committed topology it reads at the next event', () => {
    const s = setup();
    const a = joined('n2', 5, 'n6');
    s.admission.admit(a);
    s.commit({ nodeId: 'n2', term: 5 });
    const b = joined('n2', 5, 'n7');
    s.admission.admit(b);
    expect(s.delivered).toEqual([b]);
    s.admission.noteHolder(6, 'n3');
    expect(s.delivered).toEqual([b, a]);
  });

  it('judges a late step-down by the predecessor an admitted election names', () => {
    const s = setup({ nodeId: 'n2', term: 7 });
    s.admission.admit(lost('n1', 6));
    s.admission.admit(lost('mallory', 6));
    expect(s.delivered).toEqual([]);
    s.admission.admit(elected('n2', 7, { nodeId: 'n1', term: 6 }));
    expect(s.delivered.map((e) => [e.type, e.origin])).toEqual([
      ['LeaderElected', 'n2'],
      ['LeadershipLost', 'n1'],
    ]);
    expect(s.counters.forgedEvents).toBe(1);
  });

  it('keeps at most 256 events waiting: a flood of forgeries is dropped, not stored', () => {
    const s = setup();
    for (let i = 0; i < 300; i++) s.admission.admit(elected('mallory', 1_000 + i));
    expect(s.counters.forgedEvents).toBe(44);
    s.admission.close();
    expect(s.clock.pending).toBe(0);
  });
});
