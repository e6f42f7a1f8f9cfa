/**
 * A cluster of nodes in this process on one memory transport, for the demo and the visualizer's
 * controls: add, crash, drain and stop nodes, and keep one ordered history of the domain events.
 */
import type { Logger } from 'pino';
import { type MemoryTransport, memoryTransport } from '../adapters/memory/index.js';
import type { TimingConfig } from '../config.js';
import type { DomainEvent } from '../domain/events.js';
import type { NodeId } from '../domain/values.js';
import type { Observation } from '../observe/observation.js';
import { type Clock, systemClock } from '../ports/clock.js';
import { type ClusterNode, createClusterNode } from '../runtime/cluster-node.js';
import { PausableClock, PausableTransport, PauseGate } from '../sim/pause.js';

export interface LocalClusterOptions {
  readonly cluster: string;
  readonly shardCount: number;
  readonly timing: TimingConfig;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly inspection?: boolean;
  /** Receives every node's observations (the visualizer relay). */
  readonly observe?: (o: Observation) => void;
}

export interface HistoryEntry {
  readonly at: number;
  readonly event: DomainEvent;
}

export class LocalCluster {
  /** The shared transport; its fault hooks crash or isolate nodes. */
  readonly transport: MemoryTransport;
  readonly #pausable: PausableTransport;
  readonly #gates = new Map<NodeId, PauseGate>();
  readonly clock: Clock;
  readonly nodes = new Map<NodeId, ClusterNode>();
  readonly history: HistoryEntry[] = [];
  readonly #seen = new Set<string>();
  readonly #o: LocalClusterOptions;
  readonly #listeners = new Set<(e: HistoryEntry) => void>();
  #next = 1;

  constructor(o: LocalClusterOptions) {
    this.#o = o;
    this.clock = o.clock ?? systemClock;
    this.transport = memoryTransport({ clock: this.clock });
    this.#pausable = new PausableTransport(this.transport, (id) => this.#gate(id));
  }

  /** A fresh node id: n1, n2, … */
  nextId(): NodeId {
    while (this.nodes.has(`n${this.#next}`)) this.#next++;
    return `n${this.#next++}`;
  }

