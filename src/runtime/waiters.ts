/** Conditions awaited until they hold, checked after every state change of a node. */
import { StoppedError, TimeoutError } from '../domain/errors.js';
import type { Clock } from '../ports/clock.js';

export class Waiters {
  readonly #checks = new Set<() => void>();

  constructor(
    private readonly clock: Clock,
    /** Whether the node has stopped: a waiter still waiting then fails. */
    private readonly stopped: () => boolean,
  ) {}

  /** Re-checks every waiter (after a state change, or when the node stops). */
  check(): void {
    for (const c of [...this.#checks]) c();
  }

  /** Resolves when `cond` holds; rejects when the node stops first, or after `timeoutMs`. */
  waitFor(cond: () => boolean, what: string, timeoutMs?: number): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      let timer: unknown = null;
      const done = (err?: Error) => {
        this.#checks.delete(check);
        if (timer !== null) this.clock.clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const check = () => {
        if (cond()) done();
        else if (this.stopped()) done(new StoppedError(`stopped while waiting for ${what}`));
      };
      this.#checks.add(check);
      if (timeoutMs !== undefined)
        timer = this.clock.setTimeout(
          () => done(new TimeoutError(`timed out waiting for ${what}`)),
          timeoutMs,
        );
    });
  }
}
