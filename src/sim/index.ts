export type { ActionOptions, Harness, ObservedEvent, Scenario } from './harness.js';
export { PausableClock, PausableTransport, PauseGate, type RespondTap } from './pause.js';
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
