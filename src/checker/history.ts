/**
 * What an invariant checker reads: a history of observations, each stamped with the time it was
 * made. Domain events come from `node.on('*')` or the audit log; views from `node.clusterState()` /
 * `node.state()` or `view` observations; commits and leases from a watch on the topology and lease
 * buckets; releases from the `onRelease` hook; process, fault and quiet markers from whoever drives
 * the cluster (a simulator, a chaos harness). Every kind is optional: the checker checks what the
 * history lets it check.
 */
import type { DomainEvent } from '../domain/events.js';
import type { ClusterState } from '../domain/state.js';
import type { NodeId, ShardId, Term } from '../domain/values.js';
import type { ClusterView } from '../observe/observation.js';

/** One node's committed view at one moment: the fields the checker compares across nodes and time. */
export interface ViewSnapshot {
  /** Shard-map version the node holds. */
  readonly version: number;
  /** Term under which that version was written. */
  readonly term: Term;
  /** Leader the node's committed topology names. */
  readonly leader: { readonly nodeId: NodeId; readonly term: Term } | null;
  /** Highest term the node's committed topology has seen. */
  readonly highestTerm: Term;
  /** Whether the node acts as leader right now. */
  readonly isLeader: boolean;
  /** The whole committed state, when the observer has it (checked structurally once per version). */
  readonly state?: ClusterState;
}

export type HistoryEntry =
  /** A domain event, as first observed (by `observer`, when known). */
  | { readonly kind: 'event'; readonly at: number; readonly observer?: NodeId; readonly event: DomainEvent }
  /** A node's committed view. */
  | { readonly kind: 'view'; readonly at: number; readonly observer: NodeId; readonly view: ViewSnapshot }
  /** A write of the topology record, as the store committed it (revision order). */
  | {
      readonly kind: 'commit';
      readonly at: number;
      readonly revision: number;
      readonly writer: NodeId;
      readonly term: Term;
      readonly state: ClusterState;
      /**
       * The observer missed the commits between the last one it reported and this one (a watch on a
       * bucket keeping one revision skips what was overwritten before delivery): owner changes
       * across the gap are not judged as one step.
       */
      readonly afterGap?: boolean;
    }
  /** A change of the lease key: held by `holder` in `term`, or deleted (`holder: null`). */
  | { readonly kind: 'lease'; readonly at: number; readonly holder: NodeId | null; readonly term: Term }
  /** A node released shards (its `onRelease` hook ran): it stopped serving them. */
  | {
      readonly kind: 'release';
      readonly at: number;
      readonly nodeId: NodeId;
      readonly shards: readonly ShardId[];
    }
  /** Shards arrived at a node, or came back to it after an abandoned hand-off (its `onAcquire` ran): it serves them. */
  | {
      readonly kind: 'acquire';
      readonly at: number;
      readonly nodeId: NodeId;
      readonly shards: readonly ShardId[];
    }
  /** A hand-off request answered by `from`: which shards it released for `leader` of `term`. */
  | {
      readonly kind: 'handoff';
      readonly at: number;
      readonly from: NodeId;
      readonly leader: NodeId;
      readonly term: Term;
      readonly released: readonly ShardId[];
    }
  /**
   * A node process started (`up`) or stopped/crashed. A restart is a new process with the same id; one
   * that replaces a process still running (a restart while the old one leaves) comes in the same
   * instant as the old one's `up: false`, which then only says it is no longer the id's process.
   */
  | { readonly kind: 'process'; readonly at: number; readonly nodeId: NodeId; readonly up: boolean }
  /**
   * A node became unable (`able: false`) or able again to receive messages: `cut` off from the
   * transport (messages sent meanwhile are lost to it) or `paused` (they wait in its inbox). A node
   * not up (see `process`) cannot hear either.
   */
  | {
      readonly kind: 'hearing';
      readonly at: number;
      readonly nodeId: NodeId;
      readonly able: boolean;
      readonly why: 'cut' | 'paused';
    }
  /**
   * Messages of the audit stream, in stream order, as read at `at` (a later read continues where the
   * last one ended). `event` is null for a message that is no domain event.
   */
  | {
      readonly kind: 'audit';
      readonly at: number;
      readonly messages: readonly {
        readonly seq: number;
        readonly storedAt: number;
        readonly event: DomainEvent | null;
      }[];
    }
  /**
   * A read of the topology from the store, issued at `since` by the node's current process, showed that
   * process a member (Active or Draining, as its incarnation): its membership held at `since` or later,
   * so the leader cannot have reassigned its shards by a decision made before then.
   */
  | { readonly kind: 'membership'; readonly at: number; readonly nodeId: NodeId; readonly since: number }
  /** A disruption began or happened (crash, pause, isolation, delay, loss, join, leave …). */
  | { readonly kind: 'fault'; readonly at: number; readonly description: string }
  /** Every fault has healed and no membership change is in flight: liveness is owed from here. */
  | { readonly kind: 'quiet'; readonly at: number }
  /** Time passed with nothing to report (lets deadlines be judged). */
  | { readonly kind: 'tick'; readonly at: number };

/** A view snapshot from a node's committed cluster state. */
export function viewFromState(state: ClusterState | null, isLeader: boolean): ViewSnapshot {
  if (state === null) return { version: 0, term: 0, leader: null, highestTerm: 0, isLeader };
  return {
    version: state.shardMap.version,
    term: state.shardMap.term,
    leader: state.leader,
    highestTerm: state.highestTerm,
    isLeader,
    state,
  };
}

/** A view snapshot from `node.state()` or a `view` observation (no whole state: it lacks orphans and epochs). */
export function viewFromClusterView(view: ClusterView): ViewSnapshot {
  const highest = Math.max(view.shardMap.term, view.leader?.term ?? 0);
  return {
    version: view.shardMap.version,
    term: view.shardMap.term,
    leader: view.leader,
    highestTerm: highest,
    isLeader: view.isLeader,
  };
}
