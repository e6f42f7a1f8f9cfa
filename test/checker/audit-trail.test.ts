/** The audit-trail property on doctored histories: it passes a faithful stream and fails each kind of fault. */
import { describe, expect, it } from 'vitest';
import { checkHistory, defaultConvergenceBoundMs, type HistoryEntry } from '../../src/checker/index.js';
import { FAST_TIMING } from '../../src/config.js';
import type { DomainEvent } from '../../src/domain/events.js';

const config = { timing: FAST_TIMING, shardCount: 8 };
const BOUND = defaultConvergenceBoundMs(FAST_TIMING, 8);

function draining(id: string, term: number, origin = 'a'): DomainEvent {
  return { type: 'NodeDraining', id, origin, term, version: 1, at: 0, nodeId: 'b' };
}
function lost(id: string, term: number): DomainEvent {
  return {
    type: 'LeadershipLost',
    id,
    origin: 'a',
    term,
    version: 1,
    at: 0,
    nodeId: 'a',
    reason: 'resigned',
  };
}

const delivered = (at: number, e: DomainEvent): HistoryEntry => ({
  kind: 'event',
  at,
  observer: e.origin,
  event: e,
});
function stream(at: number, events: (DomainEvent | null)[]): HistoryEntry {
  return {
    kind: 'audit',
    at,
    messages: events.map((event, i) => ({ seq: i + 1, storedAt: at, event })),
  };
}

const e1 = draining('a-1', 1);
const e2 = draining('a-2', 1);
const e3 = draining('b-3', 2, 'b');
const committed = [delivered(10, e1), delivered(20, e2), delivered(30, e3)];
const healed: HistoryEntry[] = [{ kind: 'quiet', at: 40 }];
const end: HistoryEntry = { kind: 'tick', at: 40 + BOUND + 1_000 };

function auditViolations(history: HistoryEntry[]): string[] {
  return checkHistory(history, config)
    .filter((v) => v.invariant === 'audit-trail')
    .map((v) => v.message);
}

describe('audit-trail', () => {
  it('holds for a stream with every committed event once, in commit order (forged messages aside)', () => {
    const forged = { ...draining('forged-1', 999_999_999, 'evil') };
    expect(auditViolations([...committed, ...healed, stream(50, [e1, forged, null, e2, e3]), end])).toEqual(
      [],
    );
  });

  it('fails on an event stored twice', () => {
    const v = auditViolations([...committed, ...healed, stream(50, [e1, e2, e2, e3]), end]);
    expect(v).toEqual([expect.stringContaining('a-2 is stored twice')]);
  });

  it('fails on events stored out of commit order', () => {
    const v = auditViolations([...committed, ...healed, stream(50, [e2, e1, e3]), end]);
    expect(v).toEqual([expect.stringContaining('a-1 (term 1) is stored at 2 after a-2')]);
  });

  it('fails on a deposed term’s event stored after a newer term’s', () => {
    const step = lost('a-9', 1);
    const v = auditViolations([
      ...committed,
      delivered(35, step),
      ...healed,
      stream(50, [e1, e2, e3, step]),
      end,
    ]);
    expect(v).toEqual([expect.stringContaining('a-9 of term 1 is stored at 4 after b-3 of term 2')]);
  });

  it('fails on a committed event missing once faults have healed for the bound, and not before', () => {
    const history = [...committed, ...healed, stream(50, [e1, e3])];
    expect(auditViolations([...history, end])).toEqual([
      expect.stringContaining('1 committed event(s) never reached the audit stream, first NodeDraining a-2'),
    ]);
    expect(auditViolations([...history, { kind: 'tick', at: 40 + BOUND - 1 }])).toEqual([]);
  });
});
