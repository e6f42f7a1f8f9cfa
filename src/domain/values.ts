/**
 * Value objects of the cluster domain. Plain JSON-friendly data so that machine snapshots,
 * the shard map in KV and inspection events serialize without adapters.
 */
import { InvalidValueError } from './errors.js';

/** A node's identity: 1–64 characters of `[A-Za-z0-9_-]`, safe in NATS subjects and KV keys. */
export type NodeId = string;
/** A shard number in `[0, shardCount)`. */
export type ShardId = number;
/** A leadership term: the revision of the winning lease `create`. Strictly increasing; the fencing token. */
export type Term = number;

/** Default number of shards, from the domain model. */
export const DEFAULT_SHARD_COUNT = 1024;

/**
 * Lifecycle of a node as the cluster sees it.
 * Joining: heard from but not yet admitted by the leader. Active: may own shards and lead.
 * Draining: keeps the shards it has until they are handed off, receives none. Failed: missed its
 * heartbeat deadline. Left: gone for good (graceful stop or drain finished).
 */
export type NodeStatus = 'Joining' | 'Active' | 'Draining' | 'Failed' | 'Left';
export const NODE_STATUSES: readonly NodeStatus[] = ['Joining', 'Active', 'Draining', 'Failed', 'Left'];

/** What the cluster knows of one node. */
export interface NodeInfo {
  readonly id: NodeId;
  readonly status: NodeStatus;
  /** Grows each time the process (re)joins; a heartbeat from an older incarnation is stale. */
  readonly incarnation: number;
  /** Clock time of the last heartbeat the writer of this record saw. */
  readonly lastSeen: number;
  /** Relative capacity for weighted placement; 1 unless configured. */
  readonly weight: number;
  /**
   * Clock time of the NodeFailed / NodeLeft that ended this incarnation; absent while it is a member.
   * The record is compacted away once this is older than the retention (see `compactDeparted`).
   */
  readonly departedAt?: number;
}

/** Who owns every shard, as written by the leader of `term`. */
export interface ShardMap {
  /** Bumped by every committed write; readers ignore versions older than what they hold. */
  readonly version: number;
  /** Term of the leader that wrote this version. */
  readonly term: Term;
  /** `owners[shardId]`: the owning node, or null while orphaned (inside the recovery window) or before bootstrap. */
  readonly owners: readonly (NodeId | null)[];
}

const NODE_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** Validates and returns a node id; throws {@link InvalidValueError} naming the problem. */
export function nodeId(value: unknown): NodeId {
  if (typeof value !== 'string' || !NODE_ID_RE.test(value)) {
    throw new InvalidValueError(
      `node id must be 1-64 characters of letters, digits, "_" or "-", got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

export function isNodeId(value: unknown): value is NodeId {
  return typeof value === 'string' && NODE_ID_RE.test(value);
}

/** Validates a shard id against the shard count. */
export function shardId(value: unknown, shardCount: number = DEFAULT_SHARD_COUNT): ShardId {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value >= shardCount) {
    throw new InvalidValueError(`shard id must be an integer in [0, ${shardCount}), got ${String(value)}`);
  }
  return value;
}

/** Validates a term: a positive safe integer. */
export function term(value: unknown): Term {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidValueError(`term must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** Validates a shard count: an integer in [1, 65536]. */
export function shardCount(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65536) {
    throw new InvalidValueError(`shard count must be an integer in [1, 65536], got ${String(value)}`);
  }
  return value;
}

/** An empty shard map: nothing owned yet (before the first leader bootstraps the cluster). */
export function emptyShardMap(count: number = DEFAULT_SHARD_COUNT): ShardMap {
  return { version: 0, term: 0, owners: new Array<NodeId | null>(count).fill(null) };
}

/** Number of shards each node owns (nodes owning none are absent). */
export function shardCounts(owners: readonly (NodeId | null)[]): Map<NodeId, number> {
  const counts = new Map<NodeId, number>();
  for (const o of owners) if (o !== null) counts.set(o, (counts.get(o) ?? 0) + 1);
  return counts;
}

/** FNV-1a 32-bit: fast, stable across processes and platforms; used for key → shard and the hash ring. */
export function fnv1a32(input: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < input.length; i++) {
    h ^= input.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // Final avalanche (murmur3 fmix32) so that similar keys spread over the whole range.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The shard an entity key belongs to. Stable: every node computes the same shard for a key. */
export function shardForKey(key: string, count: number = DEFAULT_SHARD_COUNT): ShardId {
  return fnv1a32(key) % count;
}
