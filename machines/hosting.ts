/**
 * Which shards a node serves, as pure functions over the shard host's context: shards owned in the
 * committed map, minus those released to a hand-off that has not committed yet.
 */
import { fenceAfterMs } from '../src/config.js';
import type { ClusterState } from '../src/domain/state.js';
import type { NodeId, ShardId, Term } from '../src/domain/values.js';
import type { HandoffMove, HandoffRefusal, LeaseRecord } from '../src/protocol/messages.js';

/**
 * A leader's request to release shards: the moves of its committed plan (each naming the target and
 * its incarnation), with the shard-map version of the plan behind it.
 */
export interface ReleaseRequest {
  readonly requestId: string;
  readonly leader: NodeId;
  readonly term: Term;
  readonly moves: readonly HandoffMove[];
  readonly version: number;
}

/** The shards a request asks for, in its order. */
export function requestedShards(req: Pick<ReleaseRequest, 'moves'>): ShardId[] {
  return req.moves.map((m) => m.shardId);
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
export function leaseRefusal(req: ReleaseRequest, lease: LeaseRecord | null): HandoffRefusal | null {
  if (lease !== null && lease.term === req.term && lease.holder === req.leader) return null;
  const holds = lease ? `${lease.holder} holds term ${lease.term}` : 'no lease';
  return {
    code: 'not-lease-holder',
    message: `${req.leader} does not hold the lease of term ${req.term} (${holds})`,
  };
}

/**
 * Whether a request matches a plan in the committed topology `cluster`: it comes from the leader of
 * record in its term, names a map version that was committed, and each shard of it still owned here is
 * moved by the plan in progress from `nodeId` to the named target, whose incarnation is the one on
 * record. Shards no longer owned here (moved already) are passed over: there is nothing to release.
 * Returns why the request is refused, or null to honour it. Any client of the transport can send a
 * request in the leader's name; only the topology record, written by compare-and-set under the
 * leader's term, says what the leader planned.
 */
export function planRefusal(
  req: ReleaseRequest,
  cluster: ClusterState | null,
  nodeId: NodeId,
): HandoffRefusal | null {
  const notPlanned = (message: string): HandoffRefusal => ({ code: 'not-planned', message });
  if (cluster === null) return notPlanned('no committed topology is known');
  const l = cluster.leader;
  if (l === null || l.nodeId !== req.leader || l.term !== req.term) {
    const of = l === null ? 'no leader' : `${l.nodeId} of term ${l.term}`;
    return notPlanned(`${req.leader} of term ${req.term} is not the committed leader (${of})`);
  }
  if (req.version > cluster.shardMap.version) {
    return notPlanned(
      `map version ${req.version} is not committed (the record is at ${cluster.shardMap.version})`,
    );
  }
  const remaining = cluster.rebalance?.remaining ?? [];
  for (const m of req.moves) {
    if (cluster.shardMap.owners[m.shardId] !== nodeId) continue;
    const target = cluster.nodes[m.to];
    if (target === undefined || target.incarnation !== m.incarnation) {
      return {
        code: 'wrong-incarnation',
        message: `${m.to} of incarnation ${m.incarnation} is not on record (${target ? `incarnation ${target.incarnation}` : 'not a member'})`,
      };
    }
    if (!remaining.some((p) => p.shardId === m.shardId && p.from === nodeId && p.to === m.to)) {
      return notPlanned(`no committed plan moves shard ${m.shardId} from ${nodeId} to ${m.to}`);
    }
  }
  return null;
}
