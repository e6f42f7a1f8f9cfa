/**
 * A first-in first-out queue of deliveries for one receiver. Each item waits at least its own
 * delay, measured on the injected clock, and never overtakes an earlier item — so messages keep
 * their order even when a delay fault is injected or healed between them.
 */
import type { Clock, TimerHandle } from '../../ports/clock.js';

interface Item {
  readonly dueAt: number;
  readonly run: () => void;
  readonly cancel: (() => void) | undefined;
}

/** @internal */
export class Mailbox {
  readonly #clock: Clock;
  readonly #onError: (err: unknown) => void;
  #items: (Item | undefined)[] = [];
  #head = 0;
  #timer: TimerHandle | null = null;
  #microtask = false;
  // Bumped by clear() so a timer or microtask armed before it does nothing.
  #generation = 0;

  constructor(clock: Clock, onError: (err: unknown) => void) {
    this.#clock = clock;
    this.#onError = onError;
  }

  /** Number of items waiting. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /** Queues `run` to happen no sooner than `delayMs` from now and after every earlier item. */
  push(delayMs: number, run: () => void, cancel?: () => void): void {
    this.#items.push({ dueAt: this.#clock.now() + Math.max(0, delayMs), run, cancel });
    this.#arm();
  }

  /** Drops every waiting item, calling its `cancel`. */
  clear(): void {
    this.#generation++;
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#microtask = false;
    const pending = this.#items.slice(this.#head);
    this.#items = [];
    this.#head = 0;
    for (const item of pending) {
      try {
        item?.cancel?.();
      } catch (err) {
        this.#onError(err);
      }
    }
  }

  #arm(): void {
    if (this.#timer !== null || this.#microtask) return;
    const head = this.#items[this.#head];
    if (!head) return;
    const generation = this.#generation;
    const wait = head.dueAt - this.#clock.now();
    if (wait <= 0) {
      this.#microtask = true;
      queueMicrotask(() => {
        if (generation !== this.#generation) return;
        this.#microtask = false;
        this.#drain(false);
      });
    } else {
      this.#timer = this.#clock.setTimeout(() => {
        if (generation !== this.#generation) return;
        this.#timer = null;
        this.#drain(true);
      }, wait);
    }
  }

  #drain(headIsDue: boolean): void {
    const generation = this.#generation;
    // Only items queued before this drain run now: an item that queues another behind itself
    // waits for the next turn instead of looping synchronously forever.
    let budget = this.size;
    let force = headIsDue;
    while (budget-- > 0 && generation === this.#generation) {
      const head = this.#items[this.#head];
      if (!head || (!force && head.dueAt > this.#clock.now())) break;
      force = false;
      this.#items[this.#head] = undefined;
      this.#head++;
      try {
        head.run();
      } catch (err) {
        this.#onError(err);
      }
    }
    if (generation !== this.#generation) return;
    if (this.#head > 64 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    this.#arm();
  }
}
