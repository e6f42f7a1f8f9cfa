/**
 * The deterministic simulator, published as `aether-cluster/sim`: real nodes on one memory
 * transport under one simulated clock, a seeded fault schedule and the invariant checker online.
 * {@link runSimulation} runs a seed (the same seed replays the same history); {@link SimHarness}
 * runs a chaos {@link Scenario} written against the {@link Harness} interface.
 *
 * ```ts
 * import { runSimulation } from 'aether-cluster/sim';
 * const r = await runSimulation({ nodes: 5, seed: 42, durationMs: 120_000, faults: ['crash', 'pause'] });
 * if (!r.ok) console.log(r.violations, r.schedule);
 * ```
 */

export { DEFAULT_FORGERIES, FORGERY_KINDS, type ForgeryKind } from './forger.js';
export type { ActionOptions, Harness, ObservedEvent, Scenario, ServerFaults } from './harness.js';
export { hasServerFaults } from './harness.js';
export { Rng } from './random.js';
export { loadScenario } from './scenario-loader.js';
export { type FaultCounts, SimHarness, type SimHarnessOptions } from './sim-harness.js';
export {
  FAULT_KINDS,
  type FaultAction,
  type FaultKind,
  generateSchedule,
  runSimulation,
  SIM_TIMING,
  type SimulationOptions,
  type SimulationResult,
  shrinkSchedule,
} from './simulator.js';
