/**
 * Bounds on how long a command takes to end once it has decided to: a close that does not
 * complete in time is abandoned, and a process that still has work pending after its command
 * returned is made to exit. A socket the NATS client left open after a failed connect, or a
 * close waiting on a server that never answers, must not keep a finished command alive.
 */

/** How long a command waits for its connections to close before it gives up on them. */
export const CLOSE_WITHIN_MS = 2_000;

/** How long the process may live on after its command returned before it is made to exit. */
export const EXIT_WITHIN_MS = 500;

/**
 * Waits for `p` at most `ms`: resolves `true` when it settled (either way), `false` when the time
 * ran out. Never rejects, and its timer does not keep the process alive.
 */
export function settleWithin(p: Promise<unknown>, ms: number = CLOSE_WITHIN_MS): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    t.unref();
    p.then(
      () => {
        clearTimeout(t);
        resolve(true);
      },
      () => {
        clearTimeout(t);
        resolve(true);
      },
    );
  });
}

/**
 * Ends the process with `code`: at once if nothing else is pending, otherwise after `ms` by
 * `process.exit` (the timer is unref'd, so it only fires when something else still holds the
 * event loop open).
 */
export function exitWith(code: number, ms: number = EXIT_WITHIN_MS): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), ms).unref();
}
