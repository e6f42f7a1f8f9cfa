/**
 * The clock port. Everything that needs time — machines, adapters, the runtime — gets it from here,
 * so a whole cluster can run under a simulated clock.
 */

/** Opaque timer handle. */
export type TimerHandle = unknown;

export interface Clock {
  /** Milliseconds since an arbitrary epoch; monotonic within one clock. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};
