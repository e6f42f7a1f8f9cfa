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
 * - Speed: a window of appends is in flight at once (a 1024-shard bootstrap is ~1,000 events).
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
import { decodeJson, encode } from '../protocol/codec.js';
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
}

/** Appends in flight at once. */
const WINDOW = 512;
/** Stored messages read beyond the backlog's length when looking for what is already stored. */
const TAIL_SLACK = 64;
/** Ids of stored events remembered, so an adopted outbox does not bring them back. */
const STORED_KEPT = 4096;

export class AuditAppender {
  /** Committed events not yet known to be stored, in commit order. */
  #queue: DomainEvent[] = [];
  /** The term this appender writes for; null when it has nothing to write for. */
  #term: Term | null = null;
  /** Whether this node leads `#term` (its election is committed). */
  #leading = false;
  /** The stream's last sequence as this appender knows it; null: read it before the next append. */
  #expect: number | null = null;
  #running: Promise<void> | null = null;
  #stopped = false;
  readonly #stored = new Set<string>();
  readonly #storedOrder: string[] = [];

  constructor(private readonly d: AuditAppenderDeps) {}

  /** Queues an event this node decided (renewals are published live instead). */
  append(e: DomainEvent): void {
    if (e.type === 'LeadershipRenewed') {
      publishQuietly(this.d, this.d.names.renewals, e);
      return;
    }
    this.#queue.push(e);
    this.#kick();
  }

  /**
   * Adopts the outbox of a topology record this node read as leader (to fence on it, or after a
   * write of unknown outcome). Before its election is committed the record's outbox is the whole
   * backlog; while leading, events of a write that landed unseen join the queue.
   */
  adopt(outbox: readonly DomainEvent[]): void {
    const fresh = outbox.filter((e) => !this.#stored.has(e.id));
    if (!this.#leading) {
      this.#queue = fresh;
      return;
    }
    const ids = new Set(fresh.map((e) => e.id));
    this.#queue = [...fresh, ...this.#queue.filter((e) => !ids.has(e.id))];
  }

  /** This node's election for `term` is committed: append from now on, the adopted backlog first. */
  lead(term: Term): void {
    if (this.#leading && this.#term === term) return;
    this.#leading = true;
    this.#term = term;
    this.#expect = null;
    this.#kick();
  }

  /** This node no longer leads: what is queued is still appended, unless a newer term has written. */
  follow(): void {
    this.#leading = false;
  }

  /** The committed events the next topology commit must carry: those the stream has not stored. */
  unstored(): readonly DomainEvent[] {
    return this.#queue.filter((e) => e.type !== 'LeadershipLost');
  }

  /** Resolves once nothing is queued, or nothing more can be appended. */
  async flushed(): Promise<void> {
    while (this.#running !== null) await this.#running;
  }

  /** Ends appending after the appends in flight. */
  stop(): void {
    this.#stopped = true;
  }

  #kick(): void {
    if (this.#running !== null || this.#term === null || this.#stopped) return;
    this.#running = this.#pump().finally(() => {
      this.#running = null;
      // Events queued while the pump was finishing.
      if (this.#queue.length > 0) this.#kick();
    });
  }

  async #pump(): Promise<void> {
    while (!this.#stopped && this.#term !== null && this.#queue.length > 0) {
      if (this.#expect === null) {
        if (!(await this.#sync())) await this.#pause();
        continue;
      }
      await this.#sendWindow(this.#expect);
    }
  }

  async #sendWindow(base: number): Promise<void> {
    const d = this.d;
    const batch = this.#queue.slice(0, WINDOW);
    const results = await Promise.allSettled(
      batch.map((e, i) =>
        withTimeout(
          d.audit.append(d.names.event(e.type), encode(e), e.id, base + i),
          d.timing.requestTimeoutMs,
          d.clock,
          'audit append',
        ),
      ),
    );
    let inStep = true;
    let failure: unknown = null;
    const stored = new Set<string>();
    for (const [i, r] of results.entries()) {
      const e = batch[i];
      if (e === undefined) continue;
      if (r.status === 'fulfilled') {
        stored.add(e.id);
        // After a duplicate the window's expectations are off by one: the rest conflict, then resync.
        if (r.value.duplicate) inStep = false;
        else if (inStep) this.#expect = r.value.seq;
      } else {
        inStep = false;
        if (!isCasConflict(r.reason)) failure ??= r.reason;
      }
    }
    this.#forget(stored);
    if (inStep) return;
    this.#expect = null;
    if (failure !== null) {
      d.counters.republished++;
      d.log.debug({ err: failure }, 'audit append failed; retrying');
      await this.#pause();
    }
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
      // Read after the stream: a newer leader writes there only after its fencing commit.
      const committed = await d.committedTerm();
      if (committed !== null && committed > term) {
        d.log.info(
          { term, committed, backlog: this.#queue.length },
          'audit: a newer term leads; its leader appends the backlog from the outbox',
        );
        this.#queue = [];
        this.#term = null;
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
    for (const [i, e] of this.#queue.entries()) if (ids.has(e.id)) cut = i;
    for (const e of this.#queue.slice(0, cut + 1)) found.add(e.id);
    return found;
  }

  #forget(stored: ReadonlySet<string>): void {
    if (stored.size === 0) return;
    this.#queue = this.#queue.filter((e) => !stored.has(e.id));
    for (const id of stored) {
      if (this.#stored.has(id)) continue;
      this.#stored.add(id);
      this.#storedOrder.push(id);
    }
    while (this.#storedOrder.length > STORED_KEPT) this.#stored.delete(this.#storedOrder.shift() ?? '');
  }

  #pause(): Promise<void> {
    return new Promise<void>((r) => this.d.clock.setTimeout(() => r(), this.d.timing.retryIntervalMs));
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
