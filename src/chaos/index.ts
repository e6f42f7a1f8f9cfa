/**
 * Chaos against real processes, published as `aether-cluster/chaos`: {@link ProcessHarness} runs a
 * chaos {@link Scenario} (the same scripts as the simulator's `SimHarness`) against `aether node`
 * processes on nats-servers it starts itself, with the invariant checker fed from what a real
 * cluster lets it see. The checker is re-exported, so a scenario and its verdict need one import.
 *
 * ```ts
 * import { ProcessHarness } from 'aether-cluster/chaos';
 * const h = await ProcessHarness.create({ seed: 1, servers: 1, shardCount: 64 });
 * try {
 *   await h.start(3);
 *   await h.waitUntil(() => h.converged(), { within: 20_000, what: 'the cluster to settle' });
 *   await h.crash(h.leader()!);
 *   await h.waitUntil(() => h.leader() !== null, { within: 10_000, what: 'a new leader' });
 *   await h.settle();
 *   h.assertClean();
 * } finally {
 *   await h.close();
 * }
 * ```
 */
export * from '../checker/index.js';
export type { ActionOptions, Harness, ObservedEvent, Scenario, ServerFaults } from '../sim/harness.js';
export { hasServerFaults } from '../sim/harness.js';
export { loadScenario } from '../sim/scenario-loader.js';
export { ClusterObserver, type ClusterObserverOptions } from './cluster-observer.js';
export {
  findNatsServer,
  type NatsCluster,
  type NatsClusterOptions,
  type NatsServer,
  type NatsServerOptions,
  type NatsServerProcess,
  type NatsServers,
  natsServerAvailable,
  startNatsCluster,
  startNatsServer,
  startNatsServers,
  waitForJetStream,
} from './nats-servers.js';
export { defaultNodeBin, NodeProcess, type NodeProcessOptions, type ReadStatus } from './node-process.js';
export { PROCESS_HISTORY_KINDS, ProcessHarness, type ProcessHarnessOptions } from './process-harness.js';
export {
  type ChaosReport,
  type ChaosVerdict,
  formatTimeline,
  formatVerdict,
  PROCESS_MODE_NOTE,
  type TimelineEntry,
} from './report.js';
export { type FaultyProxy, type FaultyProxyOptions, faultyProxy } from './tcp-proxy.js';
