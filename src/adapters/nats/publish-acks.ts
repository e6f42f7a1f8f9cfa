/**
 * JetStream publishes that share one reply subscription. A `js.publish` makes a request of its
 * own per message (~75 µs of client work each here); an audit backlog of a thousand events
 * then takes ~100 ms where the server needs ~20. Many publishes may be in flight; the server
 * answers each, in the order it stored them.
 * @internal
 */
import {
  createInbox,
  type Msg,
  headers as makeHeaders,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import { CasConflictError, StoppedError, TimeoutError, TransportError } from '../../domain/errors.js';
import type { AppendExpectation } from '../../ports/bus.js';
import type { Clock, TimerHandle } from '../../ports/clock.js';
import { WRONG_LAST_SEQUENCE } from './errors.js';

/** JetStream API error code for "wrong last msg ID". */
const WRONG_LAST_MSG_ID = 10070;

export interface PubAck {
  readonly seq: number;
  readonly duplicate: boolean;
}

export interface PublishOptions {
  readonly msgId: string;
  /** Stored only if the stream's last message is this one (`Nats-Expected-Last-Sequence` / `-Msg-Id`). */
  readonly expect?: AppendExpectation;
}

interface Waiting {
  readonly resolve: (ack: PubAck) => void;
  readonly reject: (err: Error) => void;
  /** Clock time after which it is given up as timed out (outcome unknown). */
  readonly deadline: number;
  readonly expect: AppendExpectation | undefined;
}

export class PublishAcks {
  readonly #prefix = createInbox();
  readonly #waiting = new Map<string, Waiting>();
  #sub: Subscription | null = null;
  #next = 0;
  #sweep: TimerHandle | null = null;

  constructor(
    private readonly nc: NatsConnection,
    /** The stream the acks name: used in errors. */
    private readonly stream: string,
    private readonly timeoutMs: number,
    private readonly clock: Clock,
  ) {}

  publish(subject: string, data: Uint8Array, o: PublishOptions): Promise<PubAck> {
    if (this.nc.isClosed()) return Promise.reject(new StoppedError(`append to ${this.stream}: closed`));
    this.#subscribe();
    const token = String(++this.#next);
    const h = makeHeaders();
    h.set('Nats-Msg-Id', o.msgId);
    if (o.expect?.lastSeq !== undefined) h.set('Nats-Expected-Last-Sequence', String(o.expect.lastSeq));
    if (o.expect?.lastMsgId !== undefined) h.set('Nats-Expected-Last-Msg-Id', o.expect.lastMsgId);
    return new Promise<PubAck>((resolve, reject) => {
      this.#waiting.set(token, {
        resolve,
        reject,
        deadline: this.clock.now() + this.timeoutMs,
        expect: o.expect,
      });
      this.#armSweep();
      try {
        this.nc.publish(subject, data, { headers: h, reply: `${this.#prefix}.${token}` });
      } catch (err) {
        this.#settle(token, (w) =>
          w.reject(new TransportError(`append to ${this.stream} failed`, { cause: err })),
        );
      }
    });
  }

  /**
   * One timer for every publish waiting, not one each: a bootstrap's thousand appends would otherwise
   * arm and clear a thousand timers. A publish times out within a quarter timeout of its deadline.
   */
  #armSweep(): void {
    if (this.#sweep !== null) return;
    this.#sweep = this.clock.setTimeout(
      () => {
        this.#sweep = null;
        const now = this.clock.now();
        for (const [token, w] of [...this.#waiting]) {
          if (w.deadline > now) continue;
          this.#settle(token, (x) =>
            x.reject(new TimeoutError(`append to ${this.stream} timed out; the outcome is unknown`)),
          );
        }
        if (this.#waiting.size > 0) this.#armSweep();
      },
      Math.max(10, Math.floor(this.timeoutMs / 4)),
    );
  }

  #subscribe(): void {
    if (this.#sub !== null) return;
    const sub = this.nc.subscribe(`${this.#prefix}.*`, { callback: (_err, msg) => this.#answer(msg) });
    this.#sub = sub;
    void sub.closed.then(() => {
      for (const token of [...this.#waiting.keys()]) {
        this.#settle(token, (w) => w.reject(new StoppedError(`append to ${this.stream}: connection closed`)));
      }
    });
  }

  #answer(msg: Msg): void {
    const token = msg.subject.slice(this.#prefix.length + 1);
    this.#settle(token, (w) => {
      // An empty message with a 503 status is the server saying no stream listens on the subject.
      if (msg.data.length === 0 && msg.headers?.code === 503) {
        w.reject(new TransportError(`append to ${this.stream}: no responders (is the stream available?)`));
        return;
      }
      let ack: unknown;
      try {
        ack = msg.json();
      } catch (err) {
        w.reject(new TransportError(`append to ${this.stream}: unreadable acknowledgement`, { cause: err }));
        return;
      }
      const r = parseAck(ack, this.stream, w.expect);
      if (r instanceof Error) w.reject(r);
      else w.resolve(r);
    });
  }

  #settle(token: string, f: (w: Waiting) => void): void {
    const w = this.#waiting.get(token);
    if (w === undefined) return;
    this.#waiting.delete(token);
    if (this.#waiting.size === 0 && this.#sweep !== null) {
      this.clock.clearTimeout(this.#sweep);
      this.#sweep = null;
    }
    f(w);
  }
}

/** Turns a JetStream publish acknowledgement into an ack or a typed error. Pure. */
function parseAck(ack: unknown, stream: string, expect: AppendExpectation | undefined): PubAck | Error {
  if (typeof ack !== 'object' || ack === null)
    return new TransportError(`append to ${stream}: bad acknowledgement`);
  const a = ack as {
    seq?: unknown;
    duplicate?: unknown;
    error?: { err_code?: unknown; description?: unknown };
  };
  if (a.error !== undefined) {
    const description = String(a.error.description ?? 'error');
    if (a.error.err_code === WRONG_LAST_SEQUENCE) {
      const m = /wrong last sequence:\s*(\d+)/i.exec(description);
      return new CasConflictError(stream, expect?.lastSeq ?? 0, m?.[1] ? Number(m[1]) : null);
    }
    if (a.error.err_code === WRONG_LAST_MSG_ID) return new CasConflictError(stream, 0, null);
    return new TransportError(`append to ${stream} refused: ${description}`);
  }
  if (typeof a.seq !== 'number')
    return new TransportError(`append to ${stream}: acknowledgement without a sequence`);
  // The stream that stored it must be the audit stream (another could capture the subject too).
  const storedBy = (ack as { stream?: unknown }).stream;
  if (storedBy !== stream) return new TransportError(`append to ${stream}: stored by ${String(storedBy)}`);
  return { seq: a.seq, duplicate: a.duplicate === true };
}