  /** Starts a node; resolves when it is Active. */
  async add(nodeId: NodeId = this.nextId()): Promise<ClusterNode> {
    // A fresh process: its own gate, so that a pause freezes its timers and holds its inbox.
    const gate = new PauseGate(this.clock);
    this.#gates.get(nodeId)?.discard();
    this.#gates.set(nodeId, gate);
    const node = createClusterNode({
      nodeId,
      cluster: this.#o.cluster,
      transport: this.#pausable,
      clock: new PausableClock(this.clock, gate),
      timing: this.#o.timing,
      shardCount: this.#o.shardCount,
      inspection: this.#o.inspection ? { maxEventsPerSecond: 400 } : false,
      ...(this.#o.logger ? { logger: this.#o.logger } : {}),
    });
    node.on('*', (event) => {
      if (this.#seen.has(event.id)) return;
      this.#seen.add(event.id);
      const entry = { at: this.clock.now(), event };
      this.history.push(entry);
      for (const l of this.#listeners) l(entry);
    });
    if (this.#o.observe) node.observe(this.#o.observe);
    this.nodes.set(nodeId, node);
    await node.start();
    return node;
  }

  onEvent(listener: (e: HistoryEntry) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Nodes whose process is running (not crashed or stopped). */
  running(): ClusterNode[] {
    return [...this.nodes.values()].filter(
      (n) => n.actor !== null && n.actor.getSnapshot().status === 'active',
    );
  }

  leader(): ClusterNode | undefined {
    const l = this.running().filter((n) => n.isLeader());
    return l.length === 1 ? l[0] : undefined;
  }

  /** A running, Active node that is not the leader, chosen by `pick` (e.g. a seeded random). */
  follower(pick: (n: number) => number = () => 0): ClusterNode | undefined {
    const f = this.running().filter((n) => !n.isLeader() && n.status() === 'Active');
    return f.length > 0 ? f[pick(f.length) % f.length] : undefined;
  }

  /** Kills a node with no goodbye: its connection and timers vanish. */
  async crash(nodeId: NodeId): Promise<void> {
    const node = this.nodes.get(nodeId);
    if (!node) throw new Error(`no node ${nodeId}`);
    this.transport.faults.crash(nodeId);
    this.#gates.get(nodeId)?.discard();
    await node.crash();
  }

  /** Freezes a node's process (a long GC, SIGSTOP): no timer fires, what reaches it waits. */
  pause(nodeId: NodeId): void {
    this.#gate(nodeId).pause();
  }

  /** Thaws a paused node: everything it missed runs in arrival order. */
  resume(nodeId: NodeId): void {
    this.#gate(nodeId).resume();
  }

  #gate(nodeId: NodeId): PauseGate {
    const gate = this.#gates.get(nodeId);
    if (!gate) throw new Error(`no node ${nodeId}`);
    return gate;
  }

  /**
   * What the visualizer's buttons do: `add` a node, or `crash`, `drain`, `stop`, `pause` (freeze its
   * process) or `resume` one. Never throws: failures come back as `{ ok: false }`.
   */
  async control(action: string, nodeId?: string): Promise<{ ok: boolean; message: string }> {
    try {
      if (action === 'add') {
        const node = await this.add();
        return { ok: true, message: `${node.nodeId} joined` };
      }
      const node = nodeId ? this.nodes.get(nodeId) : undefined;
      if (!node) return { ok: false, message: `no node ${nodeId}` };
      switch (action) {
        case 'crash':
          await this.crash(node.nodeId);
          return { ok: true, message: `${node.nodeId} crashed` };
        case 'drain':
          void node.drain().catch(() => {});
          return { ok: true, message: `${node.nodeId} is draining` };
        case 'stop':
          await node.stop();
          return { ok: true, message: `${node.nodeId} stopped` };
        case 'pause':
          this.pause(node.nodeId);
          return { ok: true, message: `${node.nodeId} paused: its timers and inbox are frozen` };
        case 'resume':
          this.resume(node.nodeId);
          return { ok: true, message: `${node.nodeId} resumed` };
        default:
          return { ok: false, message: `unknown action ${action}` };
      }
    } catch (err) {
      return { ok: false, message: (err as Error).message };
    }
  }

  /** Shard counts per node in the leader's map. */
  loads(): Map<NodeId, number> {
    const m = new Map<NodeId, number>();
    for (const o of this.leader()?.clusterState()?.shardMap.owners ?? [])
      if (o) m.set(o, (m.get(o) ?? 0) + 1);
    return m;
  }

  /** One leader, every running member on its shard-map version, no rebalance in flight. */
  settled(): boolean {
    const leader = this.leader();
    const state = leader?.clusterState();
    if (!leader || !state || state.rebalance !== null || state.orphaned.length > 0) return false;
    return this.running()
      .filter((n) => n.status() === 'Active' || n.status() === 'Draining')
      .every((n) => n.clusterState()?.shardMap.version === state.shardMap.version);
  }

  /** Resolves when `cond` holds, checking every `stepMs`; rejects after `withinMs`. */
  waitFor(cond: () => boolean, withinMs: number, what: string, stepMs = 20): Promise<number> {
    const start = this.clock.now();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (cond()) return resolve(this.clock.now() - start);
        if (this.clock.now() - start >= withinMs)
          return reject(new Error(`timed out after ${withinMs} ms waiting for ${what}`));
        this.clock.setTimeout(check, stepMs);
      };
      check();
    });
  }

  eventsSince<T extends DomainEvent['type']>(
    type: T,
    since: number,
  ): (HistoryEntry & { event: Extract<DomainEvent, { type: T }> })[] {
    return this.history.filter((e) => e.event.type === type && e.at >= since) as never;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.running().map((n) => n.crash()));
  }
}
