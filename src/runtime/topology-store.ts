/**
 * The committed topology (the whole cluster state, shard map included) as one KV record, written
 * only by the leader by compare-and-set on its revision and stamped with the leader's term.
 */
import { CasConflictError, isKeyExists } from '../domain/errors.js';
import type { DomainEvent } from '../domain/events.js';
import type { ClusterState } from '../domain/state.js';
import type { NodeId, Term } from '../domain/values.js';
import type { Clock } from '../ports/clock.js';
import type { KvBucket, Unsubscribe } from '../ports/kv.js';
import { decodeTopology, encodeTopology } from '../protocol/codec.js';
import { encodeOutbox } from '../protocol/outbox.js';
import { withTimeout } from './timeout.js';

export const TOPOLOGY_KEY = 'topology';

export interface TopologyRecord {
  readonly state: ClusterState;
  readonly revision: number;
  readonly writer: NodeId;
  readonly term: Term;
  /** Committed events not yet stored in the audit stream, encoded (see protocol/outbox.ts). */
  readonly outbox: string;
}

export class KvTopologyStore {
  /** The last record decoded: a revision names one content, so a re-read of it is not decoded again. */
  #last: TopologyRecord | null = null;
  /** The last record this store wrote, as bytes and as the value they encode. */
  #written: { readonly data: Buffer; readonly record: Omit<TopologyRecord, 'revision'> } | null = null;

  constructor(
    private readonly bucket: KvBucket,
    private readonly clock: Clock,
    private readonly opts: { timeoutMs: number; onMalformed?: (error: string) => void },
  ) {}

  /** The current record, or null before the first commit (or when the stored one is unreadable). */
  async read(): Promise<TopologyRecord | null> {
    const entry = await withTimeout(
      this.bucket.get(TOPOLOGY_KEY),
      this.opts.timeoutMs,
      this.clock,
      'topology read',
    );
    if (entry === null) return null;
    return this.#decode(entry.value, entry.revision);
  }

  #decode(value: Uint8Array, revision: number): TopologyRecord | null {
    if (this.#last?.revision === revision) return this.#last;
    // The writer hears its own write back: what it encoded needs no validation.
    const w = this.#written;
    if (w !== null && Buffer.from(value.buffer, value.byteOffset, value.byteLength).equals(w.data)) {
      this.#last = { ...w.record, revision };
      return this.#last;
    }
    const d = decodeTopology(value);
    if (!d.ok) {
      this.opts.onMalformed?.(d.error);
      return null;
    }
    this.#last = { ...d.value, revision };
    return this.#last;
  }

  /**
   * Writes `state` with the audit `outbox` if the record is still at `expectedRevision` (0: not written yet).
   * @throws CasConflictError when another write came first.
   */
  async commit(
    state: ClusterState,
    expectedRevision: number,
    writer: NodeId,
    term: Term,
    outbox: readonly DomainEvent[] = [],
  ): Promise<number> {
    const encodedOutbox = encodeOutbox(outbox);
    const data = encodeTopology(state, writer, term, encodedOutbox);
    this.#written = { data: Buffer.from(data), record: { state, writer, term, outbox: encodedOutbox } };
    const op =
      expectedRevision === 0
        ? this.bucket.create(TOPOLOGY_KEY, data).catch((err: unknown) => {
            if (isKeyExists(err)) throw new CasConflictError(TOPOLOGY_KEY, 0, null, { cause: err });
            throw err;
          })
        : this.bucket.update(TOPOLOGY_KEY, data, expectedRevision);
    return withTimeout(op, this.opts.timeoutMs, this.clock, 'topology commit');
  }

  watch(onChange: (record: TopologyRecord) => void): Promise<Unsubscribe> {
    return this.bucket.watch(
      TOPOLOGY_KEY,
      (change) => {
        if (change.op !== 'put' || change.value === null) return;
        const record = this.#decode(change.value, change.revision);
        if (record !== null) onChange(record);
      },
      { includeCurrent: true },
    );
  }
}
