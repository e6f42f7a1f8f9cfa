import type { FaultKind } from '../../../src/sim/simulator.js';

/**
 * The fault families the simulator drew from when these seeds were found. A family added since would
 * change the schedule a seed draws, and the replay would no longer be the run that failed.
 */
export const ORIGINAL_FAULTS: readonly FaultKind[] = ['crash', 'pause', 'isolate', 'delay', 'drop', 'churn'];

/** Every fault family up to the forging client (restart-overlap, outage, stall and forge added). */
export const FAULTS_UP_TO_FORGE: readonly FaultKind[] = [
  ...ORIGINAL_FAULTS,
  'restart-overlap',
  'outage',
  'stall',
  'forge',
];
