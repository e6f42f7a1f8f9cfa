/**
 * Hands each domain event to the node's listeners once (events arrive both from this node's root
 * actor and from the bus), and every observation to the node's observers.
 */
import type { Logger } from 'pino';
import { InvalidValueError } from '../domain/errors.js';
import {
  DOMAIN_EVENT_TYPES,
  type DomainEvent,
  type DomainEventOf,
  type DomainEventType,
} from '../domain/events.js';
import type { NodeId } from '../domain/values.js';
import type { Observation } from '../observe/observation.js';
import type { Unsubscribe } from '../ports/kv.js';

export type Handler<T extends DomainEventType | '*'> = (
  event: T extends DomainEventType ? DomainEventOf<T> : DomainEvent,
) => void;

const EVENT_TYPES = new Set<string>(DOMAIN_EVENT_TYPES);
/** Event ids remembered for de-duplication: far more than arrive twice within any delay. */
const SEEN_IDS_KEPT = 4096;

export class EventFanout {
  readonly #listeners = new Map<string, Set<(e: DomainEvent) => void>>();
  readonly #observers = new Set<(o: Observation) => void>();
  readonly #seen = new Set<string>();
  readonly #seenOrder: string[] = [];
  readonly #onClose = new Set<() => void>();
  #closed = false;

  constructor(
    private readonly nodeId: NodeId,
    private readonly log: Logger,
  ) {}

  on<T extends DomainEventType | '*'>(type: T, handler: Handler<T>): Unsubscribe {
    if (type !== '*' && !EVENT_TYPES.has(type))
      throw new InvalidValueError(`unknown event type ${String(type)}`);
    let set = this.#listeners.get(type);
    if (!set) {
      set = new Set();
      this.#listeners.set(type, set);
    }
    const h = handler as (e: DomainEvent) => void;
    set.add(h);
    return () => set.delete(h);
  }

  observe(listener: (o: Observation) => void): Unsubscribe {
    this.#observers.add(listener);
    return () => this.#observers.delete(listener);
  }

  get observed(): boolean {
    return this.#observers.size > 0;
  }

  /** Whether an event of this id was delivered (among the last few thousand). */
  delivered(id: string): boolean {
    return this.#seen.has(id);
  }

  /** Delivers an event to the listeners unless it was delivered before. */
  deliver(e: DomainEvent): void {
    if (this.#seen.has(e.id)) return;
    this.#seen.add(e.id);
    this.#seenOrder.push(e.id);
    if (this.#seenOrder.length > SEEN_IDS_KEPT) this.#seen.delete(this.#seenOrder.shift() ?? '');
    for (const type of [e.type, '*']) {
      for (const h of this.#listeners.get(type) ?? []) {
        try {
          h(e);
        } catch (err) {
          this.log.error({ err, type: e.type }, 'event listener threw');
        }
      }
    }
    if (this.#observers.size > 0) this.emit({ kind: 'domain', nodeId: this.nodeId, event: e });
  }

  emit(o: Observation): void {
    for (const l of this.#observers) {
      try {
        l(o);
      } catch (err) {
        this.log.error({ err }, 'observer threw');
      }
    }
  }

  /** All domain events from now on as an async iterator; it ends when the fan-out closes. */
  events(): AsyncIterableIterator<DomainEvent> {
    const buffer: DomainEvent[] = [];
    let wake: (() => void) | null = null;
    const off = this.on('*', (e) => {
      buffer.push(e);
      wake?.();
    });
    const onClose = () => wake?.();
    this.#onClose.add(onClose);
    const end = () => {
      off();
      this.#onClose.delete(onClose);
    };
    const it: AsyncIterableIterator<DomainEvent> = {
      next: async () => {
        while (buffer.length === 0 && !this.#closed) await new Promise<void>((r) => (wake = r));
        wake = null;
        const value = buffer.shift();
        if (value === undefined) {
          end();
          return { done: true, value: undefined };
        }
        return { done: false, value };
      },
      return: async () => {
        end();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  /** Ends every iterator once it has handed out what it buffered. */
  close(): void {
    this.#closed = true;
    for (const w of [...this.#onClose]) w();
  }
}
