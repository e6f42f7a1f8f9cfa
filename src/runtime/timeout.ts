import { TimeoutError } from '../domain/errors.js';
import type { Clock } from '../ports/clock.js';

/**
 * Races `promise` against the injected clock. On timeout the operation may still apply: callers
 * treat a {@link TimeoutError} as an unknown outcome and reconcile by reading.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, clock: Clock, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(new TimeoutError(`${what} timed out after ${ms} ms`)), ms);
    promise.then(
      (v) => {
        clock.clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clock.clearTimeout(timer);
        reject(err);
      },
    );
  });
}
