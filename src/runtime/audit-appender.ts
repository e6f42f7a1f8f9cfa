/**
 * Appends the domain events this node decided to the audit stream, in order: a failed append is
 * retried, never assumed delivered (the stream de-duplicates by event id). Lease renewals go live
 * only, on their own subject: one every renew interval is noise in an audit trail, and a lost one is
 * superseded by the next.
 */
import type { Logger } from 'pino';
import type { DomainEvent } from '../domain/events.js';
import type { AuditLog, MessageBus } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import { encode } from '../protocol/codec.js';
import type { names } from '../protocol/names.js';
import type { NodeCounters } from './node-counters.js';
import { withTimeout } from './timeout.js';

export interface AuditAppenderDeps {
  readonly audit: AuditLog;
  readonly bus: MessageBus;
  readonly names: ReturnType<typeof names>;
  readonly clock: Clock;
  readonly log: Logger;
  readonly counters: NodeCounters;
  readonly timing: { readonly requestTimeoutMs: number; readonly retryIntervalMs: number };
}

export class AuditAppender {
  #chain: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(private readonly d: AuditAppenderDeps) {}

  append(e: DomainEvent): void {
    const d = this.d;
    if (e.type === 'LeadershipRenewed') {
      publishQuietly(d, d.names.renewals, e);
      return;
    }
    const subject = d.names.event(e.type);
    const data = encode(e);
    this.#chain = this.#chain.then(async () => {
      for (let attempt = 0; !this.#stopped || attempt === 0; attempt++) {
        try {
          await withTimeout(
            d.audit.append(subject, data, e.id),
            d.timing.requestTimeoutMs,
            d.clock,
            'audit append',
          );
          return;
        } catch (err) {
          if (this.#stopped) return;
          d.counters.republished++;
          d.log.debug({ err, id: e.id, attempt }, 'audit append failed; retrying');
          await new Promise<void>((r) => d.clock.setTimeout(() => r(), d.timing.retryIntervalMs));
        }
      }
    });
  }

  /** Resolves once every append so far has been tried. */
  flushed(): Promise<void> {
    return this.#chain.catch(() => {});
  }

  /** Appends still queued get one more try each, no retries. */
  stop(): void {
    this.#stopped = true;
  }
}

/** Publishes on the bus; a lost message is covered by the next (heartbeats, renewals). */
export function publishQuietly(
  d: { readonly bus: MessageBus; readonly log: Logger },
  subject: string,
  value: unknown,
): void {
  try {
    d.bus.publish(subject, encode(value));
  } catch (err) {
    d.log.debug({ err, subject }, 'publish failed');
  }
}
