/**
 * Every node re-reads the topology through the stream leader several times per fence window. Each
 * successful read confirms the node's membership (self-fencing: a node that cannot read stops
 * serving before the leader may reassign its shards), and a follower adopts a revision newer than
 * its watch delivered: a watch can stall (its consumer lost in a failover, or NATS 2.9 reporting a
 * pending count that never reaches zero while the key is being written) and a node must not stay
 * behind the committed map.
 */
import type { Logger } from 'pino';
import type { ClusterState } from '../domain/state.js';
import type { Clock } from '../ports/clock.js';
import type { NodeCounters } from './node-counters.js';
import type { KvTopologyStore } from './topology-store.js';

export interface TopologyResyncDeps {
  readonly topology: KvTopologyStore;
  readonly clock: Clock;
  readonly log: Logger;
  readonly counters: NodeCounters;
  readonly intervalMs: number;
  /** Whether to read now (the node runs). */
  readonly due: () => boolean;
  /** Whether a newer revision read is adopted here (followers; the leader writes the topology). */
  readonly follows: () => boolean;
  readonly heldRevision: () => number;
  readonly adopt: (state: ClusterState, revision: number) => void;
  /** A read that started at `startedAt` succeeded. */
  readonly contact: (startedAt: number, state: ClusterState | null) => void;
}

export class TopologyResync {
  #timer: unknown = null;
  #stopped = false;

  constructor(private readonly d: TopologyResyncDeps) {}

  start(): void {
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) this.d.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.d.clock.setTimeout(() => void this.#check(), this.d.intervalMs);
  }

  async #check(): Promise<void> {
    this.#timer = null;
    const d = this.d;
    try {
      if (d.due()) {
        const startedAt = d.clock.now();
        const r = await d.topology.read();
        if (!d.due() || this.#stopped) return;
        if (r !== null && r.revision > d.heldRevision() && d.follows()) {
          d.counters.topologyResyncs++;
          d.log.debug(
            { revision: r.revision, had: d.heldRevision() },
            'adopted a topology read ahead of the watch',
          );
          d.adopt(r.state, r.revision);
        }
        d.contact(startedAt, r?.state ?? null);
      }
    } catch (err) {
      d.log.debug({ err }, 'periodic topology read failed');
    }
    this.#schedule();
  }
}
