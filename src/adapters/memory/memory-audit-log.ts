/**
 * The in-memory audit log: a JetStream stream of the messages appended on its subjects, numbered
 * from 1, deduplicated by message id within a window (two minutes by default, as on NATS).
 */
import { CasConflictError, InvalidValueError, TransportError } from '../../domain/errors.js';
import type { AppendExpectation, AuditLog } from '../../ports/bus.js';
import { checkPayload, type Endpoint } from './internal.js';
import type { BusHub } from './memory-bus.js';
import { assertSubject, subjectMatches } from './subjects.js';

/** One stored message. */
export interface AuditEntry {
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
  /** Clock time of the append, in ms. */
  readonly at: number;
}

/** @internal The shared contents of one log. */
export class AuditLogState {
  readonly name: string;
  readonly subjects: string;
  readonly #entries: AuditEntry[] = [];
  // msgId → first append; insertion order is time order, so the expired ones are at the front.
  readonly #ids = new Map<string, { seq: number; at: number }>();
  readonly #windowMs: number;
  /** Id of the last stored message ('' for none, or one stored without an id). */
  #lastMsgId = '';

  constructor(name: string, subjects: string, windowMs: number) {
    this.name = name;
    this.subjects = subjects;
    this.#windowMs = windowMs;
  }

  /** @throws CasConflictError when `expect` does not hold (a repeat id is checked first, as on NATS). */
  append(
    subject: string,
    data: Uint8Array,
    msgId: string,
    now: number,
    expect?: AppendExpectation,
  ): { seq: number; duplicate: boolean } {
    for (const [id, first] of this.#ids) {
      if (first.at + this.#windowMs > now) break;
      this.#ids.delete(id);
    }
    const first = this.#ids.get(msgId);
    if (first) return { seq: first.seq, duplicate: true };
    if (expect?.lastSeq !== undefined && expect.lastSeq !== this.#entries.length) {
      throw new CasConflictError(this.name, expect.lastSeq, this.#entries.length);
    }
    if (expect?.lastMsgId !== undefined && expect.lastMsgId !== this.#lastMsgId) {
      throw new CasConflictError(this.name, 0, null);
    }
    this.#lastMsgId = msgId;
    const seq = this.#entries.length + 1;
    this.#entries.push({ seq, subject, data: data.slice(), at: now });
    this.#ids.set(msgId, { seq, at: now });
    return { seq, duplicate: false };
  }

  /** Stores a plain publish on the stream's subjects (no message id, so no de-duplication). */
  capture(subject: string, data: Uint8Array, now: number): void {
    this.#lastMsgId = '';
    this.#entries.push({ seq: this.#entries.length + 1, subject, data: data.slice(), at: now });
  }

  get lastSeq(): number {
    return this.#entries.length;
  }

  from(seq: number): AuditEntry[] {
    return this.#entries.slice(Math.max(1, Math.floor(seq)) - 1);
  }
}

/** @internal A node's handle on a log. */
export class MemoryAuditLog implements AuditLog {
  readonly #ep: Endpoint;
  readonly #state: AuditLogState;
  readonly #hub: BusHub;

  constructor(ep: Endpoint, state: AuditLogState, hub: BusHub) {
    this.#ep = ep;
    this.#state = state;
    this.#hub = hub;
  }

  async append(
    subject: string,
    data: Uint8Array,
    msgId: string,
    expect?: AppendExpectation,
  ): Promise<{ seq: number; duplicate: boolean }> {
    assertSubject(subject, false);
    checkPayload(this.#ep.core, data);
    if (msgId.length === 0) throw new InvalidValueError('msgId must not be empty');
    if (!subjectMatches(this.#state.subjects, subject)) {
      // What a JetStream publish to a subject no stream listens on gets: no responders.
      throw new TransportError(`no stream "${this.#state.name}" on subject "${subject}"`);
    }
    return this.#ep.roundTrip(() => {
      const result = this.#state.append(subject, data, msgId, this.#ep.core.clock.now(), expect);
      // The message reached the server, so live subscribers get it too — even a duplicate,
      // since core NATS delivery knows nothing of the stream's deduplication.
      this.#hub.fanOut(subject, data, 0);
      return result;
    });
  }

  lastSeq(): Promise<number> {
    return this.#ep.roundTrip(() => this.#state.lastSeq);
  }

  read(fromSeq = 1): AsyncIterable<AuditEntry> {
    const ep = this.#ep;
    const state = this.#state;
    return {
      async *[Symbol.asyncIterator]() {
        const entries = await ep.roundTrip(() => state.from(fromSeq));
        for (const e of entries) yield { ...e, data: e.data.slice() };
      },
    };
  }
}
