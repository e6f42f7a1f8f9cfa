/**
 * What a watcher of a cluster's stores turns into checker history, shared by the simulator and the
 * process harness: lease changes, and the messages the audit stream stored since the last read.
 */
import type { HistoryEntry } from '../checker/history.js';
import type { DomainEvent } from '../domain/events.js';
import type { AuditLog } from '../ports/bus.js';
import type { KvChange } from '../ports/kv.js';
import { decodeDomainEvent, decodeLease } from '../protocol/codec.js';

/**
 * A lease-key watcher feeding `lease` entries: one per new term and one per deletion. `onPut` hears
 * every write, renewals included.
 */
export function leaseTap(
  feed: (e: HistoryEntry) => void,
  now: () => number,
  onPut: () => void = () => {},
): (c: KvChange) => void {
  let lastTerm = 0;
  return (c) => {
    if (c.op === 'delete' || c.value === null) {
      feed({ kind: 'lease', at: now(), holder: null, term: lastTerm });
      return;
    }
    onPut();
    const d = decodeLease(c.value, c.revision);
    if (!d.ok || d.value.term === lastTerm) return;
    lastTerm = d.value.term;
    feed({ kind: 'lease', at: now(), holder: d.value.holder, term: d.value.term });
  };
}

export type AuditMessage = Extract<HistoryEntry, { kind: 'audit' }>['messages'][number];

/** The audit stream's messages from sequence `from` to its end, and the sequence to read from next. */
export async function readAuditFrom(
  audit: AuditLog,
  from: number,
): Promise<{ messages: AuditMessage[]; next: number }> {
  const messages: { seq: number; storedAt: number; event: DomainEvent | null }[] = [];
  let next = from;
  for await (const m of audit.read(from)) {
    const d = decodeDomainEvent(m.data);
    messages.push({ seq: m.seq, storedAt: m.at, event: d.ok ? d.value : null });
    next = m.seq + 1;
  }
  return { messages, next };
}
