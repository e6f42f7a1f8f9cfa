/**
 * Followers re-read the topology every heartbeat interval and adopt a revision newer than the watch
 * delivered: a watch can stall (its consumer lost in a failover, or NATS 2.9 reporting a pending
 * count that never reaches zero while the key is being written) and a node must not stay behind the
 * committed map. The read goes through the stream leader.
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
  /** Whether to read now (a running follower), and the revision this node holds. */
  readonly due: () => boolean;
  readonly heldRevision: () => number;
  readonly adopt: (state: ClusterState, revision: number) => void;
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
        const r = await d.topology.read();
        if (r !== null && r.revision > d.heldRevision() && d.due() && !this.#stopped) {
          d.counters.topologyResyncs++;
          d.log.debug(
            { revision: r.revision, had: d.heldRevision() },
            'adopted a topology read ahead of the watch',
          );
          d.adopt(r.state, r.revision);
        }
      }
    } catch (err) {
      d.log.debug({ err }, 'periodic topology read failed');
    }
    this.#schedule();
  }
}
