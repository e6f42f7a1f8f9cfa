/** Reads of the root actor's system for a node's queries: leadership state, hand-offs, served shards, loads. */
import type { Actor, ActorRefFrom } from 'xstate';
import type { ClusterNodeMachine } from '../../machines/cluster-node.machine.js';
import { serving } from '../../machines/hosting.js';
import type { leadershipMachine } from '../../machines/leadership.machine.js';
import type { nodeLifecycleMachine } from '../../machines/node-lifecycle.machine.js';
import type { rebalancingMachine } from '../../machines/rebalancing.machine.js';
import type { shardHostMachine } from '../../machines/shard-host.machine.js';
import {
  LEADERSHIP_SYSTEM_ID,
  lifecycleSystemId,
  REBALANCER_SYSTEM_ID,
  SHARD_HOST_SYSTEM_ID,
} from '../../machines/system-ids.js';
import type { NodeId, NodeStatus, ShardId } from '../domain/values.js';
import type { ClusterView, HandoffView } from '../observe/observation.js';

type Root = Actor<ClusterNodeMachine>;

/** The leadership actor's top-level state (`leader`, `follower`, …), or null once it is gone. */
export function leadershipState(actor: Root | null): string | null {
  const ref = actor?.system.get(LEADERSHIP_SYSTEM_ID) as ActorRefFrom<typeof leadershipMachine> | undefined;
  const value = ref?.getSnapshot().value;
  if (value === undefined) return null;
  return typeof value === 'string' ? value : (Object.keys(value)[0] ?? null);
}

/**
 * Shards this node serves now: owned in the map and not released in a hand-off, while its membership
 * is confirmed. Judged against the clock too, so a process resuming from a pause serves nothing
 * before its fence timer has even fired.
 */
export function servedShards(actor: Root | null, now: number): ShardId[] {
  const host = shardHost(actor);
  if (!host || host.fenced || now >= host.confirmedUntil) return [];
  return serving(host);
}

/** Whether this node stopped serving because it could not confirm its membership in time. */
export function isFenced(actor: Root | null, now: number): boolean {
  const host = shardHost(actor);
  return host !== null && (host.fenced || now >= host.confirmedUntil);
}

function shardHost(actor: Root | null) {
  const ref = actor?.system.get(SHARD_HOST_SYSTEM_ID) as ActorRefFrom<typeof shardHostMachine> | undefined;
  return ref?.getSnapshot().context ?? null;
}

/** The moves of the rebalancing round in flight (leader only). */
export function handoffs(actor: Root | null): HandoffView[] {
  const ref = actor?.system.get(REBALANCER_SYSTEM_ID) as ActorRefFrom<typeof rebalancingMachine> | undefined;
  const snap = ref?.getSnapshot();
  if (!snap?.matches('migrating')) return [];
  return snap.context.round.flatMap((m) =>
    m.from === null ? [] : [{ shardId: m.shardId, from: m.from, to: m.to }],
  );
}

/** The load a node last reported in its heartbeat, as heard here; null when never heard. */
export function heardLoad(actor: Root | null, nodeId: NodeId): number | null {
  const ref = actor?.system.get(lifecycleSystemId(nodeId)) as
    | ActorRefFrom<typeof nodeLifecycleMachine>
    | undefined;
  return ref?.getSnapshot().context.load ?? null;
}

/** One node's view of the cluster, from its root actor's state. */
export function clusterView(
  actor: Root | null,
  self: {
    readonly nodeId: NodeId;
    readonly cluster: string;
    readonly status: NodeStatus;
    readonly isLeader: boolean;
    /** The load this node reports itself. */
    readonly ownLoad: number;
    readonly at: number;
  },
): ClusterView {
  const fenced = isFenced(actor, self.at);
  const ctx = actor?.getSnapshot().context ?? null;
  const cluster = ctx?.cluster;
  const counts = new Map<NodeId, number>();
  for (const o of cluster?.shardMap.owners ?? []) if (o !== null) counts.set(o, (counts.get(o) ?? 0) + 1);
  const loadOf = (id: NodeId) => (id === self.nodeId ? self.ownLoad : (heardLoad(actor, id) ?? 0));
  return {
    nodeId: self.nodeId,
    cluster: self.cluster,
    status: self.status,
    incarnation: ctx?.incarnation ?? 0,
    leader: cluster?.leader ?? null,
    isLeader: self.isLeader,
    nodes: Object.values(cluster?.nodes ?? {})
      .map((n) => ({ ...n, load: loadOf(n.id), shards: counts.get(n.id) ?? 0 }))
      .sort((a, b) => a.id.localeCompare(b.id)),
    shardMap: cluster?.shardMap ?? { version: 0, term: 0, owners: [] },
    handoffs: handoffs(actor),
    fenced,
    at: self.at,
  };
}

/** This process's status as the topology it holds records it (Joining until admitted as this incarnation). */
export function recordedStatus(actor: Root | null): NodeStatus {
  const ctx = actor?.getSnapshot().context;
  const self = ctx?.cluster.nodes[ctx.nodeId];
  return ctx && self && self.incarnation === ctx.incarnation ? self.status : 'Joining';
}

/** Whether another node is a member (Active or Draining) in the topology this node holds. */
export function othersAreMembers(actor: Root | null): boolean {
  const ctx = actor?.getSnapshot().context;
  if (!ctx) return false;
  return Object.values(ctx.cluster.nodes).some(
    (n) => n.id !== ctx.nodeId && (n.status === 'Active' || n.status === 'Draining'),
  );
}
