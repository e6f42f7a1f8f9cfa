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

/**
 * Commands an operator or a node sends to the leader, each naming the incarnation it is about: the
 * leader refuses one whose incarnation is not the member on record (`STALE_INCARNATION`), so a late
 * request of an old process never removes a newer process of the same id. An operator's drain or
 * failure may leave it out to mean "whatever incarnation is current"; a node leaving names its own.
 */
export type OperatorCommand =
  | { readonly type: 'drainNode'; readonly nodeId: NodeId; readonly incarnation?: number }
  | { readonly type: 'leaveCluster'; readonly nodeId: NodeId; readonly incarnation: number }
  | { readonly type: 'markNodeFailed'; readonly nodeId: NodeId; readonly incarnation?: number };

/** The leadership lease as seen in the store. */
export interface LeaseRecord {
  readonly holder: NodeId;
  readonly term: Term;
  readonly revision: number;
}

/**
 * A running process's answer on its member subject: which incarnation it is and whether it runs.
 * A process about to start with the same id asks first, and refuses to start while one runs.
 */
export interface MemberProbeReply {
  readonly nodeId: NodeId;
  readonly incarnation: number;
  readonly phase: 'starting' | 'running' | 'stopping';
}
