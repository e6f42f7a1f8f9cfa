/**
 * The leader lease on a KV bucket whose TTL is the lease TTL: campaign by `create` (only if absent),
 * renew by `update` at the held revision, release by `delete` at that revision. The revision of the
 * winning `create` is the term. Implements the leadership machine's actors over any transport.
 */

import type { AcquireOutput, ReadOutput, RenewOutput } from '../../machines/leadership.machine.js';
import { isCasConflict, isKeyExists } from '../domain/errors.js';
import type { NodeId, Term } from '../domain/values.js';
import type { Clock } from '../ports/clock.js';
import type { KvBucket, Unsubscribe } from '../ports/kv.js';
import { decodeLease, encodeLease } from '../protocol/codec.js';
import type { LeaseRecord } from '../protocol/messages.js';
import { withTimeout } from './timeout.js';

export const LEASE_KEY = 'leader';

export interface LeaseStoreOptions {
  readonly timeoutMs: number;
  /** Called for a lease value that fails validation (written by something else). */
  readonly onMalformed?: (error: string) => void;
}

export class KvLeaseStore {
  constructor(
    private readonly bucket: KvBucket,
    private readonly clock: Clock,
    private readonly opts: LeaseStoreOptions,
  ) {}

  /** Campaign: acquired (term = revision), held by another, or unknown (reconcile by reading). */
  async acquire(nodeId: NodeId): Promise<AcquireOutput> {
    const startedAt = this.clock.now();
    try {
      const revision = await this.#op(this.bucket.create(LEASE_KEY, encodeLease(nodeId)), 'lease create');
      return { kind: 'acquired', term: revision, revision, startedAt, at: this.clock.now() };
    } catch (err) {
      if (isKeyExists(err)) {
        try {
          const lease = await this.#read();
          if (lease !== null) return { kind: 'held', lease, at: this.clock.now() };
        } catch {
          // fall through: unknown
        }
      }
      return { kind: 'unknown', reason: (err as Error).message, at: this.clock.now() };
    }
  }

  /**
   * Renew at the held revision. A conflict is re-read: an earlier renewal of ours may have applied.
   * Nothing is sent once the clock has reached `notAfter` (the renew deadline): the leader stops acting
   * then, and a renewal the followers saw would keep them waiting a full TTL for a leader that is gone.
   */
  async renew(
    nodeId: NodeId,
    term: Term,
    revision: number,
    notAfter = Number.POSITIVE_INFINITY,
  ): Promise<RenewOutput> {
    const startedAt = this.clock.now();
    if (startedAt >= notAfter) return { kind: 'late', at: startedAt };
    try {
      const next = await this.#op(
        this.bucket.update(LEASE_KEY, encodeLease(nodeId, term), revision),
        'lease renew',
      );
      return { kind: 'renewed', revision: next, startedAt, at: this.clock.now() };
    } catch (err) {
      if (!isCasConflict(err))
        return { kind: 'unknown', reason: (err as Error).message, at: this.clock.now() };
      try {
        const lease = await this.#read();
        if (lease === null || lease.holder !== nodeId || lease.term !== term) {
          return { kind: 'lost', lease, at: this.clock.now() };
        }
        // Still ours at a newer revision (a renewal whose answer we missed): renew from there.
        const next = await this.#op(
          this.bucket.update(LEASE_KEY, encodeLease(nodeId, term), lease.revision),
          'lease renew',
        );
        return { kind: 'renewed', revision: next, startedAt, at: this.clock.now() };
      } catch (e2) {
        if (isCasConflict(e2)) return { kind: 'lost', lease: null, at: this.clock.now() };
        return { kind: 'unknown', reason: (e2 as Error).message, at: this.clock.now() };
      }
    }
  }

  /**
   * Release: delete only if still held in that term, so a successor's lease is never touched. The
   * delete is at the revision held; on a conflict the lease is re-read, because a renewal of ours whose
   * answer never came back may have moved it to a newer revision of the same term (terms are unique).
   */
  async release(term: Term, revision: number): Promise<{ at: number }> {
    try {
      await this.#op(this.bucket.delete(LEASE_KEY, revision), 'lease release');
    } catch (err) {
      if (!isCasConflict(err)) return { at: this.clock.now() }; // unknown outcome: the TTL covers it
      try {
        const lease = await this.#read();
        if (lease !== null && lease.term === term && lease.revision !== revision)
          await this.#op(this.bucket.delete(LEASE_KEY, lease.revision), 'lease release');
      } catch {
        // Taken over or gone meanwhile: nothing of ours left to release.
      }
    }
    return { at: this.clock.now() };
  }

  async read(): Promise<ReadOutput> {
    const lease = await this.#read();
    return { lease, at: this.clock.now() };
  }

  /** Watches the lease key; `null` when deleted. Expiry produces no event (NATS 2.9 behaviour). */
  watch(onChange: (lease: LeaseRecord | null) => void): Promise<Unsubscribe> {
    return this.bucket.watch(
      LEASE_KEY,
      (change) => {
        if (change.op === 'delete' || change.value === null) return onChange(null);
        const d = decodeLease(change.value, change.revision);
        if (d.ok) onChange(d.value);
        else this.opts.onMalformed?.(d.error);
      },
      { includeCurrent: true },
    );
  }

  async #read(): Promise<LeaseRecord | null> {
    const entry = await this.#op(this.bucket.get(LEASE_KEY), 'lease read');
    if (entry === null) return null;
    const d = decodeLease(entry.value, entry.revision);
    if (d.ok) return d.value;
    this.opts.onMalformed?.(d.error);
    // Unreadable but present: treat as held by nobody we know, until its TTL removes it.
    return { holder: 'unknown', term: entry.revision, revision: entry.revision };
  }

  #op<T>(p: Promise<T>, what: string): Promise<T> {
    return withTimeout(p, this.opts.timeoutMs, this.clock, what);
  }
}
