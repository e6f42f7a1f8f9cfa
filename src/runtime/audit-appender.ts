/**
 * Appends the domain events the leader committed to the audit stream: exactly once, in commit
 * order, even when the leader dies right after a commit, and never an event of a deposed term
 * after a newer term has written.
 *
 * - Outbox: every topology commit carries the committed events the stream has not yet
 *   acknowledged ({@link unstored}); a leader taking over adopts them from the record it fences
 *   on ({@link adopt}) and appends them before its own. An event leaves the outbox only once the
 *   stream has stored it.
 * - Fence: each append expects the stream's last sequence to be the one this appender last saw.
 *   Anyone else's write makes the next append fail; the appender then reads the stream's last
 *   sequence and, after it, the committed topology: a newer term there means this node was
 *   deposed, and it leaves its backlog to the successor (who holds it in the outbox). A newer
 *   leader appends only after its fencing commit, so reading in that order cannot miss it.
 * - Exactly once: after such a sync, events already in the stream's tail are skipped; the
 *   stream's message-id de-duplication covers a retry whose first try was stored unseen.
 * - Speed: appends are pipelined, each sent as soon as it is queued (up to a window in flight): a
 *   1024-shard bootstrap is ~1,000 events.
 *
 * Lease renewals go live only, on their own subject: one every renew interval is noise in an audit
 * trail, and a lost one is superseded by the next.
 */
import type { Logger } from 'pino';
import { isCasConflict } from '../domain/errors.js';
import type { DomainEvent } from '../domain/events.js';
import type { Term } from '../domain/values.js';
import type { AuditLog, MessageBus } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import { decodeJson, encode, eventBytes } from '../protocol/codec.js';
import type { names } from '../protocol/names.js';
import type { NodeCounters } from './node-counters.js';
import { withTimeout } from './timeout.js';

export interface AuditAppenderDeps {
  readonly audit: AuditLog;
  readonly bus: MessageBus;
  readonly names: ReturnType<typeof names>;
  readonly clock: Clock;
  readonly log: Logger;
  readonly counters: NodeCounters;
  readonly timing: { readonly requestTimeoutMs: number; readonly retryIntervalMs: number };
  /** The term of the committed topology, read from the store now (null: none written yet). */
  readonly committedTerm: () => Promise<Term | null>;
  /** Whether this node leads `term` now (within its renew deadline, so no newer term can be committed). */
  readonly leads: (term: Term) => boolean;
}

/** Appends in flight at once. */
const WINDOW = 512;
/** Stored messages read beyond the backlog's length when looking for what is already stored. */
const TAIL_SLACK = 64;
/** Ids of stored events remembered, so an adopted outbox does not bring them back. */
const STORED_KEPT = 4096;

export class AuditAppender {
  /** Committed events not yet known to be stored, in commit order; the first `#sent` are in flight. */
  readonly #queue = new Backlog();
  #sent = 0;
  /** Appends awaiting their answer (after a break, answers of sends no longer counted in `#sent`). */
  #inflight = 0;
  /** The term this appender writes for; null when it has nothing to write for. */
  #term: Term | null = null;
  /** Whether this node leads `#term` (its election is committed). */
  #leading = false;
  /** The stream's last sequence as this appender knows it; null: read it before the next append. */
  #expect: number | null = null;
  /** An append failed, conflicted or met a duplicate: no more sends until the in-flight ones settle. */
  #broken = false;
  #failure: unknown = null;
  #syncing = false;
  #stopped = false;
  /** The highest term this appender knows it was deposed from: never led again. */
  #retired: Term = 0;
  /** Ids stored by sends answered after a break, taken off the queue once all have settled. */
  readonly #storedMeanwhile = new Set<string>();
  readonly #stored = new Set<string>();
  readonly #storedOrder: string[] = [];
  readonly #idle = new Set<() => void>();

  constructor(private readonly d: AuditAppenderDeps) {}

