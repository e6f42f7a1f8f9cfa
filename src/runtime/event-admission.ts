/**
 * Admits a domain event from the bus only if its origin held the lease of its term. Every event a
 * node publishes is decided by the leader of the term it carries (elections, renewals, step-downs and
 * every topology decision alike), so an event from anyone else is forged or misrouted. The holder of a
 * term is learned from the committed topology's leader and an admitted election's `previous` — not
 * from the lease record alone: a lease is one small write any client of the store can forge, and would
 * then vouch for forged events (the simulator's forging client did exactly that), while a leader speaks
 * only once its election is committed. An event whose term has no known holder yet (the bus can
 * outrun the topology watch) waits for one, and is dropped if none becomes known within the wait.
 */
import type { Logger } from 'pino';
import type { DomainEvent } from '../domain/events.js';
import type { NodeId, Term } from '../domain/values.js';
import type { Clock, TimerHandle } from '../ports/clock.js';
import type { NodeCounters } from './node-counters.js';

/** Terms whose holders are remembered: far more than a late event of a deposed leader can lag behind. */
const HOLDERS_KEPT = 64;
/** Events waiting for their term's holder: bounded, so a forger cannot grow a node's memory. */
const PENDING_KEPT = 256;

export interface EventAdmissionDeps {
  readonly clock: Clock;
  readonly log: Logger;
  readonly counters: NodeCounters;
  /**
   * How long an event waits for its term's holder to become known. A real leader commits its lease
   * and its election before it publishes, so the watches deliver them well within a lease TTL.
   */
  readonly waitMs: number;
  /** The leader of the committed topology this node holds; null before it has one. */
  readonly committedLeader: () => { readonly nodeId: NodeId; readonly term: Term } | null;
  readonly deliver: (e: DomainEvent) => void;
}

/** An event waiting for its term's holder, until a clock time. */
interface Waiting {
  readonly event: DomainEvent;
  readonly until: number;
}

export class EventAdmission {
  readonly #holders = new Map<Term, NodeId>();
  #pending: Waiting[] = [];
  #timer: TimerHandle | null = null;
  #closed = false;

  constructor(private readonly d: EventAdmissionDeps) {}

  /** Records that `nodeId` held the lease of `term` (from a committed topology). */
  noteHolder(term: Term, nodeId: NodeId): void {
    if (this.#closed || !(term > 0) || this.#holders.has(term)) return;
    this.#holders.set(term, nodeId);
    if (this.#holders.size > HOLDERS_KEPT) {
      this.#holders.delete(Math.min(...this.#holders.keys()));
    }
    if (this.#pending.length > 0) this.#settle(false);
  }

  /** Delivers `e` if its origin held its term, drops it if another node did, else holds it back. */
  admit(e: DomainEvent): void {
    if (this.#closed) return;
    const verdict = this.#judge(e);
    if (verdict === 'accept') this.#accept(e);
    else if (verdict === 'reject') this.#drop(e, 'its origin did not hold the lease of its term');
    else this.#hold(e);
  }

  /** Drops what waits and stops the timer. */
  close(): void {
    this.#closed = true;
    this.#pending = [];
    if (this.#timer !== null) this.d.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #holderOf(term: Term): NodeId | undefined {
    const committed = this.d.committedLeader();
    if (committed !== null && committed.term === term) return committed.nodeId;
    return this.#holders.get(term);
  }

  #judge(e: DomainEvent): 'accept' | 'reject' | 'wait' {
    const holder = this.#holderOf(e.term);
    if (holder === undefined) return 'wait';
    return holder === e.origin ? 'accept' : 'reject';
  }

  #accept(e: DomainEvent): void {
    this.d.deliver(e);
    // The holder of a term vouches for its predecessor: late step-downs of that term are then judged.
    if (e.type === 'LeaderElected' && e.previous !== null)
      this.noteHolder(e.previous.term, e.previous.nodeId);
  }

  #drop(e: DomainEvent, why: string): void {
    this.d.counters.forgedEvents++;
    this.d.log.warn(
      { type: e.type, id: e.id, origin: e.origin, term: e.term, holder: this.#holderOf(e.term) ?? null },
      `dropped an event: ${why}`,
    );
  }

  #hold(e: DomainEvent): void {
    if (this.#pending.length >= PENDING_KEPT) {
      const oldest = this.#pending.shift();
      if (oldest) this.#drop(oldest.event, 'too many events wait for their term to be known');
    }
    this.#pending.push({ event: e, until: this.d.clock.now() + this.d.waitMs });
    this.#arm();
  }

  /** Delivers or drops what waits and can be judged now; with `expire`, what waited too long too. */
  #settle(expire: boolean): void {
    const now = this.d.clock.now();
    // An accepted election can name its predecessor's holder: judge again until nothing changes.
    for (let progress = true; progress; ) {
      progress = false;
      const still: Waiting[] = [];
      for (const p of this.#pending.splice(0)) {
        const verdict = this.#judge(p.event);
        if (verdict === 'wait' && !(expire && p.until <= now)) {
          still.push(p);
          continue;
        }
        progress = true;
        if (verdict === 'accept') this.#accept(p.event);
        else if (verdict === 'reject') this.#drop(p.event, 'its origin did not hold the lease of its term');
        else this.#drop(p.event, `no holder of its term became known within ${this.d.waitMs} ms`);
      }
      this.#pending = [...still, ...this.#pending];
    }
    this.#arm();
  }

  #arm(): void {
    if (this.#timer !== null) this.d.clock.clearTimeout(this.#timer);
    this.#timer = null;
    const first = this.#pending[0];
    if (first === undefined || this.#closed) return;
    this.#timer = this.d.clock.setTimeout(
      () => {
        this.#timer = null;
        this.#settle(true);
      },
      Math.max(0, first.until - this.d.clock.now()),
    );
  }
}
