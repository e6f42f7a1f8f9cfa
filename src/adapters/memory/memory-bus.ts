/**
 * The in-memory message bus: NATS core semantics (subject wildcards, fire-and-forget publish,
 * request/reply with "no responders"), with deliveries timed by the injected clock.
 */
import { StoppedError, TimeoutError, TransportError } from '../../domain/errors.js';
import type { BusMessage, MessageBus } from '../../ports/bus.js';
import type { Unsubscribe } from '../../ports/kv.js';
import { checkPayload, type Endpoint, type Owned, type TransportCore } from './internal.js';
import { Mailbox } from './mailbox.js';
import { assertSubject, subjectMatches } from './subjects.js';

/** @internal A subscription; delivers in publish order through its own mailbox. */
export class BusSubscription implements Owned {
  readonly pattern: string;
  readonly ep: Endpoint;
  readonly #hub: BusHub;
  readonly #handler: (msg: BusMessage) => void;
  readonly #mailbox: Mailbox;
  readonly #release: () => void;
  #active = true;

  constructor(hub: BusHub, ep: Endpoint, pattern: string, handler: (msg: BusMessage) => void) {
    this.#hub = hub;
    this.ep = ep;
    this.pattern = pattern;
    this.#handler = handler;
    this.#mailbox = new Mailbox(ep.core.clock, ep.core.onHandlerError);
    hub.subs.add(this);
    this.#release = ep.own(this);
  }

  /** Whether a request sent now could reach this subscriber. */
  get reachable(): boolean {
    return this.#active && this.ep.isOpen() && !this.ep.isIsolated();
  }

  /** Queues a message unless the receiving side loses it; `senderDelayMs` is what the sender's delay fault adds. */
  offer(
    subject: string,
    data: Uint8Array,
    senderDelayMs: number,
    respond?: (data: Uint8Array) => void,
  ): void {
    if (!this.reachable || this.ep.core.faults.shouldDrop(this.ep.nodeId)) return;
    const msg: BusMessage = respond
      ? { subject, data: data.slice(), respond }
      : { subject, data: data.slice() };
    this.#mailbox.push(this.ep.core.latencyMs + senderDelayMs + this.ep.delayMs(), () => {
      if (this.#active && !this.ep.isIsolated()) this.#handler(msg);
    });
  }

  close(): void {
    if (!this.#active) return;
    this.#active = false;
    this.#hub.subs.delete(this);
    this.#mailbox.clear();
    this.#release();
  }
}

/** @internal The subscriptions of every connection of one transport. */
export class BusHub {
  readonly subs = new Set<BusSubscription>();
  /** Streams capturing core publishes on their subjects, as a JetStream stream does. */
  readonly streams: Array<{
    readonly subjects: string;
    readonly capture: (subject: string, data: Uint8Array) => void;
  }> = [];

  /** Subscriptions whose pattern matches `subject`, in the order they were made. */
  matching(subject: string): BusSubscription[] {
    return [...this.subs].filter((s) => subjectMatches(s.pattern, subject));
  }

  /** Hands a message that reached the server to every matching subscriber. */
  fanOut(subject: string, data: Uint8Array, senderDelayMs: number): void {
    for (const sub of this.matching(subject)) sub.offer(subject, data, senderDelayMs);
  }
}

/** @internal A node's handle on the bus. */
export class MemoryBus implements MessageBus {
  readonly #ep: Endpoint;
  readonly #hub: BusHub;

  constructor(ep: Endpoint, hub: BusHub) {
    this.#ep = ep;
    this.#hub = hub;
  }

  get #core(): TransportCore {
    return this.#ep.core;
  }

  publish(subject: string, data: Uint8Array): void {
    this.#ep.assertOpen();
    assertSubject(subject, false);
    checkPayload(this.#core, data);
    // A disconnected NATS client drops what is published meanwhile; so do we.
    if (this.#ep.isIsolated() || this.#core.faults.shouldDrop(this.#ep.nodeId)) return;
    // A plain publish on a stream's subjects is stored too (no message id: never de-duplicated).
    for (const st of this.#hub.streams) if (subjectMatches(st.subjects, subject)) st.capture(subject, data);
    this.#hub.fanOut(subject, data, this.#ep.delayMs());
  }

  async subscribe(pattern: string, handler: (msg: BusMessage) => void): Promise<Unsubscribe> {
    this.#ep.assertOpen();
    assertSubject(pattern, true);
    const sub = new BusSubscription(this.#hub, this.#ep, pattern, handler);
    return () => sub.close();
  }

  request(subject: string, data: Uint8Array, opts: { timeoutMs: number }): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      const ep = this.#ep;
      const core = this.#core;
      try {
        ep.assertOpen();
        assertSubject(subject, false);
        checkPayload(core, data);
      } catch (err) {
        reject(err);
        return;
      }
      if (ep.isIsolated()) {
        reject(new TransportError(`${ep.nodeId} is disconnected; request on "${subject}" not sent`));
        return;
      }
      const responders = this.#hub.matching(subject).filter((s) => s.reachable);
      if (responders.length === 0) {
        reject(new TransportError(`no responders for "${subject}"`));
        return;
      }

      let done = false;
      const finish = (settle: () => void): void => {
        if (done) return;
        done = true;
        core.clock.clearTimeout(timer);
        release();
        settle();
      };
      const pending: Owned = {
        close: () =>
          finish(() => reject(new StoppedError(`connection of ${ep.nodeId} closed during request`))),
      };
      const release = ep.own(pending);
      const timer = core.clock.setTimeout(
        () =>
          finish(() =>
            reject(new TimeoutError(`request on "${subject}" timed out after ${opts.timeoutMs} ms`)),
          ),
        opts.timeoutMs,
      );

      // A request lost on the way out simply goes unanswered and times out.
      if (core.faults.shouldDrop(ep.nodeId)) return;
      const senderDelay = ep.delayMs();
      for (const sub of responders) {
        const responder = sub.ep;
        const respond = (reply: Uint8Array): void => {
          checkPayload(core, reply);
          if (done || !responder.isOpen() || responder.isIsolated()) return;
          if (core.faults.shouldDrop(responder.nodeId) || core.faults.shouldDrop(ep.nodeId)) return;
          const copy = reply.slice();
          core.schedule(
            () => {
              if (!ep.isIsolated()) finish(() => resolve(copy));
            },
            core.latencyMs + responder.delayMs() + ep.delayMs(),
          );
        };
        sub.offer(subject, data, senderDelay, respond);
      }
    });
  }
}
