/**
 * {@link KvBucket} over a NATS JetStream KV bucket (`@nats-io/kv`).
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import { type KV, Kvm, type KvStatus, type KvWatchEntry, KvWatchInclude } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { StoppedError, StoreMisconfiguredError } from '../../domain/errors.js';
import type { Clock, TimerHandle } from '../../ports/clock.js';
import type { KvBucket, KvBucketOptions, KvChange, KvEntry, Unsubscribe } from '../../ports/kv.js';
import { mapNatsError } from './errors.js';
import { checkReplicas, type NatsLogger, type NatsStoreWarning } from './store-checks.js';

/** @internal */
export interface OpenBucketContext {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly clustered: boolean;
  readonly logger: NatsLogger;
  /** Time for the watch deadlines and timers. */
  readonly clock: Clock;
  readonly isClosed: () => boolean;
  /** Called with every store warning found while opening. */
  readonly warn: (w: NatsStoreWarning) => void;
  /** Restarts live watches after a reconnect (see {@link NatsKvBucket.watch}). */
  readonly onReconnect: (fn: () => void) => Unsubscribe;
  /** Runs `fn` when the connection closes, so watches drop their timers with it. */
  readonly onClose: (fn: () => void) => Unsubscribe;
  /** Interval of the watch liveness probe, in ms; 0 disables it. */
  readonly watchProbeMs: number;
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
   * Watches through an ordered push consumer, supervised: the consumer lives on one server, and
   * when that server dies the client notices only after two missed 30 s heartbeats. So the watch
   * restarts from the revision after the last one delivered on reconnect, when its consumer ends,
   * and when a periodic probe finds a revision newer than the last delivered one that stays
   * undelivered for a whole probe interval. Nothing is repeated and every key's latest value
   * arrives; values overwritten during the gap are gone (the bucket keeps one per key).
   */
  async watch(
    key: string,
    onChange: (change: KvChange) => void,
    opts: { includeCurrent?: boolean } = {},
  ): Promise<Unsubscribe> {
    this.live('watch');
    let cursor = 0;
    let hasCurrent = false;
    try {
      if (!opts.includeCurrent) {
        // Pin the start so that a restart resumes exactly where the watch began.
        cursor = (await this.kv.status()).streamInfo.state.last_seq;
      } else {
        hasCurrent = key === '>' ? (await this.kv.status()).values > 0 : (await this.kv.get(key)) !== null;
      }
    } catch (err) {
      throw mapNatsError(err, { op: 'watch', key });
    }
    const w = new SupervisedWatch(
      this.kv,
      this.ctx,
      this.name,
      key,
      onChange,
      cursor,
      opts.includeCurrent === true,
    );
    // Creating the consumer goes through the cluster's meta leader, which can be slow to answer
    // for a few seconds after a server (re)joins; a timed-out attempt leaves at most an ephemeral
    // consumer that the server removes on its own.
    const clock = this.ctx.clock;
    const giveUpAt = clock.now() + WATCH_START_BUDGET_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        await w.start();
        break;
      } catch (err) {
        const mapped = mapNatsError(err, { op: 'watch', key });
        if (clock.now() >= giveUpAt || !(mapped.code === 'TIMEOUT' || mapped.code === 'TRANSPORT')) {
          w.stop();
          throw mapped;
        }
        this.ctx.logger.debug({ bucket: this.name, key, attempt, err }, 'kv watch start failed; retrying');
      }
    }
    if (hasCurrent) {
      // Resolve only once the current values are delivered: with one value kept per key, a write
      // landing before the consumer sends a key's current value would replace it unseen. Bounded,
      // because keys can expire in between and then nothing at all is sent.
      let timer: TimerHandle | undefined;
      await Promise.race([
        w.snapshotDelivered,
        new Promise<void>((resolve) => {
          timer = clock.setTimeout(resolve, SNAPSHOT_WAIT_MS);
        }),
      ]);
      clock.clearTimeout(timer);
    }
    return () => w.stop();
  }
}

type WatchIterator = Awaited<ReturnType<KV['watch']>>;

/**
 * How long `watch` keeps trying to create its consumer. Seen here: a three-server cluster's meta
 * leader can leave consumer creation unanswered for 6 s and more after a server rejoined; a failover
 * of the stream itself takes up to ~8 s.
 */
const WATCH_START_BUDGET_MS = 15_000;

/** Longest a watch with `includeCurrent` waits for the current values before resolving. */
const SNAPSHOT_WAIT_MS = 2_000;

/** One watch and what keeps it alive. @internal */
class SupervisedWatch {
  private iter: WatchIterator | null = null;
  private stopped = false;
  private restarting = false;
  private retryTimer: TimerHandle | null = null;
  private probeTimer: TimerHandle | null = null;
  private probing = false;
  /** True while current values are held back for sorting (the cursor lags on purpose then). */
  private buffering = false;
  /** Newest revision the last probe saw undelivered, or 0. */
  private suspect = 0;
  private readonly offReconnect: Unsubscribe;
  private readonly offClose: Unsubscribe;
  private snapshotDone: () => void = () => {};
  /** Settles once the first batch of current values has been delivered. */
  readonly snapshotDelivered = new Promise<void>((resolve) => {
    this.snapshotDone = resolve;
  });

  constructor(
    private readonly kv: KV,
    private readonly ctx: OpenBucketContext,
    private readonly bucket: string,
    private readonly key: string,
    private readonly onChange: (change: KvChange) => void,
    /** Last revision delivered (or the stream's last sequence when the watch began). */
    private cursor: number,
    private readonly includeCurrent: boolean,
  ) {
    this.offReconnect = ctx.onReconnect(() => this.restart('reconnect'));
    this.offClose = ctx.onClose(() => this.stop());
    this.scheduleProbe();
  }

