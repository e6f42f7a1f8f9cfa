/**
 * The time bounds `aether demo` holds its timed steps to, derived from the timing, and the check
 * that fails a step that took longer.
 */
import type { TimingConfig } from '../config.js';

/** The bounds of the demo's timed steps, in ms of the cluster's clock. */
export interface StoryBounds {
  /**
   * From the leader's crash to the next `LeaderElected`. Its lease was renewed at most one renew
   * interval before the crash and lapses a TTL after that renewal; a follower's campaign then
   * takes a retry interval, which is under the renew interval.
   */
  readonly leaderTakeoverMs: number;
  /**
   * From a node's crash to its `NodeFailed`. Its last heartbeat came at most one interval before
   * the crash and the deadline is a failure timeout after it; the other interval's worth is
   * slack for committing the verdict.
   */
  readonly failureDetectionMs: number;
}

/** The bounds for a timing. */
export function storyBounds(t: TimingConfig): StoryBounds {
  return {
    leaderTakeoverMs: t.leaseTtlMs + t.renewIntervalMs,
    failureDetectionMs: t.failureTimeoutMs + t.heartbeatIntervalMs,
  };
}

/**
 * Compares a measured time with its bound: null when it held, otherwise the line saying which
 * step exceeded which bound. A measurement that is not a number fails too: it proves nothing.
 */
export function checkBound(measuredMs: number, boundMs: number, step: string): string | null {
  if (Number.isFinite(measuredMs) && measuredMs <= boundMs) return null;
  return `${step} exceeded its bound: ${measuredMs} ms > ${boundMs} ms`;
}
