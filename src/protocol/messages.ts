/**
 * The messages nodes exchange over the transport, as types. Their validation lives in `codec.ts`
 * beside this file; the statecharts take them as event payloads.
 */
import type { NodeId, NodeStatus, ShardId, Term } from '../domain/values.js';

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

/** One move a hand-off request asks the old owner to release: the shard, its new owner and that node's incarnation. */
export interface HandoffMove {
  readonly shardId: ShardId;
  /** The node the committed plan moves the shard to. */
  readonly to: NodeId;
  /** The incarnation of `to` on record when the leader asked: a restarted target is another node. */
  readonly incarnation: number;
}

/** Why an old owner refused a hand-off request. */
export const HANDOFF_REFUSAL_CODES = [
  /** Not a well-formed request. */
  'malformed',
  /** Its term is older than a term the owner has seen committed: a deposed leader's. */
  'stale-term',
  /** The requester does not hold the lease of the request's term (read from the store). */
  'not-lease-holder',
  /** The lease could not be read: nothing is released unverified. */
  'lease-unreadable',
  /**
   * The committed topology holds no such plan: another leader or term, a map version nobody committed,
   * or a shard the plan does not move from this node to the named target. A forgery, or a leader that
   * does not know its own plan.
   */
  'not-planned',
  /** The named target's incarnation is not the one on record. */
  'wrong-incarnation',
  /** The topology could not be re-read to look for the plan. */
  'topology-unreadable',
  /** The owner is stopping. */
  'stopping',
] as const;
export type HandoffRefusalCode = (typeof HANDOFF_REFUSAL_CODES)[number];

/** A typed refusal of a hand-off request: nothing of it was released. */
export interface HandoffRefusal {
  readonly code: HandoffRefusalCode;
  readonly message: string;
}