  /** Sets the next liveness probe, one interval from now (the clock port has no interval timer). */
  private scheduleProbe(): void {
    if (this.stopped || this.ctx.watchProbeMs <= 0 || this.ctx.isClosed()) return;
    this.probeTimer = this.ctx.clock.setTimeout(() => {
      // Rescheduled before probing, so a slow probe does not stretch the interval.
      this.scheduleProbe();
      void this.probe();
    }, this.ctx.watchProbeMs);
  }

  async start(): Promise<void> {
    // With includeCurrent and nothing delivered yet, starting over delivers the current values.
    const fresh = this.includeCurrent && this.cursor === 0;
    const it = await this.kv.watch({
      key: this.key,
      include: fresh ? KvWatchInclude.LastValue : KvWatchInclude.UpdatesOnly,
      ...(fresh ? {} : { resumeFromRevision: this.cursor + 1 }),
    });
    if (this.stopped) {
      it.stop();
      return;
    }
    this.iter = it;
    void this.pump(it, fresh);
  }

  private deliver(e: KvWatchEntry): void {
    if (e.revision <= this.cursor) return;
    this.cursor = e.revision;
    try {
      this.onChange(toChange(e));
    } catch (err) {
      this.ctx.logger.warn({ bucket: this.bucket, key: this.key, err }, 'kv watch handler threw');
    }
  }

  /** Current values held back for sorting; null once delivered. */
  private held: KvWatchEntry[] | null = null;

  /** Delivers the held current values in revision order and ends buffering. */
  private flushHeld(): void {
    const held = this.held;
    if (held === null) return;
    this.held = null;
    this.buffering = false;
    held.sort((p, q) => p.revision - q.revision);
    for (const h of held) this.deliver(h);
    this.snapshotDone();
  }

  private async pump(it: WatchIterator, fresh: boolean): Promise<void> {
    // The server sends the current values (last per key) in no particular revision order: hold them
    // until the last of them (the client marks it `isUpdate`, as it does every later change; on 2.9
    // `delta` need not reach 0), then deliver them sorted. Values that expire before they are sent
    // never arrive, so a timer ends the wait too.
    this.held = fresh ? [] : null;
    this.buffering = fresh;
    const clock = this.ctx.clock;
    let timer: TimerHandle | undefined;
    if (fresh) {
      timer = clock.setTimeout(() => {
        if (it === this.iter) this.flushHeld();
      }, SNAPSHOT_WAIT_MS);
    }
    try {
      for await (const e of it) {
        if (this.stopped || it !== this.iter) return;
        if (this.held === null) {
          this.deliver(e);
          continue;
        }
        this.held.push(e);
        if (e.delta === 0 || e.isUpdate) this.flushHeld();
      }
    } catch (err) {
      this.ctx.logger.debug({ bucket: this.bucket, key: this.key, err }, 'kv watch consumer failed');
    } finally {
      if (timer !== undefined) clock.clearTimeout(timer);
    }
    if (!this.stopped && it === this.iter) this.restart('consumer ended');
  }

  /** Finds a change the consumer should have delivered by now. */
  private async probe(): Promise<void> {
    if (this.stopped || this.restarting || this.probing || this.buffering || this.ctx.isClosed()) return;
    this.probing = true;
    try {
      let newest: number;
      if (this.key === '>') {
        newest = (await this.kv.status()).streamInfo.state.last_seq;
      } else {
        // Raw get: a delete marker counts as a change; an expired key has no revision (and no event).
        newest = (await this.kv.get(this.key))?.revision ?? 0;
      }
      if (newest <= this.cursor) {
        this.suspect = 0;
      } else if (this.suspect > 0 && this.cursor < this.suspect) {
        this.restart(`revision ${this.suspect} not delivered`);
      } else {
        this.suspect = newest;
      }
    } catch {
      // The store is unreachable (failover, disconnect): the next probe or the reconnect handles it.
    } finally {
      this.probing = false;
    }
  }

  private restart(why: string, attempt = 0): void {
    if (this.stopped || (this.restarting && attempt === 0)) return;
    this.restarting = true;
    this.suspect = 0;
    const old = this.iter;
    this.iter = null;
    old?.stop();
    this.ctx.logger.debug(
      { bucket: this.bucket, key: this.key, why, from: this.cursor + 1 },
      'kv watch restart',
    );
    this.start().then(
      () => {
        this.restarting = false;
      },
      (err: unknown) => {
        // A closed connection never comes back: retrying would only keep a timer alive.
        if (this.stopped || this.ctx.isClosed()) return;
        // The stream may have no leader for several seconds after a server dies: keep trying.
        const delay = Math.min(2_000, 100 * 2 ** attempt);
        this.ctx.logger.debug({ bucket: this.bucket, key: this.key, err, delay }, 'kv watch restart failed');
        this.retryTimer = this.ctx.clock.setTimeout(() => this.restart(why, attempt + 1), delay);
      },
    );
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.offReconnect();
    this.offClose();
    if (this.retryTimer !== null) this.ctx.clock.clearTimeout(this.retryTimer);
    if (this.probeTimer !== null) this.ctx.clock.clearTimeout(this.probeTimer);
    this.retryTimer = null;
    this.probeTimer = null;
    this.iter?.stop();
    this.iter = null;
  }
}
