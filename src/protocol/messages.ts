/**
 * The messages nodes exchange over the transport, as types. Their validation lives in `codec.ts`
 * beside this file; the statecharts take them as event payloads.
 */
import type { NodeId, NodeStatus, Term } from '../domain/values.js';

/** A node's announcement, received by every node. */
export interface Heartbeat {
  readonly nodeId: NodeId;
  readonly incarnation: number;
  readonly weight: number;
  readonly status: NodeStatus;
  readonly version: number;
  readonly load: number;
}

/** Commands an operator or a node sends to the leader. */
export type OperatorCommand =
  | { readonly type: 'drainNode'; readonly nodeId: NodeId }
  | { readonly type: 'leaveCluster'; readonly nodeId: NodeId }
  | { readonly type: 'markNodeFailed'; readonly nodeId: NodeId };

/** The leadership lease as seen in the store. */
export interface LeaseRecord {
  readonly holder: NodeId;
  readonly term: Term;
  readonly revision: number;
}
