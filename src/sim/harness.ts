/**
 * What a chaos scenario can do to a cluster. Scenarios are written against this interface only, so
 * the same script runs in the deterministic simulator ({@link SimHarness}) today and against real
 * processes on NATS later: every action is a promise (time passes while it completes), every query
 * is synchronous over the latest observations, and the invariant checker runs throughout.
 */
import type { Violation } from '../checker/checker.js';
import type { TimingConfig } from '../config.js';
import type { DomainEvent } from '../domain/events.js';
import type { ClusterState } from '../domain/state.js';
import type { NodeId, NodeStatus } from '../domain/values.js';
import type { Rng } from './random.js';

/** Whether an action waits for its outcome (a node Active, a leave recorded) or returns once begun. */
export interface ActionOptions {
  /** Default true. With false, the action only begins; time must pass (`sleep`, `waitUntil`) for it to finish. */
  readonly wait?: boolean;
}

/** A domain event with the time it was first observed. */
export interface ObservedEvent {
  readonly at: number;
  readonly event: DomainEvent;
}

export interface Harness {
  /** The run's seed: the same seed replays the same run. */
  readonly seed: number;
  readonly timing: TimingConfig;
  /** Seeded randomness for the scenario's own choices. */
  readonly rng: Rng;

  /** Milliseconds on the cluster's clock. */
  now(): number;
  /** Ids of nodes whose process runs. */
  running(): NodeId[];

  /** Starts new nodes (ids, or a count named `n1`, `n2` …) and by default waits until each is Active. */
  start(nodes: readonly NodeId[] | number, opts?: ActionOptions): Promise<NodeId[]>;
  /** Starts one more node (a join); a fresh id when none is given. */
  add(nodeId?: NodeId, opts?: ActionOptions): Promise<NodeId>;
  /** Kills a node's process with no goodbye. */
  crash(nodeId: NodeId): Promise<void>;
  /** Starts a new process for a node id that is down. */
  restart(nodeId: NodeId, opts?: ActionOptions): Promise<void>;
  /** Graceful leave: the node hands leadership on, records its leave and stops. */
  stop(nodeId: NodeId, opts?: ActionOptions): Promise<void>;
  /** Drains a node (its shards are handed off), then it leaves and stops. */
  drain(nodeId: NodeId, opts?: ActionOptions): Promise<void>;
  /** Freezes a node's process: no timers, no incoming messages, until `resume`. */
  pause(nodeId: NodeId): Promise<void>;
  resume(nodeId: NodeId): Promise<void>;
  /** Cuts a node off the network. */
  isolate(nodeId: NodeId): Promise<void>;
  /** Heals a node's network faults (isolation, delay, loss), or every node's. Pauses stay. */
  heal(nodeId?: NodeId): Promise<void>;
  /** Adds `ms` of delay to everything a node sends and receives (0 clears). */
  delay(nodeId: NodeId, ms: number): Promise<void>;
  /** Drops each message to or from a node with `probability` (0 clears). */
  drop(nodeId: NodeId, probability: number): Promise<void>;

  /** Lets `ms` of cluster time pass. */
  sleep(ms: number): Promise<void>;
  /** Waits until `cond` holds; throws a TimeoutError naming `what` after `within` ms. Resolves with the time it took. */
  waitUntil(cond: () => boolean, opts: { readonly within: number; readonly what: string }): Promise<number>;

  /** The one node acting as leader, or null when none or several do. */
  leader(): NodeId | null;
  /** Every running node acting as leader. */
  leaders(): NodeId[];
  /** A running node's status as its own committed view records it, or null when it is down. */
  statusOf(nodeId: NodeId): NodeStatus | null;
  /** A node's committed cluster state (the leader's when no id is given). */
  clusterState(nodeId?: NodeId): ClusterState | null;
  /** One leader, every running node on its shard-map version, membership and shards settled. */
  converged(): boolean;
  /** Domain events observed so far, in order of first observation. */
  events(): readonly ObservedEvent[];
  /** Invariant violations found so far. */
  violations(): readonly Violation[];
  /** Judges pending deadlines and throws an InvariantViolationError if any invariant was broken. */
  assertClean(): void;
  /** Notes a line in the run's log (printed when a run fails). */
  log(message: string): void;
  /** Stops every node and releases the cluster. */
  close(): Promise<void>;
}

/** A chaos scenario: a script over a {@link Harness}. */
export type Scenario = (h: Harness) => Promise<void>;

/**
 * Faults of the NATS servers themselves, which only a harness over real processes has (the
 * simulator models no server): a scenario feature-detects them with {@link hasServerFaults}.
 */
export interface ServerFaults {
  /** How many nats-servers the run has (1, or 3 in a cluster). */
  serverCount(): number;
  /**
   * Crashes server `index` (0-based, in start order) with SIGKILL; every node connected to it is cut
   * off from the cluster until {@link restartServer}.
   */
  killServer(index: number): Promise<void>;
  /** Starts a killed server again on the same port and store directory. */
  restartServer(index: number): Promise<void>;
  /**
   * Cuts server `index` of a three-server cluster off from the other two (its routes are dropped and
   * refused; its clients stay connected to it, and so are cut off from the majority) until
   * {@link healServer}. Throws on a single server.
   */
  partitionServer(index: number): Promise<void>;
  /** Lets a partitioned server route to the others again. */
  healServer(index: number): Promise<void>;
}

/** Whether this harness can fault the NATS servers (process mode). */
export function hasServerFaults(h: Harness): h is Harness & ServerFaults {
  return 'killServer' in h && 'restartServer' in h && 'serverCount' in h;
}
