/**
 * {@link AuditLog} over a JetStream stream: the kept, replayable history of domain events.
 */
import {
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  StorageType,
  type StreamInfo,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { InvalidConfigError, StoreMisconfiguredError } from '../../domain/errors.js';
import type { AppendExpectation, AuditLog } from '../../ports/bus.js';
import { mapNatsError } from './errors.js';
import type { PublishAcks } from './publish-acks.js';
import { type NatsLogger, type NatsStoreWarning, silentLogger } from './store-checks.js';

/** Options of the audit stream when it is created; an existing stream is checked against them. */
export interface AuditLogOptions {
  /** Replicas of the stream on a cluster. Default 1. */
  readonly replicas?: number;
  /**
   * Window within which a repeated message id is dropped, in ms. Default 5 minutes: long enough to
   * cover a publisher retrying across a leader failover (seconds), short enough to keep the
   * server's id table small. Must not exceed `maxAgeMs` (the server refuses that).
   */
  readonly duplicateWindowMs?: number;
  /**
   * Largest message the stream stores, in bytes; a larger publish is refused by the server. Default
   * 1 MiB, nats-server's default `max_payload`: every event a node can publish at all fits (the
   * largest is a rebalance plan, 60–190 bytes per move), so a node's append is never refused, while a
   * client can no longer store messages of any size. Lower it only above your largest plan.
   */
  readonly maxMessageBytes?: number;
  /** Largest number of events kept (oldest dropped first); -1 = unlimited (the default). */
  readonly maxMessages?: number;
  /**
   * Largest total size kept, in bytes (oldest dropped first); -1 = unlimited. Default 1 GiB: years
   * of a busy cluster's decisions (a few hundred bytes each), and a ceiling on what a flood of
   * messages can make the server keep.
   */
  readonly maxBytes?: number;
  /** Age after which events are dropped, in ms; -1 = kept forever (the default: an audit trail). */
  readonly maxAgeMs?: number;
}

/** The stream limits in force, with which of them the caller chose. @internal */
export interface AuditLimits {
  readonly maxMessageBytes: number;
  readonly maxMessages: number;
  readonly maxBytes: number;
  readonly maxAgeMs: number;
  readonly duplicateWindowMs: number;
  /** The limits set explicitly: an existing stream that differs in one of these is refused. */
  readonly explicit: ReadonlySet<AuditLimitField>;
}

export type AuditLimitField = 'maxMessageBytes' | 'maxMessages' | 'maxBytes' | 'maxAgeMs';

export const AUDIT_LIMIT_DEFAULTS = {
  maxMessageBytes: 1024 * 1024,
  maxMessages: -1,
  maxBytes: 1024 * 1024 * 1024,
  maxAgeMs: -1,
  duplicateWindowMs: 5 * 60_000,
} as const;

/**
 * Resolves and validates the audit stream's limits. Pure.
 * @throws InvalidConfigError naming the field (`auditLog.maxAgeMs`, …).
 */
export function resolveAuditLimits(opts: AuditLogOptions = {}): AuditLimits {
  const explicit = new Set<AuditLimitField>();
  const pick = (field: AuditLimitField, unlimited: boolean): number => {
    const v = opts[field];
    if (v === undefined) return AUDIT_LIMIT_DEFAULTS[field];
    const ok = Number.isSafeInteger(v) && (v > 0 || (unlimited && v === -1));
    if (!ok) {
      throw new InvalidConfigError(
        `auditLog.${field}`,
        `must be a positive integer${unlimited ? ' or -1 (unlimited)' : ''}, got ${String(v)}`,
      );
    }
    explicit.add(field);
    return v;
  };
  const maxMessageBytes = pick('maxMessageBytes', false);
  const maxMessages = pick('maxMessages', true);
  const maxBytes = pick('maxBytes', true);
  const maxAgeMs = pick('maxAgeMs', true);
  const duplicateWindowMs = opts.duplicateWindowMs ?? AUDIT_LIMIT_DEFAULTS.duplicateWindowMs;
  if (!Number.isSafeInteger(duplicateWindowMs) || duplicateWindowMs <= 0) {
    throw new InvalidConfigError(
      'auditLog.duplicateWindowMs',
      `must be a positive integer, got ${String(opts.duplicateWindowMs)}`,
    );
  }
  if (maxAgeMs !== -1 && duplicateWindowMs > maxAgeMs) {
    throw new InvalidConfigError(
      'auditLog.duplicateWindowMs',
      `${duplicateWindowMs} must not exceed auditLog.maxAgeMs (${maxAgeMs})`,
    );
  }
  if (maxBytes !== -1 && maxBytes < maxMessageBytes) {
    throw new InvalidConfigError(
      'auditLog.maxBytes',
      `${maxBytes} must be at least auditLog.maxMessageBytes (${maxMessageBytes})`,
    );
  }
  return { maxMessageBytes, maxMessages, maxBytes, maxAgeMs, duplicateWindowMs, explicit };
}

/** A limit an existing stream has other than asked for. @internal */
export interface AuditLimitMismatch {
  readonly field: AuditLimitField;
  readonly existing: number;
  readonly requested: number;
}

/** The limits of an existing stream's config, in our units (the server says 0 for no age limit). */
function limitsOf(config: StreamInfo['config']): Record<AuditLimitField, number> {
  const age = Number(config.max_age ?? 0);
  return {
    maxMessageBytes: config.max_msg_size ?? -1,
    maxMessages: config.max_msgs ?? -1,
    maxBytes: config.max_bytes ?? -1,
    maxAgeMs: age > 0 ? Math.round(age / 1_000_000) : -1,
  };
}

/** The limits in which an existing stream differs from `limits`. Pure. @internal */
export function auditLimitMismatches(
  config: StreamInfo['config'],
  limits: AuditLimits,
): AuditLimitMismatch[] {
  const existing = limitsOf(config);
  const fields: AuditLimitField[] = ['maxMessageBytes', 'maxMessages', 'maxBytes', 'maxAgeMs'];
  return fields
    .filter((f) => existing[f] !== limits[f])
    .map((field) => ({ field, existing: existing[field], requested: limits[field] }));
}

/** Where opening the stream reports what it found. @internal */
export interface AuditLogContext {
  readonly logger: NatsLogger;
  readonly warn: (w: NatsStoreWarning) => void;
}

/**
 * Opens (creating if missing) the stream `name` capturing `subjects`. An existing stream must
 * capture `subjects`, or events would silently not be kept; one whose limits differ from limits the
 * caller set is refused, and one that differs only from the defaults (e.g. made by an older release,
 * without limits) is reported as an `AUDIT_LIMITS` warning.
 * @internal
 */
export async function openNatsAuditLog(
  jsm: JetStreamManager,
  js: JetStreamClient,
  acks: PublishAcks,
  name: string,
  subjects: string,
  opts: AuditLogOptions = {},
  ctx: AuditLogContext = { logger: silentLogger, warn: () => {} },
): Promise<NatsAuditLog> {
  const limits = resolveAuditLimits(opts);
  let info: StreamInfo;
  try {
    info = await jsm.streams.info(name).catch(async (err: unknown) => {
      if (!(err instanceof Error) || !/stream not found/i.test(err.message)) throw err;
      return jsm.streams.add({
        name,
        subjects: [subjects],
        storage: StorageType.File,
        num_replicas: opts.replicas ?? 1,
        duplicate_window: nanos(limits.duplicateWindowMs),
        max_msg_size: limits.maxMessageBytes,
        max_msgs: limits.maxMessages,
        max_bytes: limits.maxBytes,
        max_age: limits.maxAgeMs === -1 ? 0 : nanos(limits.maxAgeMs),
        discard: DiscardPolicy.Old,
      });
    });
  } catch (err) {
    throw mapNatsError(err, { op: `open audit log "${name}"` });
  }
  if (!info.config.subjects?.includes(subjects)) {
    throw new StoreMisconfiguredError(
      `audit stream "${name}" exists with subjects ${JSON.stringify(info.config.subjects ?? [])} ` +
        `but must capture "${subjects}"`,
    );
  }
  const mismatches = auditLimitMismatches(info.config, limits);
  const said = mismatches.map((m) => `${m.field} ${m.existing} (requested ${m.requested})`).join(', ');
  if (mismatches.some((m) => limits.explicit.has(m.field))) {
    throw new StoreMisconfiguredError(
      `audit stream "${name}" exists with other limits: ${said}; edit the stream ` +
        '(nats stream edit) or delete it, or request its limits (-1 = unlimited)',
    );
  }
  if (mismatches.length > 0) {
    const w: NatsStoreWarning = {
      code: 'AUDIT_LIMITS',
      message:
        `audit stream "${name}" has other limits than the defaults: ${said}. ` +
        'Any client allowed to publish on its subjects can fill it; set the limits with "nats stream edit".',
      details: { stream: name, ...Object.fromEntries(mismatches.map((m) => [m.field, m.existing])) },
    };
    ctx.logger.warn({ code: w.code, ...w.details }, w.message);
    ctx.warn(w);
  }
  return new NatsAuditLog(jsm, js, name, acks);
}

/** The audit stream of one cluster. */
export class NatsAuditLog implements AuditLog {
  /** @internal */
  constructor(
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    /** Stream name. */
    readonly name: string,
    private readonly acks: PublishAcks,
  ) {}

  append(
    subject: string,
    data: Uint8Array,
    msgId: string,
    expect?: AppendExpectation,
  ): Promise<{ seq: number; duplicate: boolean }> {
    return this.acks.publish(subject, data, expect === undefined ? { msgId } : { msgId, expect });
  }

  async lastSeq(): Promise<number> {
    try {
      return (await this.jsm.streams.info(this.name)).state.last_seq;
    } catch (err) {
      throw mapNatsError(err, { op: `read ${this.name}` });
    }
  }

  async *read(fromSeq = 1): AsyncIterable<{ seq: number; subject: string; data: Uint8Array; at: number }> {
    let last: number;
    let count: number;
    try {
      const info = await this.jsm.streams.info(this.name);
      last = info.state.last_seq;
      count = info.state.messages;
    } catch (err) {
      throw mapNatsError(err, { op: `read ${this.name}` });
    }
    if (count === 0 || last < fromSeq) return;
    // An ordered consumer recreates itself after a failover and never skips or repeats; we stop at
    // the last sequence seen when the read began ("up to the current end").
    const consumer = await this.js.consumers
      .get(this.name, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Math.max(1, fromSeq) })
      .catch((err: unknown) => {
        throw mapNatsError(err, { op: `read ${this.name}` });
      });
    const messages = await consumer.consume({ max_messages: 1_000 }).catch((err: unknown) => {
      throw mapNatsError(err, { op: `read ${this.name}` });
    });
    try {
      for await (const m of messages) {
        if (m.seq > last) break;
        yield {
          seq: m.seq,
          subject: m.subject,
          data: m.data,
          at: Math.floor(m.info.timestampNanos / 1_000_000),
        };
        if (m.seq >= last || m.info.pending === 0) break;
      }
    } finally {
      messages.stop();
      await consumer.delete().catch(() => {});
    }
  }
}
