/**
 * The in-memory transport: the library's embedded default and the test double. All nodes of one
 * process share one `MemoryTransport`; each gets its own connection. It behaves like NATS
 * JetStream KV and core NATS on server 2.9, takes all its time from the injected clock, and lets
 * faults be injected per node through `transport.faults`.
 */
import {
  InvalidValueError,
  StoppedError,
  StoreMisconfiguredError,
  TransportError,
} from '../../domain/errors.js';
import type { AuditLog, MessageBus } from '../../ports/bus.js';
import { type Clock, systemClock } from '../../ports/clock.js';
import type { KvBucket, KvBucketOptions, Unsubscribe } from '../../ports/kv.js';
import type { Connection, ConnectionStatus, StoreWarning, Transport } from '../../ports/transport.js';
import { FaultController } from './faults.js';
import type { Endpoint, Owned, TransportCore } from './internal.js';
import { Mailbox } from './mailbox.js';
import { AuditLogState, MemoryAuditLog } from './memory-audit-log.js';
import { BusHub, MemoryBus } from './memory-bus.js';
import { BucketState, MemoryKvBucket } from './memory-kv.js';
import { assertName, assertSubject } from './subjects.js';

/** Options of {@link memoryTransport}. */
export interface MemoryTransportOptions {
  /** Source of time for deliveries, timeouts and TTLs. Default: the system clock. Pass a `SimulatedClock` for deterministic runs. */
  readonly clock?: Clock;
  /** Time every message and watch change spends in flight, in ms. Default 0: delivered in a microtask. */
  readonly latencyMs?: number;
  /** Largest payload accepted, in bytes. Default 1 MiB, the NATS server's default `max_payload`. */
  readonly maxPayload?: number;
  /** How long an audit-log message id is remembered for deduplication, in ms. Default 2 minutes, as a JetStream stream's. */
  readonly duplicateWindowMs?: number;
  /**
   * Receives exceptions thrown by subscription, watch and status handlers. Default: rethrown in a
   * fresh microtask, so they surface as uncaught errors instead of vanishing.
   */
  readonly onHandlerError?: (err: unknown) => void;
}

/** A node's connection to the memory transport. */
export interface MemoryConnection extends Connection {
  readonly nodeId: string;
  /** The status as of now. */
  readonly status: ConnectionStatus;
}

/** @internal */
class MemoryConnectionImpl implements MemoryConnection, Endpoint {
  readonly nodeId: string;
  readonly core: TransportCore;
  readonly bus: MessageBus;
  /** Nothing to warn about: the memory store keeps every acknowledged write by construction. */
  readonly storeWarnings: readonly StoreWarning[] = [];
  readonly #onClosed: (c: MemoryConnectionImpl) => void;
  readonly #shared: SharedStores;
  readonly #ops: Mailbox;
  readonly #owned = new Set<Owned>();
  readonly #listeners = new Set<(status: ConnectionStatus) => void>();
  #status: ConnectionStatus = 'connected';

  constructor(
    nodeId: string,
    core: TransportCore,
    shared: SharedStores,
    onClosed: (c: MemoryConnectionImpl) => void,
  ) {
    this.nodeId = nodeId;
    this.core = core;
    this.#shared = shared;
    this.#onClosed = onClosed;
    this.#ops = new Mailbox(core.clock, core.onHandlerError);
    this.bus = new MemoryBus(this, shared.hub);
  }

  get status(): ConnectionStatus {
    return this.#status;
  }

  isOpen(): boolean {
    return this.#status !== 'closed';
  }

  isIsolated(): boolean {
    return this.core.faults.isIsolated(this.nodeId);
  }

  delayMs(): number {
    return this.core.faults.delayOf(this.nodeId);
  }

  assertOpen(): void {
    if (!this.isOpen()) throw this.#stopped();
  }

