/**
 * A transport gives each node its own connection to the shared coordination store and bus.
 * Implementations: `memoryTransport()` (embedded default, with fault hooks) and `natsTransport()`.
 */
import type { AuditLog, MessageBus } from './bus.js';
import type { KvBucket, KvBucketOptions, Unsubscribe } from './kv.js';

/** Connection health as the node sees it; fed into the machines. */
export type ConnectionStatus = 'connected' | 'disconnected' | 'reconnecting' | 'closed';

/**
 * Something about the store that makes its guarantees weaker than the cluster relies on (an old
 * server release, too few replicas): the connection works, but an operator should hear of it.
 */
export interface StoreWarning {
  /** Stable, machine-readable kind, e.g. `SERVER_VERSION` or `REPLICAS` for NATS. */
  readonly code: string;
  /** One sentence for an operator: what is wrong and what to do. */
  readonly message: string;
  /** Structured facts behind the message (versions, bucket names, counts), for logs. */
  readonly details: Readonly<Record<string, unknown>>;
}

export interface Connection {
  readonly bus: MessageBus;
  /**
   * Store warnings found so far: at connect and whenever a bucket is opened, so the list can grow.
   * Always empty for a store that cannot be misconfigured (the memory transport).
   */
  readonly storeWarnings: readonly StoreWarning[];
  /** Opens (creating if missing) a KV bucket. @throws StoreMisconfiguredError if it exists with other options. */
  kv(bucket: string, opts?: KvBucketOptions): Promise<KvBucket>;
  /** Opens (creating if missing) the audit log of a cluster's domain events on `subjects`. */
  auditLog(name: string, subjects: string): Promise<AuditLog>;
  /** Reports connection status changes. */
  onStatus(listener: (status: ConnectionStatus) => void): Unsubscribe;
  /** Closes the connection; pending operations fail with StoppedError/TransportError. */
  close(): Promise<void>;
}

export interface Transport {
  /** Human-readable kind, e.g. `memory` or `nats`. */
  readonly kind: string;
  /** Opens a connection for one node. `nodeId` lets in-memory fault hooks target one node. */
  connect(nodeId: string): Promise<Connection>;
}
