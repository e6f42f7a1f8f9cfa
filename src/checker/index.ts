/**
 * The invariant checker, published as `aether-cluster/checker`: feed it a history of observations
 * (domain events, node views, store commits, releases, fault markers) online with
 * {@link createChecker} or all at once with {@link checkHistory}; it returns the violations, each
 * naming the invariant, the time and the evidence.
 *
 * ```ts
 * import { checkHistory } from 'aether-cluster/checker';
 * import { FAST_TIMING } from 'aether-cluster';
 * const violations = checkHistory(history, { timing: FAST_TIMING, shardCount: 1024 });
 * ```
 */
export {
  CHECKED_INVARIANTS,
  type CheckedInvariant,
  type Checker,
  type CheckerConfig,
  type CheckerStats,
  checkHistory,
  createChecker,
  defaultConvergenceBoundMs,
  defaultRecoveryWindowMs,
  type HistoryKind,
  INVARIANT_NEEDS,
  LIVELOCK_COMMITS,
  observability,
  type Violation,
} from './checker.js';
export { type HistoryEntry, type ViewSnapshot, viewFromClusterView, viewFromState } from './history.js';
