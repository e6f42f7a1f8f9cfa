/**
 * Message bus: subject-based publish/subscribe and request/reply, the shape of NATS core.
 * Subjects are dot-separated tokens; subscriptions may use `*` (one token) and `>` (the rest).
 */
import type { Unsubscribe } from './kv.js';

export interface BusMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  /** Present when the sender awaits an answer (request/reply). */
  respond?(data: Uint8Array): void;
}

export interface MessageBus {
  /** Fire and forget. Messages published while disconnected may be lost (as on NATS). */
  publish(subject: string, data: Uint8Array): void;
  /** Delivers every message on a subject matching `pattern`; resolves once the interest is registered. */
  subscribe(pattern: string, handler: (msg: BusMessage) => void): Promise<Unsubscribe>;
  /** Sends and waits for the first answer. @throws TimeoutError (outcome unknown) or TransportError (no responders). */
  request(subject: string, data: Uint8Array, opts: { timeoutMs: number }): Promise<Uint8Array>;
}

/** What an append expects of the stream's last message. */
export interface AppendExpectation {
  readonly lastSeq?: number;
  readonly lastMsgId?: string;
}

/** The kept history of domain events (a JetStream stream on NATS), deduplicated by message id. */
export interface AuditLog {
  /**
   * Appends once per `msgId`: a repeat with the same id is acknowledged but not stored again. With
   * `expect`, the message is stored only if the stream's last message is the expected one — by
   * sequence (0: empty) or by the message id it was appended with (a plain publish has none) — so
   * a writer fences out any other writer and chains its appends. Many appends may be in flight at
   * once; they are stored in the order they were called.
   * Settles by itself: the adapter times out an append that gets no answer.
   * @throws CasConflictError when the expectation does not hold; TimeoutError (outcome unknown).
   */
  append(
    subject: string,
    data: Uint8Array,
    msgId: string,
    expect?: AppendExpectation,
  ): Promise<{ seq: number; duplicate: boolean }>;
  /** The sequence of the last stored message (0 when none was ever stored). */
  lastSeq(): Promise<number>;
  /** Reads stored messages with sequence ≥ `fromSeq` (1-based), oldest first, up to the current end. */
  read(fromSeq?: number): AsyncIterable<{ seq: number; subject: string; data: Uint8Array; at: number }>;
}
