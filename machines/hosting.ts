/**
 * Which shards a node serves, as pure functions over the shard host's context: shards owned in the
 * committed map, minus those released to a hand-off that has not committed yet.
 */
import { fenceAfterMs } from '../src/config.js';
import type { ClusterState } from '../src/domain/state.js';
import type { NodeId, ShardId, Term } from '../src/domain/values.js';
import type { LeaseRecord } from '../src/protocol/messages.js';

/** A leader's request to release shards, with the shard-map version of the plan behind it. */
export interface ReleaseRequest {
  readonly requestId: string;
  readonly leader: NodeId;
  readonly term: Term;
  readonly shards: readonly ShardId[];
  readonly version: number;
}

export interface HostingState {
  /** Shards this node owns in the committed map it holds, ascending. */
  readonly owned: readonly ShardId[];
  /** Shards released for a hand-off, by shard, with the plan's map version. Still owned in the map. */
  readonly released: Readonly<Record<ShardId, number>>;
}

export interface HostingChange extends HostingState {
  /** Shards to start serving: newly owned, or released for a hand-off that was abandoned. */
  readonly acquired: readonly ShardId[];
  /**
   * Shards served until now that the map no longer gives this node, with no hand-off: they were
   * orphaned when it was judged failed or recorded as left, or its incarnation was replaced. They may
   * already be someone else's: the application stops serving them at once.
   */
  readonly lost: readonly ShardId[];
}

/** Shards owned by `nodeId` in a map, ascending. */
export function ownedIn(cluster: ClusterState, nodeId: NodeId): ShardId[] {
  const out: ShardId[] = [];
  cluster.shardMap.owners.forEach((o, s) => {
    if (o === nodeId) out.push(s);
  });
  return out;
}

/**
 * Follows a new committed map. A released shard is forgotten once it moved. One that is still ours,
 * in a view at least as new as the request's plan, and no longer planned to move (its hand-off was
 * abandoned: leader change, re-plan) is served again. A view older than the plan proves nothing.
 */
export function followMap(state: HostingState, cluster: ClusterState, nodeId: NodeId): HostingChange {
  const owned = ownedIn(cluster, nodeId);
  const before = new Set(state.owned);
  const acquired = owned.filter((s) => !before.has(s));
  const ownedNow = new Set(owned);
  const lost = serving(state).filter((s) => !ownedNow.has(s));
  const planned = new Set(
    (cluster.rebalance?.remaining ?? []).filter((m) => m.from === nodeId).map((m) => m.shardId),
  );
  const released: Record<ShardId, number> = {};
  for (const [key, version] of Object.entries(state.released)) {
    const s = Number(key);
    if (!ownedNow.has(s)) continue;
    if (cluster.shardMap.version >= version && !planned.has(s)) acquired.push(s);
    else released[s] = version;
  }
  return { owned, released, acquired: acquired.sort((a, b) => a - b), lost };
}

/** Shards served now: owned and not released. */
export function serving(state: HostingState): ShardId[] {
  return state.owned.filter((s) => !(s in state.released));
}

export { fenceAfterMs };

/** How often a node confirms its membership: at least three times per fence window. */
export function confirmEveryMs(t: {
  readonly failureTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
}): number {
  return Math.min(t.heartbeatIntervalMs, Math.floor(fenceAfterMs(t) / 3));
}

/** Whether a topology read from the store shows `nodeId` a member (Active or Draining) as this process. */
export function confirmsMembership(state: ClusterState | null, nodeId: NodeId, incarnation: number): boolean {
  const self = state?.nodes[nodeId];
  return (
    self !== undefined &&
    self.incarnation === incarnation &&
    (self.status === 'Active' || self.status === 'Draining')
  );
}

/** Of a request's shards, those that are this node's to release (owned, or released already). */
export function releasable(state: HostingState, shards: readonly ShardId[]): ShardId[] {
  const owned = new Set(state.owned);
  return shards.filter((s) => owned.has(s) || s in state.released);
}

/** Of a request's shards, those still served here: the application must be told before they leave. */
export function toRelease(state: HostingState, shards: readonly ShardId[]): ShardId[] {
  return releasable(state, shards).filter((s) => !(s in state.released));
}

/** Records shards as released for the plan of `version` (a later plan's version wins). */
export function markReleased(
  state: HostingState,
  shards: readonly ShardId[],
  version: number,
): Record<ShardId, number> {
  const released: Record<ShardId, number> = { ...state.released };
  for (const s of shards) released[s] = Math.max(version, released[s] ?? 0);
  return released;
}

/**
 * Fencing by the store, not by this node's view, which may lag: only the holder of the current lease
 * may take shards away. Returns why a request is refused, or null to honour it.
 */
export function leaseRefusal(req: ReleaseRequest, lease: LeaseRecord | null): string | null {
  if (lease !== null && lease.term === req.term && lease.holder === req.leader) return null;
  const holds = lease ? `${lease.holder} holds term ${lease.term}` : 'no lease';
  return `${req.leader} does not hold the lease of term ${req.term} (${holds})`;
}
