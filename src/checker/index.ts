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
  LIVELOCK_COMMITS,
  type Violation,
} from './checker.js';
export { type HistoryEntry, type ViewSnapshot, viewFromClusterView, viewFromState } from './history.js';
