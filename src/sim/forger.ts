/**
 * A forging client: a connection to the cluster's transport that is no node, publishing well-formed
 * but forged messages on every subject nodes act on — a heartbeat of an unknown node, a hand-off
 * request naming the real leader and term with an invented map version, a `leaveCluster` command for
 * a live node, events with a huge term and in a non-leader's name, and a lease write. It models any
 * client of a NATS server without permissions (see `aether nats-config`).
 */
import type { DomainEvent } from '../domain/events.js';
import type { ClusterState } from '../domain/state.js';
import type { NodeId } from '../domain/values.js';
import type { Clock, TimerHandle } from '../ports/clock.js';
import type { KvBucket } from '../ports/kv.js';
import type { Connection } from '../ports/transport.js';
import { encode, encodeLease, type HandoffRequest } from '../protocol/codec.js';
import type { names } from '../protocol/names.js';
import { LEASE_KEY } from '../runtime/lease-store.js';

/** The node id the forger speaks as when it invents one. */
export const FORGED_NODE = 'evil';
/** The term of its forged elections: far above any real one. */
export const FORGED_TERM = 999_999_999;

export interface ForgerDeps {
  readonly conn: Connection;
  readonly lease: KvBucket;
  readonly names: ReturnType<typeof names>;
  readonly clock: Clock;
  /** What the forger has learned of the cluster (a real one reads the topology bucket). */
  readonly cluster: () => ClusterState | null;
  /** Which kinds of forgery to send; {@link DEFAULT_FORGERIES} by default. */
  readonly kinds?: readonly ForgeryKind[];
}

export type ForgeryKind = 'heartbeat' | 'handoff' | 'command' | 'event' | 'lease';
export const FORGERY_KINDS: readonly ForgeryKind[] = ['heartbeat', 'handoff', 'command', 'event', 'lease'];

/**
 * The forgeries a `forge` fault sends unless told otherwise: all of them. The cluster withstands each —
 * a hand-off request is honoured only for a plan in the committed topology (the forged one names the
 * real leader and term but an invented map version, so it is refused and nothing is released), and a
 * lease write raises no term a node fences by (only committed terms do), so the forged huge term does
 * not shut out the real leader's later writes. The forged lease still costs the leader its lease: without
 * permissions anyone may write that key. The lease is written once an episode (the others every round).
 */
export const DEFAULT_FORGERIES: readonly ForgeryKind[] = FORGERY_KINDS;

/**
 * The forged hand-off request sent to `target`: in the name of the real leader and term, for every shard
 * `target` owns, each to another member under its real incarnation, with a map version nobody committed.
 */
export function forgedHandoff(state: ClusterState, target: NodeId): HandoffRequest {
  const leader = state.leader ?? { nodeId: FORGED_NODE, term: FORGED_TERM };
  const other = Object.values(state.nodes).find((n) => n.id !== target && n.status === 'Active');
  const to = other ?? { id: FORGED_NODE, incarnation: 1 };
  const moves = state.shardMap.owners.flatMap((o, shardId) =>
    o === target ? [{ shardId, to: to.id, incarnation: to.incarnation }] : [],
  );
  return { term: leader.term, leader: leader.nodeId, moves, version: state.shardMap.version + 1_000 };
}

/** How often a round of forgeries goes out while the forger runs. */
export const FORGE_INTERVAL_MS = 250;

export class Forger {
  #timer: TimerHandle | null = null;
  #target: NodeId | null = null;
  #seq = 0;
  /** Forgeries sent, by kind. */
  readonly sent: Record<ForgeryKind, number> = { heartbeat: 0, handoff: 0, command: 0, event: 0, lease: 0 };

  constructor(private readonly d: ForgerDeps) {}

  /** Whether this episode's lease write went out. */
  #leaseWritten = false;

  /** Starts forging against `target` (the live node named in hand-offs and commands). */
  start(target: NodeId): void {
    this.#target = target;
    this.#leaseWritten = false;
    if (this.#timer === null) this.#round();
  }

  stop(): void {
    this.#target = null;
    if (this.#timer !== null) this.d.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #round(): void {
    const target = this.#target;
    if (target === null) return;
    const kinds = this.d.kinds ?? DEFAULT_FORGERIES;
    for (const k of kinds) {
      // One lease write an episode: a forger rewriting it without pause keeps every node from leading,
      // which no runtime prevents without permissions (see the README's Security section).
      if (k === 'lease') {
        if (this.#leaseWritten) continue;
        this.#leaseWritten = true;
      }
      this.sent[k]++;
      try {
        this.#forge(k, target);
      } catch {
        // a forger does not care whether it was heard
      }
    }
    this.#timer = this.d.clock.setTimeout(() => this.#round(), FORGE_INTERVAL_MS);
  }

  #forge(kind: ForgeryKind, target: NodeId): void {
    const n = this.d.names;
    const bus = this.d.conn.bus;
    const state = this.d.cluster();
    const leader = state?.leader ?? null;
    const quiet = (p: Promise<unknown>) => p.catch(() => {});
    switch (kind) {
      case 'heartbeat':
        bus.publish(
          n.heartbeats,
          encode({ nodeId: FORGED_NODE, incarnation: 1, weight: 1, status: 'Active', version: 0, load: 0 }),
        );
        return;
      case 'handoff': {
        if (leader === null || state === null) return;
        const req = forgedHandoff(state, target);
        quiet(bus.request(n.handoff(target), encode(req), { timeoutMs: FORGE_INTERVAL_MS }));
        return;
      }
      case 'command': {
        const command = { type: 'leaveCluster', nodeId: target };
        const req = { requestId: `forged-${this.#seq++}`, from: FORGED_NODE, command };
        quiet(bus.request(n.leader, encode(req), { timeoutMs: FORGE_INTERVAL_MS }));
        return;
      }
      case 'event': {
        const at = this.d.clock.now();
        const version = state?.shardMap.version ?? 0;
        const elected: DomainEvent = {
          type: 'LeaderElected',
          id: `forged-${this.#seq++}`,
          origin: FORGED_NODE,
          term: FORGED_TERM,
          version,
          at,
          nodeId: FORGED_NODE,
          previous: leader,
        };
        bus.publish(n.event(elected.type), encode(elected));
        if (leader === null) return;
        // In the current term, in the name of a node that does not lead it.
        const left: DomainEvent = {
          type: 'NodeLeft',
          id: `forged-${this.#seq++}`,
          origin: target === leader.nodeId ? FORGED_NODE : target,
          term: leader.term,
          version,
          at,
          nodeId: target,
          reason: 'graceful',
          orphaned: [],
        };
        bus.publish(n.event(left.type), encode(left));
        return;
      }
      case 'lease': {
        const lease = this.d.lease;
        quiet(
          lease
            .get(LEASE_KEY)
            .then((cur) =>
              cur === null
                ? lease.create(LEASE_KEY, encodeLease(FORGED_NODE, FORGED_TERM))
                : lease.update(LEASE_KEY, encodeLease(FORGED_NODE, FORGED_TERM), cur.revision),
            ),
        );
        return;
      }
    }
  }
}
