/**
 * In-memory KV buckets with the semantics of NATS JetStream KV on server 2.9: one revision
 * sequence per bucket, create-if-absent, compare-and-set, delete markers, bucket TTL without
 * expiry events, and watches that resume after a disconnect.
 */
import { CasConflictError, KeyExistsError, StoppedError } from '../../domain/errors.js';
import type { Clock } from '../../ports/clock.js';
import type { KvBucket, KvChange, KvEntry, Unsubscribe } from '../../ports/kv.js';
import { checkPayload, type Endpoint, type Owned } from './internal.js';
import { Mailbox } from './mailbox.js';
import { assertKey, subjectMatches } from './subjects.js';

/** The last message for a key: a value, or a delete marker (`value: null`). */
interface KvRecord {
  readonly key: string;
  readonly value: Uint8Array | null;
  readonly revision: number;
  readonly writtenAt: number;
}

/** @internal The shared contents of one bucket. */
export class BucketState {
  readonly name: string;
  readonly ttlMs: number;
  readonly watches = new Set<KvWatch>();
  readonly #clock: Clock;
  readonly #records = new Map<string, KvRecord>();
  #seq = 0;

  constructor(name: string, ttlMs: number, clock: Clock) {
    this.name = name;
    this.ttlMs = ttlMs;
    this.#clock = clock;
  }

  /** The last revision written to the bucket. */
  get seq(): number {
    return this.#seq;
  }

  get(key: string): KvEntry | null {
    const rec = this.#live(key);
    return rec?.value ? { key, value: rec.value.slice(), revision: rec.revision } : null;
  }

  create(key: string, value: Uint8Array): number {
    if (this.#live(key)?.value) throw new KeyExistsError(key);
    return this.#write(key, value);
  }

  update(key: string, value: Uint8Array, expectedRevision: number): number {
    this.#expect(key, expectedRevision);
    return this.#write(key, value);
  }

  delete(key: string, expectedRevision?: number): void {
    if (expectedRevision !== undefined) this.#expect(key, expectedRevision);
    // Like NATS, deleting writes a marker (and takes a revision) even when the key is absent.
    this.#write(key, null);
  }

  /** Records (values and delete markers) still in the bucket, matching `filter`, above `revision`, oldest first. */
  since(filter: string, revision: number): KvRecord[] {
    const out: KvRecord[] = [];
    for (const key of [...this.#records.keys()]) {
      const rec = this.#live(key);
      if (!rec || rec.revision <= revision) continue;
      if (subjectMatches(filter, key)) out.push(rec);
    }
    return out.sort((a, b) => a.revision - b.revision);
  }

  // The last-subject-sequence check of JetStream: a delete marker counts, an expired message does not.
  #expect(key: string, expected: number): void {
    const actual = this.#live(key)?.revision ?? 0;
    if (actual !== expected) throw new CasConflictError(key, expected, actual === 0 ? null : actual);
  }

  // Expiry is judged from the clock at each access, so it is exact under a simulated clock and,
  // as on server 2.9, tells no watcher.
  #live(key: string): KvRecord | undefined {
    const rec = this.#records.get(key);
    if (rec && this.ttlMs > 0 && this.#clock.now() >= rec.writtenAt + this.ttlMs) {
      this.#records.delete(key);
      return undefined;
    }
    return rec;
  }

  #write(key: string, value: Uint8Array | null): number {
    const rec: KvRecord = {
      key,
      value: value?.slice() ?? null,
      revision: ++this.#seq,
      writtenAt: this.#clock.now(),
    };
    this.#records.set(key, rec);
    for (const w of [...this.watches]) if (subjectMatches(w.filter, key)) w.offer(rec);
    return rec.revision;
  }
}

/** @internal One watch: delivers changes in revision order through its own mailbox. */
export class KvWatch implements Owned {
  readonly filter: string;
  readonly #ep: Endpoint;
  readonly #state: BucketState;
  readonly #onChange: (change: KvChange) => void;
  readonly #mailbox: Mailbox;
  #release: () => void = () => {};
  #active = true;
  // Highest revision handed to onChange; anything at or below it is a repeat and skipped.
  #delivered: number;

