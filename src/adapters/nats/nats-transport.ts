/**
 * The NATS transport: one NATS connection per node, giving it JetStream KV buckets, the core
 * message bus and the JetStream audit stream.
 */
import { type JetStreamClient, type JetStreamManager, jetstream } from '@nats-io/jetstream';
import type { NatsConnection, NodeConnectionOptions, Status } from '@nats-io/transport-node';
import { StoppedError } from '../../domain/errors.js';
import type { AuditLog } from '../../ports/bus.js';
import { type Clock, systemClock } from '../../ports/clock.js';
import type { KvBucketOptions, Unsubscribe } from '../../ports/kv.js';
import type { Connection, ConnectionStatus, Transport } from '../../ports/transport.js';
import { connectNats } from './connect.js';
import { type AuditLogOptions, openNatsAuditLog, resolveAuditLimits } from './nats-audit-log.js';
import { NatsBus } from './nats-bus.js';
import { type NatsKvBucket, openNatsBucket } from './nats-kv.js';
import { PublishAcks } from './publish-acks.js';
import { checkServer, type NatsLogger, type NatsStoreWarning, silentLogger } from './store-checks.js';

/**
 * Options of {@link natsTransport}: every NATS connection option passes through (`servers`,
 * `user`/`pass`, `token`, `authenticator` for nkeys or creds, `tls`, `name`, …), with defaults
 * suited to coordination rather than the client's own.
 */
export interface NatsTransportOptions extends NodeConnectionOptions {
  /** Where store warnings and connection events go; a pino `Logger` fits. Default: silent. */
  readonly logger?: NatsLogger;
  /**
   * Timeout of each JetStream operation (KV read/write, audit append), in ms. Default 2 s: it
   * must stay well under a lease TTL, so that a node learns of a failed renewal in time to step down.
   */
  readonly operationTimeoutMs?: number;
  /**
   * Options of the audit stream: its replicas and de-duplication window when created, and its
   * limits (message size, retention), checked against an existing stream. Validated here.
   */
  readonly auditLog?: AuditLogOptions;
  /**
   * Interval of each KV watch's liveness probe, in ms (0 disables it). Default 1 s: a watch whose
   * consumer died with its server is restarted within about two intervals of the next change,
   * instead of after the client's two missed 30 s heartbeats. Costs one read per watch per interval.
   */
  readonly watchProbeMs?: number;
  /**
   * Source of time for the adapter's own timers and deadlines (watch probes, watch restarts, waits
   * for current values). Default: the system clock. The client's own timers (request timeouts,
   * pings, reconnects) stay on real time: they pace a real socket.
   */
  readonly clock?: Clock;
}

export { NATS_DEFAULTS } from './connect.js';

/** A {@link Transport} over NATS; `connect` returns {@link NatsConnectionHandle}s. */
export interface NatsTransport extends Transport {
  readonly kind: 'nats';
  connect(nodeId: string): Promise<NatsConnectionHandle>;
}

/** A node's NATS connection: the {@link Connection} port plus what the runtime may want to inspect. */
export interface NatsConnectionHandle extends Connection {
  /** The underlying client connection (for advanced use; do not close it directly). */
  readonly nc: NatsConnection;
  /** Version of the server this connection reached first. */
  readonly serverVersion: string;
  /** Whether the server is part of a cluster. */
  readonly clustered: boolean;
  /** Store warnings found so far (server version at connect; replicas when opening buckets). */
  readonly storeWarnings: readonly NatsStoreWarning[];
  kv(bucket: string, opts?: KvBucketOptions): Promise<NatsKvBucket>;
}

function statusOf(s: Status): ConnectionStatus | null {
  switch (s.type) {
    case 'disconnect':
    case 'staleConnection':
      return 'disconnected';
    case 'reconnecting':
      return 'reconnecting';
    case 'reconnect':
      return 'connected';
    case 'close':
      return 'closed';
    default:
      return null;
  }
}

/**
 * Creates the NATS transport. Each `connect(nodeId)` opens its own connection named
 * `aether-<nodeId>`, checks the store (JetStream on, server version) and reports warnings.
 * @throws StoreMisconfiguredError from `connect` when JetStream is not enabled.
 */
