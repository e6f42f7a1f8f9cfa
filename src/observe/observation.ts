/**
 * The one observation stream a node exposes: domain events, inspection events (Stately's format)
 * and cluster-state snapshots. The visualizer relay, metrics and the CLI only subscribe to it.
 */
import type { DomainEvent } from '../domain/events.js';
import type { NodeId, NodeInfo, NodeStatus, ShardMap, Term } from '../domain/values.js';

/**
 * An inspection event in Stately's wire format (what `@statelyai/inspect` sends), produced from
 * XState v5's `inspect` option. `sessionId`s are prefixed with the node id, since XState's actor
 * counters repeat across processes.
 */
export type InspectionEvent =
  | {
      readonly type: '@xstate.actor';
      readonly sessionId: string;
      readonly parentId?: string | undefined;
      readonly rootId: string;
      readonly name: string;
      /** The machine definition as JSON (`machine.toJSON()`), for drawing the chart; absent for non-machine actors. */
      readonly definition?: unknown;
      readonly snapshot: unknown;
      readonly createdAt: string;
      readonly id: string;
      readonly _version: string;
    }
  | {
      readonly type: '@xstate.event';
      readonly sessionId: string;
      readonly sourceId?: string | undefined;
      readonly rootId: string;
      readonly event: { readonly type: string; readonly [k: string]: unknown };
      readonly createdAt: string;
      readonly id: string;
      readonly _version: string;
    }
  | {
      readonly type: '@xstate.snapshot';
      readonly sessionId: string;
      readonly rootId: string;
      readonly event: { readonly type: string; readonly [k: string]: unknown };
      readonly snapshot: unknown;
      readonly createdAt: string;
      readonly id: string;
      readonly _version: string;
    }
  | {
      readonly type: '@xstate.microstep';
      readonly sessionId: string;
      readonly rootId: string;
      readonly event: { readonly type: string; readonly [k: string]: unknown };
      /** Source and target state ids of the transitions taken. */
      readonly transitions: readonly {
        readonly source: string;
        readonly targets: readonly string[];
        readonly eventType: string;
      }[];
      readonly snapshot: unknown;
      readonly createdAt: string;
      readonly id: string;
      readonly _version: string;
    }
  | {
      readonly type: '@xstate.stopped';
      readonly sessionId: string;
      readonly rootId: string;
      readonly createdAt: string;
      readonly id: string;
      readonly _version: string;
    };

/** A shard whose hand-off is in flight. */
export interface HandoffView {
  readonly shardId: number;
  readonly from: NodeId;
  readonly to: NodeId;
}

/** What `node.state()` returns: one node's view of the cluster. */
export interface ClusterView {
  readonly nodeId: NodeId;
  readonly cluster: string;
  readonly status: NodeStatus;
  readonly incarnation: number;
  readonly leader: { readonly nodeId: NodeId; readonly term: Term } | null;
  readonly isLeader: boolean;
  /**
   * The members on record, each with its shard count and the load it last reported in a heartbeat
   * heard here (application-defined, see `node.reportLoad`; 0 until heard).
   */
  readonly nodes: readonly (NodeInfo & { readonly shards: number; readonly load: number })[];
  readonly shardMap: ShardMap;
  readonly handoffs: readonly HandoffView[];
  /**
   * True while this node serves nothing because it could not confirm its membership with the store
   * in time (self-fencing); it serves again once a read shows it a member of the current map.
   */
  readonly fenced: boolean;
  /** Clock time of this view. */
  readonly at: number;
}

export type Observation =
  | { readonly kind: 'domain'; readonly nodeId: NodeId; readonly event: DomainEvent }
  | { readonly kind: 'inspection'; readonly nodeId: NodeId; readonly event: InspectionEvent }
  | { readonly kind: 'view'; readonly nodeId: NodeId; readonly view: ClusterView };
