/**
 * The audit-trail property: every committed decision is stored in the audit stream exactly once,
 * in commit order, and no event of a term is stored after an event of a newer term. Judged over
 * the events the history saw committed (delivered by the node that decided them); anything else in
 * the stream (a forger's publishes, a write whose commit nobody saw) is no decision and not judged.
 * Pure; the checker reports what it finds.
 */
import type { DomainEvent } from '../domain/events.js';
import type { Term } from '../domain/values.js';

export interface AuditFinding {
  readonly at: number;
  readonly message: string;
  readonly evidence: readonly unknown[];
  readonly key: string;
}

/** Events that are decisions of a leader's commit (a renewal is live only; a step-down is not committed). */
function committed(e: DomainEvent): boolean {
  return e.type !== 'LeadershipRenewed' && e.type !== 'LeadershipLost';
}

export class AuditTrailCheck {
  /** Committed events in the order their leaders committed them → position and when seen. */
  readonly #order = new Map<
    string,
    { readonly index: number; readonly at: number; readonly event: DomainEvent }
  >();
  /** Step-downs seen: stored ones are judged for term order, never owed. */
  readonly #stepDowns = new Set<string>();
  readonly #stored = new Map<string, number>();
  #lastIndex = -1;
  #lastIndexId: string | null = null;
  #highestTerm: Term = 0;
  #highestTermId: string | null = null;

  /** A delivered event, in the order the checker saw deliveries (the commit order). */
  delivered(e: DomainEvent, at: number): void {
    if (e.type === 'LeadershipLost') this.#stepDowns.add(e.id);
    if (!committed(e) || this.#order.has(e.id)) return;
    this.#order.set(e.id, { index: this.#order.size, at, event: e });
  }

  /** A message of the audit stream, in stream order; `event` is null when it is not an event. */
  stored(seq: number, e: DomainEvent | null, at: number): AuditFinding[] {
    if (e === null) return [];
    const known = this.#order.get(e.id);
    if (known === undefined && !this.#stepDowns.has(e.id)) return [];
    const found: AuditFinding[] = [];
    const first = this.#stored.get(e.id);
    if (first !== undefined) {
      found.push({
        at,
        message: `${e.type} ${e.id} is stored twice (sequences ${first} and ${seq})`,
        evidence: [{ id: e.id, seqs: [first, seq] }],
        key: `dup|${e.id}`,
      });
      return found;
    }
    this.#stored.set(e.id, seq);
    if (known !== undefined) {
      if (known.index < this.#lastIndex) {
        found.push({
          at,
          message: `${e.type} ${e.id} (term ${e.term}) is stored at ${seq} after ${this.#lastIndexId}, which was committed later`,
          evidence: [{ id: e.id, seq, after: this.#lastIndexId }],
          key: `order|${e.id}`,
        });
      } else {
        this.#lastIndex = known.index;
        this.#lastIndexId = e.id;
      }
    }
    if (e.term < this.#highestTerm) {
      found.push({
        at,
        message: `${e.type} ${e.id} of term ${e.term} is stored at ${seq} after ${this.#highestTermId} of term ${this.#highestTerm}`,
        evidence: [{ id: e.id, seq, term: e.term, after: this.#highestTermId, afterTerm: this.#highestTerm }],
        key: `term|${e.id}`,
      });
    } else if (e.term > this.#highestTerm) {
      this.#highestTerm = e.term;
      this.#highestTermId = e.id;
    }
    return found;
  }

  /** Committed events seen before `owedBefore` that the stream does not hold. */
  missing(owedBefore: number, at: number): AuditFinding[] {
    const lost = [...this.#order.values()].filter((c) => c.at < owedBefore && !this.#stored.has(c.event.id));
    if (lost.length === 0) return [];
    const first = lost[0];
    return [
      {
        at,
        message: `${lost.length} committed event(s) never reached the audit stream, first ${first?.event.type} ${first?.event.id} (term ${first?.event.term})`,
        evidence: lost
          .slice(0, 5)
          .map((c) => ({ id: c.event.id, type: c.event.type, term: c.event.term, at: c.at })),
        key: 'missing',
      },
    ];
  }
}