export function natsTransport(opts: NatsTransportOptions = {}): NatsTransport {
  const {
    logger: givenLogger,
    operationTimeoutMs,
    auditLog: auditOpts,
    watchProbeMs,
    clock,
    ...connOpts
  } = opts;
  const logger = givenLogger ?? silentLogger;
  // Impossible limits fail here, at configuration, not at the first node's start.
  resolveAuditLimits(auditOpts);
  return {
    kind: 'nats',
    async connect(nodeId: string): Promise<NatsConnectionHandle> {
      const nc = await connectNats({ name: `aether-${nodeId}`, ...connOpts }, nodeId);
      try {
        const check = await checkServer(nc, { logger, timeoutMs: operationTimeoutMs ?? 2_000 });
        const js = jetstream(nc, { timeout: operationTimeoutMs ?? 2_000 });
        return new NatsConnectionImpl(
          nc,
          js,
          check.jsm,
          check.version,
          check.clustered,
          [...check.warnings],
          {
            logger,
            clock: clock ?? systemClock,
            watchProbeMs: watchProbeMs ?? 1_000,
            operationTimeoutMs: operationTimeoutMs ?? 2_000,
            ...(auditOpts ? { auditOpts } : {}),
          },
        );
      } catch (err) {
        await nc.close().catch(() => {});
        throw err;
      }
    },
  };
}

class NatsConnectionImpl implements NatsConnectionHandle {
  readonly bus: NatsBus;
  private readonly listeners = new Set<(s: ConnectionStatus) => void>();
  private readonly reconnectHooks = new Set<() => void>();
  private readonly closeHooks = new Set<() => void>();
  private readonly logger: NatsLogger;
  private readonly clock: Clock;
  private readonly auditOpts: AuditLogOptions | undefined;
  private readonly watchProbeMs: number;
  private readonly operationTimeoutMs: number;
  private closed = false;
  private last: ConnectionStatus = 'connected';

  constructor(
    readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    readonly serverVersion: string,
    readonly clustered: boolean,
    readonly storeWarnings: NatsStoreWarning[],
    o: {
      logger: NatsLogger;
      clock: Clock;
      watchProbeMs: number;
      operationTimeoutMs: number;
      auditOpts?: AuditLogOptions;
    },
  ) {
    this.operationTimeoutMs = o.operationTimeoutMs;
    this.logger = o.logger;
    this.clock = o.clock;
    this.auditOpts = o.auditOpts;
    this.watchProbeMs = o.watchProbeMs;
    this.bus = new NatsBus(nc, this.logger);
    void this.pumpStatus();
  }

  private async pumpStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      const mapped = statusOf(s);
      if (s.type === 'disconnect' || s.type === 'reconnect')
        this.logger.info({ server: s.server }, `nats ${s.type}`);
      if (s.type === 'reconnect') for (const fn of this.reconnectHooks) fn();
      if (mapped) this.emit(mapped);
    }
  }

  private emit(s: ConnectionStatus): void {
    // The client repeats 'reconnecting' once per attempt; listeners want changes.
    if (s === this.last) return;
    this.last = s;
    for (const l of this.listeners) {
      try {
        l(s);
      } catch (err) {
        this.logger.warn({ err }, 'connection status listener threw');
      }
    }
  }

  private assertOpen(op: string): void {
    if (this.closed || this.nc.isClosed()) throw new StoppedError(`${op}: connection is closed`);
  }

  kv(bucket: string, opts?: KvBucketOptions): Promise<NatsKvBucket> {
    this.assertOpen(`open bucket "${bucket}"`);
    return openNatsBucket(
      {
        nc: this.nc,
        js: this.js,
        clustered: this.clustered,
        logger: this.logger,
        clock: this.clock,
        isClosed: () => this.closed || this.nc.isClosed(),
        watchProbeMs: this.watchProbeMs,
        warn: (w) => this.storeWarnings.push(w),
        onReconnect: (fn) => {
          this.reconnectHooks.add(fn);
          return () => this.reconnectHooks.delete(fn);
        },
        onClose: (fn) => {
          this.closeHooks.add(fn);
          return () => this.closeHooks.delete(fn);
        },
      },
      bucket,
      opts,
    );
  }

  auditLog(name: string, subjects: string): Promise<AuditLog> {
    this.assertOpen(`open audit log "${name}"`);
    const acks = new PublishAcks(this.nc, name, this.operationTimeoutMs, this.clock);
    return openNatsAuditLog(this.jsm, this.js, acks, name, subjects, this.auditOpts, {
      logger: this.logger,
      warn: (w) => this.storeWarnings.push(w),
    });
  }

  onStatus(listener: (status: ConnectionStatus) => void): Unsubscribe {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.reconnectHooks.clear();
    // Watches stop with the connection: their probe and retry timers would otherwise outlive it.
    for (const fn of [...this.closeHooks]) fn();
    this.closeHooks.clear();
    try {
      await this.nc.close();
    } finally {
      this.emit('closed');
    }
  }
}
