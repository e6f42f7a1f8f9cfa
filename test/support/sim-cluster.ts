/**
 * An in-process cluster on the memory transport under a simulated clock, for tests: start nodes,
 * crash/isolate them, advance time until a condition holds, and check the five invariants.
 */
import { expect } from 'vitest';
import { type MemoryTransport, memoryTransport } from '../../src/adapters/memory/index.js';
import { FAST_TIMING, type TimingConfig } from '../../src/config.js';
import type { DomainEvent } from '../../src/domain/events.js';
import { checkInvariants } from '../../src/domain/invariants.js';
import type { NodeId } from '../../src/domain/values.js';
import { SimulatedClock } from '../../src/ports/simulated-clock.js';
import { type ClusterNode, createClusterNode } from '../../src/runtime/cluster-node.js';
import type { ClusterNodeOptions } from '../../src/runtime/options.js';

export interface SimClusterOptions {
  readonly timing?: Partial<TimingConfig>;
  readonly shardCount?: number;
  readonly start?: number;
}

export interface SeenEvent {
  readonly at: number;
  readonly event: DomainEvent;
}

export class SimCluster {
  readonly clock: SimulatedClock;
  readonly transport: MemoryTransport;
  readonly nodes = new Map<NodeId, ClusterNode>();
  /** Every domain event seen by any node, once, with the simulated time it was first seen. */
  readonly events: SeenEvent[] = [];
  readonly #seen = new Set<string>();
  readonly timing: TimingConfig;
  readonly #opts: SimClusterOptions;

  constructor(opts: SimClusterOptions = {}) {
    this.#opts = opts;
    this.clock = new SimulatedClock(opts.start ?? 1_000_000);
    this.transport = memoryTransport({ clock: this.clock });
    this.timing = { ...FAST_TIMING, ...opts.timing };
  }

  /** Creates and starts a node; resolves when it is Active (time must be advanced meanwhile). */
  add(
    nodeId: NodeId,
    opts: Pick<ClusterNodeOptions, 'weight' | 'onRelease' | 'onAcquire'> = {},
  ): { node: ClusterNode; started: Promise<void> } {
    const node = createClusterNode({
      ...opts,
      nodeId,
      cluster: 'sim',
      transport: this.transport,
      clock: this.clock,
      timing: this.timing,
      shardCount: this.#opts.shardCount ?? 1024,
    });
    node.on('*', (e) => {
      if (this.#seen.has(e.id)) return;
      this.#seen.add(e.id);
      this.events.push({ at: this.clock.now(), event: e });
    });
    this.nodes.set(nodeId, node);
    const started = node.start();
    started.catch(() => {});
    return { node, started };
  }

  /** Starts `ids` and advances time until every one is Active. */
  async startAll(ids: readonly NodeId[], weights: Readonly<Record<NodeId, number>> = {}): Promise<void> {
    const all = ids.map(
      (id) => this.add(id, weights[id] === undefined ? {} : { weight: weights[id] }).started,
    );
    let done = false;
    Promise.all(all).then(
      () => {
        done = true;
      },
      () => {},
    );
    await this.clock.advanceUntil(() => done, 30_000);
  }

  node(id: NodeId): ClusterNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** Nodes still running. */
  running(): ClusterNode[] {
    return [...this.nodes.values()].filter(
      (n) => n.status() !== 'Left' || n.actor?.getSnapshot().status === 'active',
    );
  }

  /** Nodes that consider themselves leader right now. */
  leaders(): ClusterNode[] {
    return [...this.nodes.values()].filter((n) => n.isLeader());
  }

  leader(): ClusterNode | undefined {
    const l = this.leaders();
    return l.length === 1 ? l[0] : undefined;
  }

  /** Kills a node with no goodbye: its connection and its timers vanish. */
  async crash(id: NodeId): Promise<void> {
    this.transport.faults.crash(id);
    await this.node(id).crash();
  }

  /** Advances simulated time until `cond` holds; fails the test after `withinMs`. Returns the time it took. */
  async until(cond: () => boolean, withinMs: number, step = 10): Promise<number> {
    return this.clock.advanceUntil(cond, withinMs, step);
  }

  eventsOf<T extends DomainEvent['type']>(
    type: T,
    since = 0,
  ): (SeenEvent & { event: Extract<DomainEvent, { type: T }> })[] {
    return this.events.filter((e) => e.event.type === type && e.at >= since) as never;
  }

  /**
   * The five invariants over what the running nodes hold: one leader per term (and no two nodes
   * leading at once), every shard owned, owners Active (or Draining, keeping shards until handed off),
   * the leader Active, and the domain's own structural checks on the leader's committed state.
   */
  assertInvariants(): void {
    const leaders = this.leaders();
    expect(leaders.length, `leaders: ${leaders.map((l) => l.nodeId).join(',')}`).toBeLessThanOrEqual(1);
    const terms = new Map<number, Set<NodeId>>();
    for (const e of this.eventsOf('LeaderElected')) {
      const set = terms.get(e.event.term) ?? new Set();
      set.add(e.event.nodeId);
      terms.set(e.event.term, set);
    }
    for (const [term, who] of terms) expect(who.size, `term ${term} elected ${[...who].join(',')}`).toBe(1);
    const leader = leaders[0];
    if (!leader) return;
    const state = leader.clusterState()!;
    expect(checkInvariants(state)).toEqual([]);
    const self = state.nodes[leader.nodeId];
    expect(self?.status, 'the leader is an Active node').toBe('Active');
    if (state.orphaned.length === 0 && state.bootstrapped) {
      for (const [shard, owner] of state.shardMap.owners.entries()) {
        expect(owner, `shard ${shard} owned`).not.toBeNull();
        const status = state.nodes[owner!]?.status;
        expect(['Active', 'Draining'], `shard ${shard} on ${owner} (${status})`).toContain(status);
      }
    }
  }

  /** Shard counts per node in the leader's map. */
  loads(): Map<NodeId, number> {
    const m = new Map<NodeId, number>();
    for (const o of this.leader()?.clusterState()?.shardMap.owners ?? [])
      if (o) m.set(o, (m.get(o) ?? 0) + 1);
    return m;
  }

  /** Whether every running node holds the same shard-map version as the leader. */
  converged(): boolean {
    const leader = this.leader();
    if (!leader) return false;
    const v = leader.clusterState()!.shardMap.version;
    return [...this.nodes.values()]
      .filter((n) => n.status() === 'Active' || n.status() === 'Draining')
      .every((n) => n.clusterState()?.shardMap.version === v);
  }

  async stopAll(): Promise<void> {
    for (const n of this.nodes.values()) await n.crash();
  }
}
