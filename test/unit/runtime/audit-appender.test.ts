/**
 * The audit appender: committed events reach the stream once each, in commit order; a successor
 * appends a dead leader's outbox without repeating what is stored (even past the de-duplication
 * window); a deposed leader's backlog is never appended after a newer term has written.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { memoryTransport } from '../../../src/adapters/memory/index.js';
import type { DomainEvent } from '../../../src/domain/events.js';
import type { Term } from '../../../src/domain/values.js';
import type { AuditLog } from '../../../src/ports/bus.js';
import { SimulatedClock } from '../../../src/ports/simulated-clock.js';
import { decodeJson } from '../../../src/protocol/codec.js';
import { names } from '../../../src/protocol/names.js';
import { AuditAppender } from '../../../src/runtime/audit-appender.js';
import { newCounters } from '../../../src/runtime/node-counters.js';

const n = names('c');

function joined(i: number, term: Term, origin = 'n1'): DomainEvent {
  return {
    type: 'NodeJoined',
    id: `${origin}-${term}-${i}`,
    origin,
    term,
    version: i,
    at: i,
    nodeId: `m${i}`,
    incarnation: 1,
    weight: 1,
  };
}

async function setup(opts: { duplicateWindowMs?: number } = {}) {
  const clock = new SimulatedClock(1_000);
  const transport = memoryTransport({ clock, ...opts });
  let committed: Term | null = null;
  const appender = async (id: string) => {
    const conn = await transport.connect(id);
    const audit = await conn.auditLog(n.auditStream, n.events);
    return new AuditAppender({
      audit,
      bus: conn.bus,
      names: n,
      clock,
      log: pino({ level: 'silent' }),
      counters: newCounters(),
      timing: { requestTimeoutMs: 500, retryIntervalMs: 100 },
      committedTerm: async () => committed,
      // Leadership is judged from the store here, as by a node that no longer knows it leads.
      leads: () => false,
    });
  };
  const reader = await (await transport.connect('reader')).auditLog(n.auditStream, n.events);
  return {
    clock,
    appender,
    commit: (term: Term) => {
      committed = term;
    },
    stored: () => storedIds(reader),
  };
}

async function storedIds(log: AuditLog): Promise<string[]> {
  const ids: string[] = [];
  for await (const m of log.read(1)) {
    const j = decodeJson(m.data);
    if (j.ok && typeof j.value === 'object' && j.value !== null && 'id' in j.value)
      ids.push(String(j.value.id));
  }
  return ids;
}

describe('AuditAppender', () => {
  it('appends a leader’s events once each, in commit order, and keeps them out of the outbox once stored', async () => {
    const s = await setup();
    const a = await s.appender('n1');
    s.commit(1);
    const events = Array.from({ length: 1_200 }, (_, i) => joined(i, 1));
    for (const e of events.slice(0, 600)) a.append(e);
    a.lead(1);
    for (const e of events.slice(600)) a.append(e);
    await s.clock.advanceUntil(() => a.unstored().length === 0, 5_000);
    expect(await s.stored()).toEqual(events.map((e) => e.id));
  });

  it('holds events back until its term leads, and offers them for the next commit meanwhile', async () => {
    const s = await setup();
    const a = await s.appender('n1');
    a.append(joined(1, 1));
    await s.clock.advance(1_000);
    expect(await s.stored()).toEqual([]);
    expect(a.unstored().map((e) => e.id)).toEqual(['n1-1-1']);
  });

  it('a successor appends the outbox it adopted, skipping what is stored, even past the de-duplication window', async () => {
    const s = await setup({ duplicateWindowMs: 1_000 });
    const old = await s.appender('n1');
    s.commit(1);
    old.lead(1);
    const outbox = [joined(1, 1), joined(2, 1), joined(3, 1)];
    for (const e of outbox.slice(0, 2)) old.append(e);
    await s.clock.advanceUntil(() => old.unstored().length === 0, 5_000);
    old.stop();
    // The old leader died after storing two of three; the record still carries all three.
    await s.clock.advance(10_000);
    const next = await s.appender('n2');
    next.adopt(outbox, 1);
    s.commit(2);
    next.append(joined(4, 2, 'n2'));
    next.lead(2);
    await s.clock.advanceUntil(() => next.unstored().length === 0, 5_000);
    expect(await s.stored()).toEqual(['n1-1-1', 'n1-1-2', 'n1-1-3', 'n2-2-4']);
  });

  it('a deposed leader leaves its backlog to the successor once a newer term has written', async () => {
    const s = await setup();
    const old = await s.appender('n1');
    s.commit(1);
    old.lead(1);
    old.append(joined(1, 1));
    await s.clock.advanceUntil(() => old.unstored().length === 0, 5_000);
    // A successor fences (commits term 2) and writes before the old leader's next append.
    const next = await s.appender('n2');
    s.commit(2);
    next.adopt([joined(2, 1)], 2);
    next.append(joined(3, 2, 'n2'));
    next.lead(2);
    await s.clock.advanceUntil(() => next.unstored().length === 0, 5_000);
    old.append(joined(2, 1));
    old.append({ ...joined(9, 1), type: 'NodeDraining' } as DomainEvent);
    await s.clock.advance(5_000);
    await old.flushed();
    expect(await s.stored()).toEqual(['n1-1-1', 'n1-1-2', 'n2-2-3']);
    expect(old.unstored()).toEqual([]);
  });
});