  constructor(
    ep: Endpoint,
    state: BucketState,
    filter: string,
    onChange: (c: KvChange) => void,
    fromRev: number,
  ) {
    this.#ep = ep;
    this.#state = state;
    this.filter = filter;
    this.#onChange = onChange;
    this.#delivered = fromRev;
    this.#mailbox = new Mailbox(ep.core.clock, ep.core.onHandlerError);
  }

  get nodeId(): string {
    return this.#ep.nodeId;
  }

  /**
   * Registers the watch. With `includeCurrent`, the current entries (delete markers too, as a
   * JetStream "last per subject" consumer sends them) are delivered at once, oldest first, and the
   * returned promise settles after them — so a caller that awaits the watch has seen the snapshot.
   */
  start(includeCurrent: boolean): Promise<void> {
    this.#state.watches.add(this);
    this.#release = this.#ep.own(this);
    if (!includeCurrent) return Promise.resolve();
    for (const rec of this.#state.since(this.filter, 0)) this.offer(rec, 0);
    return new Promise<void>((resolve, reject) => {
      this.#mailbox.push(0, resolve, () => reject(new StoppedError(`watch of ${this.#ep.nodeId} closed`)));
    });
  }

  /** Queues a change for delivery; an isolated node gets it later from {@link catchUp}. */
  offer(rec: KvRecord, delayMs = this.#ep.core.latencyMs + this.#ep.delayMs()): void {
    if (!this.#active || this.#ep.isIsolated()) return;
    const change: KvChange = {
      key: rec.key,
      op: rec.value ? 'put' : 'delete',
      value: rec.value,
      revision: rec.revision,
    };
    this.#mailbox.push(delayMs, () => this.#deliver(change));
  }

  /** Redelivers what the node missed while isolated: the records still in the bucket, as a JetStream consumer resumes. */
  catchUp(): void {
    for (const rec of this.#state.since(this.filter, this.#delivered)) this.offer(rec);
  }

  close(): void {
    if (!this.#active) return;
    this.#active = false;
    this.#state.watches.delete(this);
    this.#mailbox.clear();
    this.#release();
  }

  #deliver(change: KvChange): void {
    if (!this.#active || this.#ep.isIsolated() || change.revision <= this.#delivered) return;
    this.#delivered = change.revision;
    this.#onChange({ ...change, value: change.value?.slice() ?? null });
  }
}

/** @internal A node's handle on a bucket. */
export class MemoryKvBucket implements KvBucket {
  readonly #ep: Endpoint;
  readonly #state: BucketState;

  constructor(ep: Endpoint, state: BucketState) {
    this.#ep = ep;
    this.#state = state;
  }

  async get(key: string): Promise<KvEntry | null> {
    assertKey(key);
    return this.#ep.roundTrip(() => this.#state.get(key));
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    assertKey(key);
    checkPayload(this.#ep.core, value);
    return this.#ep.roundTrip(() => this.#state.create(key, value));
  }

  async update(key: string, value: Uint8Array, expectedRevision: number): Promise<number> {
    assertKey(key);
    checkPayload(this.#ep.core, value);
    return this.#ep.roundTrip(() => this.#state.update(key, value, expectedRevision));
  }

  async delete(key: string, expectedRevision?: number): Promise<void> {
    assertKey(key);
    return this.#ep.roundTrip(() => this.#state.delete(key, expectedRevision));
  }

  async watch(
    key: string,
    onChange: (change: KvChange) => void,
    opts?: { includeCurrent?: boolean },
  ): Promise<Unsubscribe> {
    assertKey(key, true);
    const includeCurrent = opts?.includeCurrent ?? false;
    const { watch, ready } = await this.#ep.roundTrip(() => {
      const w = new KvWatch(this.#ep, this.#state, key, onChange, includeCurrent ? 0 : this.#state.seq);
      return { watch: w, ready: w.start(includeCurrent) };
    });
    await ready;
    return () => watch.close();
  }
}
