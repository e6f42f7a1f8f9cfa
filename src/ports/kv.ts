/**
 * A key-value bucket with revisions, compare-and-set and watch — the shape of NATS JetStream KV
 * (server 2.9). Revisions strictly increase across the whole bucket, never per key, and survive
 * restarts; they serve as terms and fencing tokens.
 */

/** Unsubscribes a watch or subscription. Idempotent. */
export type Unsubscribe = () => void;

export interface KvEntry {
  readonly key: string;
  readonly value: Uint8Array;
  readonly revision: number;
}

/** A change seen by a watch. `op: 'delete'` for delete and purge. A TTL expiry produces no change (as on 2.9). */
export interface KvChange {
  readonly key: string;
  readonly op: 'put' | 'delete';
  readonly value: Uint8Array | null;
  readonly revision: number;
}

export interface KvBucketOptions {
  /** Time-to-live of every key after its last write, in ms; 0 or absent = no expiry. */
  readonly ttlMs?: number;
  /** Replicas for a clustered server (NATS only). */
  readonly replicas?: number;
}

export interface KvBucket {
  /** Current entry or null when absent, deleted or expired. Reads through the stream leader where the adapter can. */
  get(key: string): Promise<KvEntry | null>;
  /**
   * Writes only if the key is absent (never written, deleted, purged or expired).
   * @returns the new revision. @throws KeyExistsError when present.
   */
  create(key: string, value: Uint8Array): Promise<number>;
  /**
   * Writes only if the key's last revision is `expectedRevision`.
   * @returns the new revision. @throws CasConflictError when another write came first.
   */
  update(key: string, value: Uint8Array, expectedRevision: number): Promise<number>;
  /** Deletes the key; with `expectedRevision` only if it still is at that revision (CasConflictError otherwise). */
  delete(key: string, expectedRevision?: number): Promise<void>;
  /**
   * Calls `onChange` for every later change of `key` (or of every key when `key` is `'>'`).
   * Delivers the current value first when `includeCurrent` is set. Resolves once the watch is live.
   */
  watch(
    key: string,
    onChange: (change: KvChange) => void,
    opts?: { includeCurrent?: boolean },
  ): Promise<Unsubscribe>;
}
