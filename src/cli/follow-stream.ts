/**
 * Follows a JetStream stream live, resuming after the last message read whenever the connection
 * comes back or the consumer ends: every stream sequence is handed over once, in order, across
 * server restarts and reconnects.
 */
import {
  type ConsumerMessages,
  DeliverPolicy,
  type JsMsg,
  jetstream,
  type OrderedConsumerOptions,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { StoppedError } from '../domain/errors.js';

/** Where a follow starts before it has read anything. */
export type FollowStart =
  | { readonly kind: 'all' }
  | { readonly kind: 'time'; readonly at: Date }
  /** After this stream sequence (0: from the first). */
  | { readonly kind: 'after'; readonly seq: number };

export interface FollowOptions {
  readonly nc: NatsConnection;
  readonly stream: string;
  readonly start: FollowStart;
  /** One subject to filter on at the server, if any. */
  readonly filter?: string;
  /** Called for each message, once, in stream order. */
  readonly onMessage: (m: JsMsg) => void;
  /** Called with one line for a person when the follow loses or regains the stream. */
  readonly note: (line: string) => void;
  /** Ends the follow. */
  readonly signal: AbortSignal;
  /** Timeout of each JetStream request (consumer creation), in ms. Default 2 s. */
  readonly timeoutMs?: number;
}

/** Longest wait between two attempts to re-create the consumer while the stream is unavailable. */
const MAX_RETRY_MS = 2_000;

/**
 * Consumer options that read from `start`, or right after `after` once something was read.
 * @internal exported for tests.
 */
export function consumerOptions(
  start: FollowStart,
  after: number,
  filter: string | undefined,
): Partial<OrderedConsumerOptions> {
  const f = filter !== undefined ? { filter_subjects: filter } : {};
  if (after > 0 || start.kind === 'after')
    return { ...f, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: after + 1 };
  if (start.kind === 'time')
    return { ...f, deliver_policy: DeliverPolicy.StartTime, opt_start_time: start.at.toISOString() };
  return { ...f, deliver_policy: DeliverPolicy.All };
}

/**
 * Follows until `signal` aborts. The client's ordered consumer recovers from some losses by
 * itself, but not all (a consumer it cannot re-create while the server recovers just ends): so
 * every reconnect and every end not asked for re-creates the consumer here, after the last
 * sequence handed over, and anything at or below it is dropped.
 * @throws StoppedError when the connection closes for good.
 */
export async function followStream(o: FollowOptions): Promise<void> {
  const js = jetstream(o.nc, { timeout: o.timeoutMs ?? 2_000 });
  let after = o.start.kind === 'after' ? o.start.seq : 0;
  let current: ConsumerMessages | null = null;
  let reconnected = false;
  const stopCurrent = () => current?.stop();
  o.signal.addEventListener('abort', stopCurrent);
  // Ends when the connection closes.
  void (async () => {
    for await (const s of o.nc.status()) {
      if (s.type === 'disconnect') o.note(`NATS disconnected (${s.server}); reconnecting`);
      if (s.type === 'reconnect') {
        // Do not trust the old consumer to have survived: read again from after the last one.
        reconnected = true;
        stopCurrent();
      }
    }
  })();
  try {
    let failures = 0;
    while (!o.signal.aborted) {
      if (o.nc.isClosed()) throw new StoppedError(`following ${o.stream}: the NATS connection closed`);
      try {
        const consumer = await js.consumers.get(o.stream, consumerOptions(o.start, after, o.filter));
        current = await consumer.consume({ max_messages: 1_000 });
      } catch (err) {
        if (failures++ === 0) o.note(`cannot read ${o.stream} yet (${(err as Error).message}); retrying`);
        await pause(Math.min(MAX_RETRY_MS, 100 * 2 ** failures), o.signal);
        continue;
      }
      if (o.signal.aborted) current.stop();
      if (failures > 0 || reconnected) o.note(`reconnected; resuming after #${after}`);
      failures = 0;
      reconnected = false;
      try {
        for await (const m of current) {
          if (m.seq <= after) continue;
          after = m.seq;
          o.onMessage(m);
        }
      } catch (err) {
        o.note(`lost ${o.stream} (${(err as Error).message}); resuming after #${after}`);
      }
      current = null;
    }
  } finally {
    o.signal.removeEventListener('abort', stopCurrent);
    current?.stop();
  }
}

/** Waits `ms`, or less if `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}
