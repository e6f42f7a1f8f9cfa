/**
 * {@link MessageBus} over NATS core publish/subscribe and request/reply.
 */
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { StoppedError } from '../../domain/errors.js';
import type { BusMessage, MessageBus } from '../../ports/bus.js';
import type { Unsubscribe } from '../../ports/kv.js';
import { mapNatsError } from './errors.js';
import type { NatsLogger } from './store-checks.js';

function toBusMessage(m: Msg): BusMessage {
  if (!m.reply) return { subject: m.subject, data: m.data };
  return {
    subject: m.subject,
    data: m.data,
    respond: (data: Uint8Array) => {
      m.respond(data);
    },
  };
}

/** The bus of one NATS connection. */
export class NatsBus implements MessageBus {
  /** @internal */
  constructor(
    private readonly nc: NatsConnection,
    private readonly logger: NatsLogger,
  ) {}

  publish(subject: string, data: Uint8Array): void {
    if (this.nc.isClosed()) throw new StoppedError(`publish on ${subject}: connection is closed`);
    try {
      this.nc.publish(subject, data);
    } catch (err) {
      throw mapNatsError(err, { op: `publish on ${subject}` });
    }
  }

  async subscribe(pattern: string, handler: (msg: BusMessage) => void): Promise<Unsubscribe> {
    if (this.nc.isClosed()) throw new StoppedError(`subscribe to ${pattern}: connection is closed`);
    try {
      const sub = this.nc.subscribe(pattern, {
        callback: (err, msg) => {
          if (err) {
            this.logger.warn({ pattern, err }, 'subscription error');
            return;
          }
          try {
            handler(toBusMessage(msg));
          } catch (e) {
            // A throwing handler must not end the subscription for every other message.
            this.logger.warn({ pattern, subject: msg.subject, err: e }, 'bus handler threw');
          }
        },
      });
      // The flush round-trip guarantees the server has registered the interest.
      await this.nc.flush();
      return () => {
        if (!sub.isClosed()) sub.unsubscribe();
      };
    } catch (err) {
      throw mapNatsError(err, { op: `subscribe to ${pattern}` });
    }
  }

  async request(subject: string, data: Uint8Array, opts: { timeoutMs: number }): Promise<Uint8Array> {
    if (this.nc.isClosed()) throw new StoppedError(`request on ${subject}: connection is closed`);
    try {
      const reply = await this.nc.request(subject, data, { timeout: opts.timeoutMs });
      return reply.data;
    } catch (err) {
      throw mapNatsError(err, { op: `request on ${subject}` });
    }
  }
}