  /** Queues an event this node decided (renewals are published live instead). */
  append(e: DomainEvent): void {
    if (e.type === 'LeadershipRenewed') {
      publishQuietly(this.d, this.d.names.renewals, e);
      return;
    }
    // A step-down is no committed decision: it is stored only behind the events of its own term.
    if (e.type === 'LeadershipLost' && e.term !== this.#term) return;
    this.#queue.push(e);
    this.#fill();
  }

  /**
   * Adopts the outbox of a topology record of term `recordTerm` that this node read as leader (to
   * fence on it, or after a write of unknown outcome). Before its election is committed the record's
   * outbox is the whole backlog, appended only once it leads; while it leads, a record of its own
   * term brings events of a write that landed unseen, and one of a newer term means it was deposed.
   */
  adopt(outbox: readonly DomainEvent[], recordTerm: Term): void {
    const fresh = outbox.filter((e) => !this.#stored.has(e.id));
    if (this.#leading && this.#term !== null && recordTerm > this.#term) {
      this.#deposed(this.#term);
    } else if (this.#leading) {
      const ids = new Set(fresh.map((e) => e.id));
      this.#queue.replace([...fresh, ...this.#queue.all().filter((e) => !ids.has(e.id))]);
    } else {
      this.#queue.replace(fresh);
      this.#term = null;
      this.#leading = false;
    }
    // The in-flight sends no longer match the queue's head: settle them, then resync.
    if (this.#sent > 0) this.#broken = true;
    this.#sent = 0;
    this.#expect = null;
  }

  /** This node's election for `term` is committed: append from now on, the adopted backlog first. */
  lead(term: Term): void {
    if ((this.#leading && this.#term === term) || term <= this.#retired) return;
    this.#leading = true;
    this.#term = term;
    this.#expect = null;
    this.#fill();
  }

  /** This node no longer leads: what is queued is still appended, unless a newer term has written. */
  follow(): void {
    this.#leading = false;
  }

  /** The committed events the next topology commit must carry: those the stream has not stored. */
  unstored(): readonly DomainEvent[] {
    return this.#queue.all().filter((e) => e.type !== 'LeadershipLost');
  }

  /** Resolves once nothing is queued or in flight, or nothing more can be appended. */
  flushed(): Promise<void> {
    if (this.#done()) return Promise.resolve();
    return new Promise<void>((resolve) => this.#idle.add(resolve));
  }

  /** Ends appending after the appends in flight. */
  stop(): void {
    this.#stopped = true;
    this.#wakeIdle();
  }

  #done(): boolean {
    return this.#inflight === 0 && (this.#queue.length === 0 || this.#term === null || this.#stopped);
  }

  #wakeIdle(): void {
    if (!this.#done()) return;
    for (const w of [...this.#idle]) w();
    this.#idle.clear();
  }

  /** Sends queued events, each expecting its predecessor's sequence, up to a window in flight. */
  #fill(): void {
    if (this.#stopped || this.#term === null || this.#broken || this.#syncing) return;
    if (this.#expect === null) {
      if (this.#queue.length > 0 && this.#inflight === 0) void this.#resync();
      return;
    }
    const d = this.d;
    while (this.#sent < this.#queue.length && this.#sent < WINDOW) {
      const e = this.#queue.at(this.#sent);
      if (e === undefined) break;
      // The first send after a sync expects the sequence it read; each one behind it, its
      // predecessor's id: a count of sequences could be made up by anyone else's messages.
      const before = this.#sent === 0 ? null : this.#queue.at(this.#sent - 1);
      const expect = before ? { lastMsgId: before.id } : { lastSeq: this.#expect };
      this.#sent++;
      this.#inflight++;
      // No timer of ours: an append settles by itself (the adapter times out), and a thousand timers
      // per bootstrap cost more than the appends.
      d.audit.append(d.names.event(e.type), eventBytes(e), e.id, expect).then(
        (ack) => this.#answered(e, ack),
        (err: unknown) => this.#answered(e, err instanceof Error ? err : new Error(String(err))),
      );
    }
  }

  #answered(e: DomainEvent, r: { seq: number; duplicate: boolean } | Error): void {
    this.#inflight--;
    if (r instanceof Error) {
      this.#broken = true;
      if (!isCasConflict(r)) this.#failure ??= r;
    } else if (this.#broken || r.duplicate || this.#queue.at(0) !== e) {
      // After a duplicate the expectations of the sends behind it are off by one: they conflict.
      this.#broken = true;
      this.#storedMeanwhile.add(e.id);
    } else {
      this.#expect = r.seq;
      this.#queue.shift();
      this.#sent--;
      this.#remember(e.id);
    }
    if (this.#broken && this.#inflight === 0) this.#afterBreak();
    else this.#fill();
    this.#wakeIdle();
  }

  /** Every send of a broken run has settled: take off what they stored, then resync. */
  #afterBreak(): void {
    this.#forget(this.#storedMeanwhile);
    this.#storedMeanwhile.clear();
    this.#sent = 0;
    this.#broken = false;
    this.#expect = null;
    const failure = this.#failure;
    this.#failure = null;
    if (failure !== null) {
      this.d.counters.republished++;
      this.d.log.debug({ err: failure }, 'audit append failed; retrying');
    }
    void this.#resync(failure !== null);
  }

  async #resync(pauseFirst = false): Promise<void> {
    if (this.#syncing) return;
    this.#syncing = true;
    try {
      if (pauseFirst) await this.#pause();
      while (!this.#stopped && this.#term !== null && this.#queue.length > 0 && !(await this.#sync())) {
        if (this.#term !== null) await this.#pause();
      }
    } finally {
      this.#syncing = false;
    }
    this.#fill();
    this.#wakeIdle();
  }

  /**
   * Learns the stream's last sequence, whether this node was deposed, and what of the queue is
   * stored already. Returns false when it could not (store unreachable) or must stop.
   */
  async #sync(): Promise<boolean> {
    const d = this.d;
    const term = this.#term;
    if (term === null) return false;
    try {
      const last = await withTimeout(d.audit.lastSeq(), d.timing.requestTimeoutMs, d.clock, 'audit read');
      // Judged after reading the stream: a newer leader writes there only after its fencing commit,
      // which cannot come while this node still leads its term.
      const committed = d.leads(term) ? term : await d.committedTerm();
      if (committed !== null && committed > term) {
        d.log.info(
          { term, committed, backlog: this.#queue.length },
          'audit: a newer term leads; its leader appends the backlog from the outbox',
        );
        this.#deposed(term);
        return false;
      }
      this.#forget(await this.#storedInTail(last));
      this.#expect = last;
      return true;
    } catch (err) {
      d.log.debug({ err }, 'audit sync failed; retrying');
      return false;
    }
  }

  /** Ids of queued events found among the stream's last messages, up to the last one of them. */
  async #storedInTail(last: number): Promise<Set<string>> {
    const found = new Set<string>();
    if (last === 0 || this.#queue.length === 0) return found;
    const from = Math.max(1, last - this.#queue.length - TAIL_SLACK + 1);
    const ids = new Set<string>();
    for await (const m of this.d.audit.read(from)) {
      if (m.seq > last) break;
      const json = decodeJson(m.data);
      if (json.ok && typeof json.value === 'object' && json.value !== null && 'id' in json.value) {
        ids.add(String(json.value.id));
      }
    }
    // Commit order is stream order: everything before the last one found is stored too.
    let cut = -1;
    const queued = this.#queue.all();
    for (const [i, e] of queued.entries()) if (ids.has(e.id)) cut = i;
    for (const e of queued.slice(0, cut + 1)) found.add(e.id);
    return found;
  }

  /** A newer term has written: this node's backlog is its successor's (in the outbox). */
  #deposed(term: Term): void {
    this.#queue.replace([]);
    this.#term = null;
    this.#leading = false;
    this.#retired = Math.max(this.#retired, term);
  }

  #forget(stored: ReadonlySet<string>): void {
    if (stored.size === 0) return;
    this.#queue.replace(this.#queue.all().filter((e) => !stored.has(e.id)));
    for (const id of stored) this.#remember(id);
  }

  #remember(id: string): void {
    if (this.#stored.has(id)) return;
    this.#stored.add(id);
    this.#storedOrder.push(id);
    if (this.#storedOrder.length > STORED_KEPT) this.#stored.delete(this.#storedOrder.shift() ?? '');
  }

  #pause(): Promise<void> {
    return new Promise<void>((r) => this.d.clock.setTimeout(() => r(), this.d.timing.retryIntervalMs));
  }
}

/** A queue taken from the front one by one (each acknowledgement) in O(1). */
class Backlog {
  #items: DomainEvent[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  at(i: number): DomainEvent | undefined {
    return this.#items[this.#head + i];
  }

  push(e: DomainEvent): void {
    this.#items.push(e);
  }

  shift(): void {
    this.#head++;
    // Compacted once the taken part outweighs the rest.
    if (this.#head > 64 && this.#head * 2 > this.#items.length) this.replace(this.all());
  }

  all(): DomainEvent[] {
    return this.#items.slice(this.#head);
  }

  replace(items: DomainEvent[]): void {
    this.#items = items;
    this.#head = 0;
  }
}

/** Publishes on the bus; a lost message is covered by the next (heartbeats, renewals). */
export function publishQuietly(
  d: { readonly bus: MessageBus; readonly log: Logger },
  subject: string,
  value: unknown,
): void {
  try {
    d.bus.publish(subject, encode(value));
  } catch (err) {
    d.log.debug({ err, subject }, 'publish failed');
  }
}
