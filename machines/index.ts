/**
 * The statecharts, published as `aether-cluster/machines`, for embedding, inspection and drawing.
 * Each machine is pure: time arrives on its events and every side effect is a named actor or
 * action, which the runtime binds with `.provide()`; the types below are what such bindings need
 * (inputs, contexts, events, what each chart emits, and the input and output of its actors).
 */
export {
  type ClusterNodeContext,
  type ClusterNodeEmitted,
  type ClusterNodeEvent,
  type ClusterNodeInput,
  type ClusterNodeMachine,
  type ClusterNodeTiming,
  type CommandAnswered,
  type CommitTopologyInput,
  type CommitTopologyOutput,
  clusterNodeMachine,
  type ReadTopologyOutput,
} from './cluster-node.machine.js';
export type { ReleaseRequest } from './hosting.js';
export {
  type AcquireOutput,
  type LeadershipContext,
  type LeadershipEvent,
  type LeadershipInput,
  type LeadershipMachine,
  type LeadershipReport,
  type LeadershipTiming,
  leadershipMachine,
  type ReadOutput,
  type RenewOutput,
} from './leadership.machine.js';
export {
  type LifecycleProposal,
  type MembershipEvent,
  type NodeLifecycleContext,
  type NodeLifecycleEvent,
  type NodeLifecycleInput,
  type NodeLifecycleMachine,
  nodeLifecycleMachine,
} from './node-lifecycle.machine.js';
// The placement strategies the root's `strategy` input names.
export { STRATEGIES } from './proposals.js';
export {
  type HandOffInput,
  type HandOffOutput,
  type RebalancingContext,
  type RebalancingEvent,
  type RebalancingInput,
  type RebalancingMachine,
  type RebalancingProposal,
  rebalancingMachine,
} from './rebalancing.machine.js';
export {
  type ReadLeaseOutput,
  type ReleaseAnswer,
  type ShardHostContext,
  type ShardHostEvent,
  type ShardHostInput,
  type ShardHostMachine,
  shardHostMachine,
} from './shard-host.machine.js';
// The system ids under which a node's actors are registered (`actor.system.get(…)`).
export {
  LEADERSHIP_SYSTEM_ID,
  lifecycleSystemId,
  REBALANCER_SYSTEM_ID,
  ROOT_SYSTEM_ID,
  SHARD_HOST_SYSTEM_ID,
} from './system-ids.js';
