/**
 * A clock that only moves when told to. Timers fire in time order (ties in the order they were set),
 * and pending promise callbacks settle between timers, so async adapters behave as they would in
 * real time, only deterministically and as fast as the CPU allows.
 */
import type { Clock, TimerHandle } from './clock.js';

interface Timer {
  readonly id: number;
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

/** Lets every queued promise callback run (setImmediate runs after the microtask queue drains). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class SimulatedClock implements Clock {
  #now: number;
  #seq = 0;
  #timers = new Map<number, Timer>();
  // Binary min-heap of timer ids ordered by (at, seq); cancelled ids are skipped lazily.
  #heap: Timer[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.#seq;
    const t: Timer = { id, at: this.#now + Math.max(0, ms), seq: id, fn };
    this.#timers.set(id, t);
    this.#push(t);
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    if (typeof handle === 'number') this.#timers.delete(handle);
  }

  /** Number of timers still pending. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Time of the next pending timer, or null. */
  nextAt(): number | null {
    const t = this.#peek();
    return t ? t.at : null;
  }

  /** Moves time forward by `ms`, firing every timer due on the way and settling promises after each. */
  async advance(ms: number): Promise<void> {
    await this.advanceTo(this.#now + ms);
  }

  /** Moves time to `target`, firing due timers in order. */
  async advanceTo(target: number): Promise<void> {
    await settle();
    for (;;) {
      const t = this.#peek();
      if (!t || t.at > target) break;
      this.#pop();
      this.#timers.delete(t.id);
      this.#now = Math.max(this.#now, t.at);
      t.fn();
      await settle();
    }
    this.#now = Math.max(this.#now, target);
    await settle();
  }

  /**
   * Advances in steps of `step` ms until `predicate` holds or `timeoutMs` of simulated time pass.
   * Returns the simulated time it took; throws if the deadline passes first.
   */
  async advanceUntil(predicate: () => boolean, timeoutMs: number, step = 10): Promise<number> {
    const start = this.#now;
    while (!predicate()) {
      if (this.#now - start >= timeoutMs) {
        throw new Error(`condition not reached within ${timeoutMs} ms of simulated time`);
      }
      await this.advance(step);
    }
    return this.#now - start;
  }

  #peek(): Timer | undefined {
    while (this.#heap.length > 0) {
      const top = this.#heap[0]!;
      if (this.#timers.has(top.id)) return top;
      this.#pop();
    }
    return undefined;
  }

  #less(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #push(t: Timer): void {
    const h = this.#heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.#less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.#less(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
