/**
 * {@link AuditLog} over a JetStream stream: the kept, replayable history of domain events.
 */
import {
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  StorageType,
  type StreamInfo,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { StoreMisconfiguredError } from '../../domain/errors.js';
import type { AuditLog } from '../../ports/bus.js';
import { mapNatsError } from './errors.js';

/** Options of the audit stream when it is created. */
export interface AuditLogOptions {
  /** Replicas of the stream on a cluster. Default 1. */
  readonly replicas?: number;
  /**
   * Window within which a repeated message id is dropped, in ms. Default 5 minutes: long enough to
   * cover a publisher retrying across a leader failover (seconds), short enough to keep the
   * server's id table small.
   */
  readonly duplicateWindowMs?: number;
  /** Largest number of events kept (oldest dropped first); -1 = unlimited (the default). */
  readonly maxMessages?: number;
}

/**
 * Opens (creating if missing) the stream `name` capturing `subjects`. An existing stream must
 * capture `subjects`, or events would silently not be kept.
 * @internal
 */
export async function openNatsAuditLog(
  jsm: JetStreamManager,
  js: JetStreamClient,
  name: string,
  subjects: string,
  opts: AuditLogOptions = {},
): Promise<NatsAuditLog> {
  let info: StreamInfo;
  try {
    info = await jsm.streams.info(name).catch(async (err: unknown) => {
      if (!(err instanceof Error) || !/stream not found/i.test(err.message)) throw err;
      return jsm.streams.add({
        name,
        subjects: [subjects],
        storage: StorageType.File,
        num_replicas: opts.replicas ?? 1,
        duplicate_window: nanos(opts.duplicateWindowMs ?? 5 * 60_000),
        max_msgs: opts.maxMessages ?? -1,
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
  return new NatsAuditLog(jsm, js, name);
}

/** The audit stream of one cluster. */
export class NatsAuditLog implements AuditLog {
  /** @internal */
  constructor(
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    /** Stream name. */
    readonly name: string,
  ) {}

  async append(
    subject: string,
    data: Uint8Array,
    msgId: string,
  ): Promise<{ seq: number; duplicate: boolean }> {
    try {
      const ack = await this.js.publish(subject, data, { msgID: msgId, expect: { streamName: this.name } });
      return { seq: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      throw mapNatsError(err, { op: `append to ${this.name}` });
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