  roundTrip<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.isOpen()) {
        reject(this.#stopped());
        return;
      }
      this.#ops.push(
        this.delayMs(),
        () => {
          if (this.isIsolated()) reject(new TransportError(`${this.nodeId} is disconnected`));
          else {
            try {
              resolve(fn());
            } catch (err) {
              reject(err);
            }
          }
        },
        () => reject(this.#stopped()),
      );
    });
  }

  own(resource: Owned): () => void {
    this.#owned.add(resource);
    return () => this.#owned.delete(resource);
  }

  async kv(bucket: string, opts?: KvBucketOptions): Promise<KvBucket> {
    assertName('bucket', bucket);
    const ttlMs = opts?.ttlMs ?? 0;
    if (!Number.isFinite(ttlMs) || ttlMs < 0)
      throw new InvalidValueError(`ttlMs must be a finite ms ≥ 0, got ${ttlMs}`);
    return this.roundTrip(() => {
      let state = this.#shared.buckets.get(bucket);
      if (!state) {
        state = new BucketState(bucket, ttlMs, this.core.clock);
        this.#shared.buckets.set(bucket, state);
      } else if (state.ttlMs !== ttlMs) {
        // NATS would quietly hand back the old bucket; a TTL other than the one asked for breaks leases.
        throw new StoreMisconfiguredError(
          `bucket "${bucket}" exists with ttl ${state.ttlMs} ms, but ${ttlMs} ms was asked for`,
        );
      }
      return new MemoryKvBucket(this, state);
    });
  }

  async auditLog(name: string, subjects: string): Promise<AuditLog> {
    assertName('stream', name);
    assertSubject(subjects, true);
    return this.roundTrip(() => {
      let state = this.#shared.logs.get(name);
      if (!state) {
        const created = new AuditLogState(name, subjects, this.core.duplicateWindowMs);
        state = created;
        this.#shared.logs.set(name, created);
        this.#shared.hub.streams.push({
          subjects,
          capture: (subject, data) => created.capture(subject, data, this.core.clock.now()),
        });
      } else if (state.subjects !== subjects) {
        throw new StoreMisconfiguredError(
          `stream "${name}" exists on "${state.subjects}", not "${subjects}"`,
        );
      }
      return new MemoryAuditLog(this, state, this.#shared.hub);
    });
  }

  onStatus(listener: (status: ConnectionStatus) => void): Unsubscribe {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    this.shutdown();
  }

  /** @internal Closes at once: pending operations fail, subscriptions and watches vanish. */
  shutdown(): void {
    if (!this.isOpen()) return;
    this.#setStatus('closed');
    this.#ops.clear();
    for (const r of [...this.#owned]) r.close();
    this.#owned.clear();
    this.#onClosed(this);
  }

  /** @internal */
  isolationChanged(isolated: boolean): void {
    if (this.isOpen()) this.#setStatus(isolated ? 'disconnected' : 'connected');
  }

  #setStatus(status: ConnectionStatus): void {
    if (status === this.#status) return;
    this.#status = status;
    const listeners = [...this.#listeners];
    // Reported in a microtask so a listener cannot re-enter the fault or close call that caused it.
    queueMicrotask(() => {
      for (const l of listeners) {
        try {
          l(status);
        } catch (err) {
          this.core.onHandlerError(err);
        }
      }
    });
  }

  #stopped(): StoppedError {
    return new StoppedError(`connection of ${this.nodeId} is closed`);
  }
}

interface SharedStores {
  readonly hub: BusHub;
  readonly buckets: Map<string, BucketState>;
  readonly logs: Map<string, AuditLogState>;
}

/** The in-memory transport; see {@link memoryTransport}. */
export class MemoryTransport implements Transport {
  readonly kind = 'memory';
  /** Fault hooks, per node. */
  readonly faults: FaultController;
  /** The clock everything here runs on. */
  readonly clock: Clock;
  readonly #core: TransportCore;
  readonly #shared: SharedStores = { hub: new BusHub(), buckets: new Map(), logs: new Map() };
  readonly #connections = new Set<MemoryConnectionImpl>();

  constructor(opts: MemoryTransportOptions = {}) {
    const clock = opts.clock ?? systemClock;
    const latencyMs = opts.latencyMs ?? 0;
    const maxPayload = opts.maxPayload ?? 1024 * 1024;
    const duplicateWindowMs = opts.duplicateWindowMs ?? 120_000;
    if (!Number.isFinite(latencyMs) || latencyMs < 0)
      throw new InvalidValueError(`latencyMs must be ≥ 0, got ${latencyMs}`);
    if (!(maxPayload > 0)) throw new InvalidValueError(`maxPayload must be > 0, got ${maxPayload}`);
    if (!(duplicateWindowMs >= 0))
      throw new InvalidValueError(`duplicateWindowMs must be ≥ 0, got ${duplicateWindowMs}`);
    this.clock = clock;
    this.faults = new FaultController({
      isolationChanged: (nodeId, isolated) => this.#isolationChanged(nodeId, isolated),
      crash: (nodeId) => {
        for (const c of this.#of(nodeId)) c.shutdown();
      },
    });
    this.#core = {
      clock,
      latencyMs,
      maxPayload,
      duplicateWindowMs,
      faults: this.faults,
      onHandlerError:
        opts.onHandlerError ??
        ((err) =>
          queueMicrotask(() => {
            throw err;
          })),
      schedule: (fn, ms) => {
        if (ms > 0) clock.setTimeout(fn, ms);
        else queueMicrotask(fn);
      },
    };
  }

  /**
   * Opens a connection for `nodeId`. Several connections may share a node id; faults hit them all.
   * @throws TransportError when the node is isolated, as a connect attempt to an unreachable server fails.
   */
  async connect(nodeId: string): Promise<MemoryConnection> {
    if (nodeId.length === 0) throw new InvalidValueError('nodeId must not be empty');
    if (this.faults.isIsolated(nodeId)) throw new TransportError(`${nodeId} cannot reach the server`);
    const c = new MemoryConnectionImpl(nodeId, this.#core, this.#shared, (closed) =>
      this.#connections.delete(closed),
    );
    this.#connections.add(c);
    return c;
  }

  /** Open connections of `nodeId` (all nodes when omitted). */
  connections(nodeId?: string): MemoryConnection[] {
    return nodeId === undefined ? [...this.#connections] : this.#of(nodeId);
  }

  /** Closes every connection. Stored data stays, so a test may reconnect and look. */
  async close(): Promise<void> {
    for (const c of [...this.#connections]) c.shutdown();
  }

  #of(nodeId: string): MemoryConnectionImpl[] {
    return [...this.#connections].filter((c) => c.nodeId === nodeId);
  }

  #isolationChanged(nodeId: string, isolated: boolean): void {
    for (const c of this.#of(nodeId)) c.isolationChanged(isolated);
    if (isolated) return;
    for (const bucket of this.#shared.buckets.values()) {
      for (const w of [...bucket.watches]) if (w.nodeId === nodeId) w.catchUp();
    }
  }
}

/** Creates an in-memory transport shared by the nodes of one process. */
export function memoryTransport(opts?: MemoryTransportOptions): MemoryTransport {
  return new MemoryTransport(opts);
}
