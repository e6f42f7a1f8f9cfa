/**
 * {@link KvBucket} over a NATS JetStream KV bucket (`@nats-io/kv`).
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import { type KV, Kvm, type KvStatus, type KvWatchEntry, KvWatchInclude } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { StoppedError, StoreMisconfiguredError } from '../../domain/errors.js';
import type { KvBucket, KvBucketOptions, KvChange, KvEntry, Unsubscribe } from '../../ports/kv.js';
import { mapNatsError } from './errors.js';
import { checkReplicas, type NatsLogger, type StoreWarning } from './store-checks.js';

/** @internal */
export interface OpenBucketContext {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly clustered: boolean;
  readonly logger: NatsLogger;
  readonly isClosed: () => boolean;
  /** Called with every store warning found while opening. */
  readonly warn: (w: StoreWarning) => void;
  /** Restarts live watches after a reconnect (see {@link NatsKvBucket.watch}). */
  readonly onReconnect: (fn: () => void) => Unsubscribe;
}

/**
 * Opens (creating if missing) a bucket and checks that an existing one has the TTL (and, when
 * asked for, the replicas) we expect: `kvm.create()` on server 2.9 silently returns a bucket
 * created with other options, and a lease bucket with the wrong TTL breaks leadership timing.
 * @internal
 */
export async function openNatsBucket(
  ctx: OpenBucketContext,
  bucket: string,
  opts: KvBucketOptions = {},
): Promise<NatsKvBucket> {
  const ttlMs = opts.ttlMs ?? 0;
  let kv: KV;
  let status: KvStatus;
  try {
    kv = await new Kvm(ctx.js).create(bucket, {
      ttl: ttlMs,
      history: 1,
      replicas: opts.replicas ?? 1,
      // Direct gets may be answered by any replica, and a follower can lag the leader: we saw
      // 116 stale reads of 2,000 on a three-server cluster. Leases and shard maps must read
      // what the last CAS wrote, so every get goes through the stream leader (STREAM.MSG.GET).
      allow_direct: false,
    });
    status = await kv.status();
  } catch (err) {
    throw mapNatsError(err, { op: `open bucket "${bucket}"` });
  }
  if (status.ttl !== ttlMs) {
    throw new StoreMisconfiguredError(
      `bucket "${bucket}" exists with ttl ${status.ttl} ms but ${ttlMs} ms was requested; ` +
        'delete the bucket or use its TTL',
    );
  }
  if (opts.replicas !== undefined && status.replicas !== opts.replicas) {
    throw new StoreMisconfiguredError(
      `bucket "${bucket}" exists with ${status.replicas} replica(s) but ${opts.replicas} were requested`,
    );
  }
  for (const w of checkReplicas(bucket, status.replicas, ctx.clustered)) {
    ctx.logger.warn({ code: w.code, ...w.details }, w.message);
    ctx.warn(w);
  }
  return new NatsKvBucket(ctx, bucket, kv, status);
}

function toChange(e: KvWatchEntry): KvChange {
  const put = e.operation === 'PUT';
  return { key: e.key, op: put ? 'put' : 'delete', value: put ? e.value : null, revision: e.revision };
}

/** A JetStream KV bucket seen through the {@link KvBucket} port. */
export class NatsKvBucket implements KvBucket {
  /** @internal */
  constructor(
    private readonly ctx: OpenBucketContext,
    /** Bucket name. */
    readonly name: string,
    private readonly kv: KV,
    /** Bucket status when opened (TTL, replicas, stream info). */
    readonly status: KvStatus,
  ) {}

  private live(op: string): void {
    if (this.ctx.isClosed()) throw new StoppedError(`${op} on bucket "${this.name}": connection is closed`);
  }

  async get(key: string): Promise<KvEntry | null> {
    this.live('get');
    try {
      const e = await this.kv.get(key);
      if (e === null || e.operation !== 'PUT') return null;
      return { key: e.key, value: e.value, revision: e.revision };
    } catch (err) {
      throw mapNatsError(err, { op: 'get', key });
    }
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    this.live('create');
    try {
      return await this.kv.create(key, value);
    } catch (err) {
      throw mapNatsError(err, { op: 'create', key, expected: 0 });
    }
  }

  async update(key: string, value: Uint8Array, expectedRevision: number): Promise<number> {
    this.live('update');
    try {
      return await this.kv.update(key, value, expectedRevision);
    } catch (err) {
      throw mapNatsError(err, { op: 'update', key, expected: expectedRevision });
    }
  }

  async delete(key: string, expectedRevision?: number): Promise<void> {
    this.live('delete');
    try {
      await this.kv.delete(
        key,
        expectedRevision === undefined ? undefined : { previousSeq: expectedRevision },
      );
    } catch (err) {
      throw mapNatsError(err, { op: 'delete', key, expected: expectedRevision ?? -1 });
    }
  }

  /**
   * Watches through an ordered push consumer. After a reconnect the consumer may be gone with
   * the server that hosted it, and the client would notice only after two missed 30 s heartbeats;
   * so on reconnect we restart the watch from the revision after the last one delivered, which
   * neither repeats nor skips a change.
   */
  async watch(
    key: string,
    onChange: (change: KvChange) => void,
    opts: { includeCurrent?: boolean } = {},
  ): Promise<Unsubscribe> {
    this.live('watch');
    let stopped = false;
    let cursor = 0;
    let iter: Awaited<ReturnType<KV['watch']>> | null = null;

    const start = async (resumeFrom: number) => {
      const it = await this.kv.watch({
        key,
        include: opts.includeCurrent ? KvWatchInclude.LastValue : KvWatchInclude.UpdatesOnly,
        ...(resumeFrom > 0 ? { resumeFromRevision: resumeFrom } : {}),
      });
      if (stopped) {
        it.stop();
        return;
      }
      iter = it;
      void (async () => {
        for await (const e of it) {
          if (stopped || it !== iter) break;
          if (e.revision <= cursor) continue;
          cursor = e.revision;
          onChange(toChange(e));
        }
      })().catch((err: unknown) => {
        this.ctx.logger.warn({ bucket: this.name, key, err }, 'kv watch ended with an error');
      });
    };

    if (!opts.includeCurrent) {
      // Pin the starting point so a restart after reconnect resumes exactly where the watch began.
      try {
        const st = await this.kv.status();
        cursor = st.streamInfo.state.last_seq;
      } catch (err) {
        throw mapNatsError(err, { op: 'watch', key });
      }
    }
    try {
      await start(opts.includeCurrent ? 0 : cursor + 1);
    } catch (err) {
      throw mapNatsError(err, { op: 'watch', key });
    }

    const restart = () => {
      if (stopped) return;
      const old = iter;
      iter = null;
      old?.stop();
      // With includeCurrent and nothing seen yet, starting over delivers the current values again.
      const from = cursor > 0 || !opts.includeCurrent ? cursor + 1 : 0;
      start(from).catch((err: unknown) => {
        this.ctx.logger.warn(
          { bucket: this.name, key, err },
          'kv watch restart failed; retrying on next reconnect',
        );
      });
    };
    const offReconnect = this.ctx.onReconnect(restart);

    return () => {
      if (stopped) return;
      stopped = true;
      offReconnect();
      iter?.stop();
      iter = null;
    };
  }
}
