/**
 * One validated timing and placement configuration. Impossible combinations are rejected at start
 * with an {@link InvalidConfigError} naming the fields, never discovered in production.
 */
import { InvalidConfigError } from './domain/errors.js';

export interface TimingConfig {
  /**
   * How long the leader lease lives after its last renewal. A crashed leader is replaced after at
   * most this long plus one renew interval. Default 10 s (the domain model: "detect failure in 10s").
   */
  readonly leaseTtlMs: number;
  /**
   * How often the leader renews its lease. Must be below half the TTL so that one lost renewal does
   * not cost the lease. Default 3 s (the domain model's renewal policy).
   */
  readonly renewIntervalMs: number;
  /**
   * The leader steps down by itself when no renewal has succeeded for this long, measured from the
   * start of its last successful renewal. Must be above the renew interval (to allow one retry) and
   * below the TTL, so the old leader stops acting before any follower can win the lease.
   * Default 7 s: two renewals may fail, and 3 s of margin remain before the lease can lapse.
   */
  readonly renewDeadlineMs: number;
  /**
   * Pause between campaign attempts after an unknown outcome or a transport error. Default 1 s:
   * quick enough to take over soon after a lapse, slow enough not to hammer a struggling store.
   */
  readonly retryIntervalMs: number;
  /** How often every node announces itself. Default 30 s (the domain model's heartbeat). */
  readonly heartbeatIntervalMs: number;
  /**
   * A node not heard from for this long is marked Failed by the leader. Must be at least three
   * heartbeat intervals: one lost heartbeat never fails a node, and a node cut off from the store
   * stops serving (after `failureTimeout − 2 × heartbeatInterval` without confirming its membership)
   * a full heartbeat interval before the leader may give its shards away. Default 90 s (the domain
   * model).
   */
  readonly failureTimeoutMs: number;
  /**
   * How long the leader waits for an old owner to release a shard before retrying the hand-off.
   * Default 5 s: an owner that cannot release within that is probably failing, and the failure
   * detector will take over.
   */
  readonly handoffTimeoutMs: number;
  /** Timeout of one request/reply or store operation; a timeout is an unknown outcome. Default 2 s. */
  readonly requestTimeoutMs: number;
  /**
   * How long the record of a Left or Failed node stays in the topology before the leader removes it
   * (keeping only a tombstone of its incarnation). Every id that ever joined would otherwise cost bytes
   * in every commit and every follower's decode. It must exceed the failure timeout: a process cut off
   * past its deadline must still find itself recorded as Failed when it comes back, and rejoin as a new
   * incarnation, and a late heartbeat of a departed incarnation must meet its record. Default 10 min:
   * well above the 90 s failure timeout, so that the old process is certainly gone or fenced, and short
   * enough that churn of fresh ids keeps the record small.
   */
  readonly departedRetentionMs: number;
}

/**
 * How long a node may serve after its membership was last confirmed (a read from the store that
 * shows it a member, as this process). The leader may reassign a silent node's shards at the
 * earliest `failureTimeout` after the last heartbeat it heard, and that heartbeat left at most one
 * heartbeat interval before the node lost the store; serving stops one more interval before that.
 */
export function fenceAfterMs(t: Pick<TimingConfig, 'failureTimeoutMs' | 'heartbeatIntervalMs'>): number {
  return t.failureTimeoutMs - 2 * t.heartbeatIntervalMs;
}

export const DEFAULT_TIMING: TimingConfig = {
  leaseTtlMs: 10_000,
  renewIntervalMs: 3_000,
  renewDeadlineMs: 7_000,
  retryIntervalMs: 1_000,
  heartbeatIntervalMs: 30_000,
  failureTimeoutMs: 90_000,
  handoffTimeoutMs: 5_000,
  requestTimeoutMs: 2_000,
  departedRetentionMs: 600_000,
};

/** Short timings for demos and tests: a crashed leader is replaced within ~2.5 s. */
export const FAST_TIMING: TimingConfig = {
  leaseTtlMs: 2_000,
  renewIntervalMs: 500,
  renewDeadlineMs: 1_500,
  retryIntervalMs: 250,
  heartbeatIntervalMs: 500,
  failureTimeoutMs: 2_000,
  handoffTimeoutMs: 1_000,
  requestTimeoutMs: 500,
  departedRetentionMs: 10_000,
};

/** Validates a partial timing config over the defaults; throws InvalidConfigError naming the fields. */
export function resolveTiming(
  partial: Partial<TimingConfig> = {},
  base: TimingConfig = DEFAULT_TIMING,
): TimingConfig {
  if (partial === null || typeof partial !== 'object') {
    throw new InvalidConfigError('timing', `must be an object, got ${String(partial)}`);
  }
  for (const key of Object.keys(partial)) {
    if (!(key in base)) {
      throw new InvalidConfigError(`timing.${key}`, `unknown field (known: ${Object.keys(base).join(', ')})`);
    }
  }
  const t = { ...base, ...partial } as TimingConfig;
  for (const [key, v] of Object.entries(t)) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new InvalidConfigError(
        `timing.${key}`,
        `must be a positive number of milliseconds, got ${String(v)}`,
      );
    }
  }
  if (t.renewIntervalMs * 2 >= t.leaseTtlMs) {
    throw new InvalidConfigError(
      'timing.renewIntervalMs',
      `must be below timing.leaseTtlMs / 2 (${t.leaseTtlMs / 2} ms), got ${t.renewIntervalMs} ms: one lost renewal would cost the lease`,
    );
  }
  if (t.renewDeadlineMs >= t.leaseTtlMs) {
    throw new InvalidConfigError(
      'timing.renewDeadlineMs',
      `must be below timing.leaseTtlMs (${t.leaseTtlMs} ms), got ${t.renewDeadlineMs} ms: a follower could take over while the old leader still acts`,
    );
  }
  if (t.renewDeadlineMs <= t.renewIntervalMs) {
    throw new InvalidConfigError(
      'timing.renewDeadlineMs',
      `must be above timing.renewIntervalMs (${t.renewIntervalMs} ms), got ${t.renewDeadlineMs} ms: the leader would step down before its first retry`,
    );
  }
  if (t.failureTimeoutMs <= t.heartbeatIntervalMs) {
    throw new InvalidConfigError(
      'timing.failureTimeoutMs',
      `must be above timing.heartbeatIntervalMs (${t.heartbeatIntervalMs} ms), got ${t.failureTimeoutMs} ms`,
    );
  }
  if (t.failureTimeoutMs < 3 * t.heartbeatIntervalMs) {
    throw new InvalidConfigError(
      'timing.failureTimeoutMs',
      `must be at least 3 × timing.heartbeatIntervalMs (${3 * t.heartbeatIntervalMs} ms), got ${t.failureTimeoutMs} ms: a node cut off from the store must stop serving before the leader may reassign its shards`,
    );
  }
  if (t.departedRetentionMs <= t.failureTimeoutMs) {
    throw new InvalidConfigError(
      'timing.departedRetentionMs',
      `must be above timing.failureTimeoutMs (${t.failureTimeoutMs} ms), got ${t.departedRetentionMs} ms: a process cut off past its deadline could come back to find its record gone instead of Failed`,
    );
  }
  return Object.freeze(t);
}
