/**
 * A cluster node: wires the statecharts to the ports. Adapters feed facts (lease and topology
 * watches, heartbeats, commands, hand-off requests) into the root actor as events; the machines'
 * emitted domain events leave through the audit log and the node's one observation stream.
 */

import type { Logger } from 'pino';
import {
  type Actor,
  type AnyActorRef,
  createActor,
  fromPromise,
  type InspectionEvent as XInspectionEvent,
} from 'xstate';
import {
  type ClusterNodeEmitted,
  type ClusterNodeEvent,
  clusterNodeMachine,
} from '../../machines/cluster-node.machine.js';
import { leadershipMachine } from '../../machines/leadership.machine.js';
import { type HandOffInput, rebalancingMachine } from '../../machines/rebalancing.machine.js';
import { LEADERSHIP_SYSTEM_ID, REBALANCER_SYSTEM_ID, ROOT_SYSTEM_ID } from '../../machines/system-ids.js';
import { memoryTransport } from '../adapters/memory/memory-transport.js';
import {
  CommandRejectedError,
  InvalidValueError,
  NotLeaderError,
  StoppedError,
  TimeoutError,
} from '../domain/errors.js';
import {
  DOMAIN_EVENT_TYPES,
  type DomainEvent,
  type DomainEventOf,
  type DomainEventType,
} from '../domain/events.js';
import type { ClusterState } from '../domain/state.js';
import { type NodeId, type NodeStatus, type ShardId, shardForKey, type Term } from '../domain/values.js';
import { createInspector, type Inspector } from '../observe/inspection-bridge.js';
import type { ClusterView, HandoffView, Observation } from '../observe/observation.js';
import { publishObservations } from '../observe/wire.js';
import type { AuditLog, BusMessage } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import type { Unsubscribe } from '../ports/kv.js';
import type { Connection, ConnectionStatus, StoreWarning, Transport } from '../ports/transport.js';
import {
  type CommandReply,
  decodeCommand,
  decodeCommandReply,
  decodeDomainEvent,
  decodeHandoff,
  decodeHandoffReply,
  decodeHeartbeat,
  encode,
} from '../protocol/codec.js';
import type { Heartbeat, OperatorCommand } from '../protocol/messages.js';
import { names } from '../protocol/names.js';
import { KvLeaseStore } from './lease-store.js';
import { type ClusterNodeOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { withTimeout } from './timeout.js';
import { KvTopologyStore } from './topology-store.js';

/** Counters of what the node dropped instead of applying. */
export interface NodeCounters {
  malformed: Record<'heartbeat' | 'event' | 'command' | 'handoff' | 'lease' | 'topology', number>;
  /** Hand-off requests refused because they came from a deposed leader (lower term). */
  staleHandoffs: number;
  /**
   * Live events dropped because their term is below the highest this node knows (a deposed
   * leader's late or replayed decisions); the audit stream still keeps them.
   */
  staleEvents: number;
  /** Heartbeats dropped because they came from an older incarnation of a node (a previous process). */
  staleHeartbeats: number;
  /** Times a periodic topology read found a newer revision than the watch had delivered. */
  topologyResyncs: number;
  /** Events re-sent after a failed publish. */
  republished: number;
}

type Handler<T extends DomainEventType | '*'> = (
  event: T extends DomainEventType ? DomainEventOf<T> : DomainEvent,
) => void;

let sharedTransport: Transport | null = null;
/** The last incarnation handed out in this process, per transport (so separate runs stay independent). */
const lastIncarnation = new WeakMap<Transport, number>();
/** The in-memory transport shared by nodes created without one. */
function defaultTransport(): Transport {
  sharedTransport ??= memoryTransport();
  return sharedTransport;
}

const EVENT_TYPES = new Set<string>(DOMAIN_EVENT_TYPES);
const SEEN_IDS_KEPT = 4096;

/**
 * Creates a cluster node. Nothing happens until `start()`.
 * @throws InvalidConfigError naming the field when an option is invalid.
 */
export function createClusterNode(options: ClusterNodeOptions): ClusterNode {
  return new ClusterNode(resolveOptions(options));
}

export class ClusterNode {
  readonly nodeId: NodeId;
  readonly cluster: string;
  readonly #o: ResolvedOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #names: ReturnType<typeof names>;
  readonly #transport: Transport;
  #conn: Connection | null = null;
  #audit: AuditLog | null = null;
  #lease: KvLeaseStore | null = null;
  #topology: KvTopologyStore | null = null;
  #actor: Actor<typeof clusterNodeMachine> | null = null;
  #inspector: Inspector | null = null;
  readonly #unsubs: Unsubscribe[] = [];
  #leaderSub: Unsubscribe | null = null;
  readonly #listeners = new Map<string, Set<(e: DomainEvent) => void>>();
  readonly #observers = new Set<(o: Observation) => void>();
  readonly #seen = new Set<string>();
  readonly #seenOrder: string[] = [];
  readonly #pendingCommands = new Map<string, (reply: CommandReply) => void>();
  #requestSeq = 0;
  /**
   * Shards this node still owns in the map but has released for a hand-off, with the shard-map
   * version that holds the plan behind the request.
   */
  readonly #released = new Map<ShardId, number>();
  #owned = new Set<ShardId>();
  #trackedCluster: ClusterState | null = null;
  #publishChain: Promise<void> = Promise.resolve();
  #phase: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  #connStatus: ConnectionStatus = 'connected';
  #stopWaiters: (() => void)[] = [];
  #topologyTimer: unknown = null;
  /** Facts that arrive while starting, before the actor exists; null once it runs. */
  #early: ClusterNodeEvent[] | null = null;
  readonly #statusWaiters = new Set<() => void>();
  readonly counters: NodeCounters = {
    malformed: { heartbeat: 0, event: 0, command: 0, handoff: 0, lease: 0, topology: 0 },
    staleHandoffs: 0,
    staleEvents: 0,
    staleHeartbeats: 0,
    topologyResyncs: 0,
    republished: 0,
  };

  /** @internal Use {@link createClusterNode}. */
  constructor(o: ResolvedOptions) {
    this.#o = o;
    this.nodeId = o.nodeId;
    this.cluster = o.cluster;
    this.#clock = o.clock;
    this.#log = o.logger.child({ node: o.nodeId, cluster: o.cluster });
    this.#names = names(o.cluster);
    this.#transport = o.transport ?? defaultTransport();
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  /** Connects, joins the cluster and resolves once this node is Active (admitted by the leader). */
  async start(): Promise<void> {
    if (this.#phase !== 'new') throw new StoppedError(`node ${this.nodeId} was already started`);
    this.#phase = 'starting';
    try {
      await this.#open();
    } catch (err) {
      // A store that refuses us (wrong bucket TTL, JetStream off, unreachable) must not leave an
      // open connection behind, or the process would never exit.
      await this.#halt(false);
      throw err;
    }
    await this.#waitFor(() => this.status() === 'Active', `node ${this.nodeId} to become Active`);
  }

  /** Store warnings the transport reported (NATS: old server version, too few replicas). */
  get storeWarnings(): readonly StoreWarning[] {
    return this.#conn?.storeWarnings ?? [];
  }

  async #open(): Promise<void> {
    const o = this.#o;
    const conn = await this.#transport.connect(this.nodeId);
    this.#conn = conn;
    if (this.#phase !== 'starting') throw new StoppedError(`node ${this.nodeId} stopped while starting`);
    const t = o.timing;
    const replicas = o.replicas === null ? {} : { replicas: o.replicas };
    const [leaseBucket, topologyBucket, audit] = await Promise.all([
      conn.kv(this.#names.leaseBucket, { ttlMs: t.leaseTtlMs, ...replicas }),
      conn.kv(this.#names.topologyBucket, { ...replicas }),
      conn.auditLog(this.#names.auditStream, this.#names.events),
    ]);
    for (const w of this.storeWarnings) this.#log.warn({ code: w.code, ...w.details }, w.message);
    this.#audit = audit;
    this.#lease = new KvLeaseStore(leaseBucket, this.#clock, {
      timeoutMs: t.requestTimeoutMs,
      onMalformed: (error) => this.#dropped('lease', error),
    });
    this.#topology = new KvTopologyStore(topologyBucket, this.#clock, {
      timeoutMs: t.requestTimeoutMs,
      onMalformed: (error) => this.#dropped('topology', error),
    });

    this.#unsubs.push(conn.onStatus((s) => this.#onConnectionStatus(s)));
    this.#unsubs.push(await conn.bus.subscribe(this.#names.heartbeats, (m) => this.#onHeartbeat(m)));
    this.#unsubs.push(await conn.bus.subscribe(this.#names.events, (m) => this.#onBusEvent(m)));
    this.#unsubs.push(await conn.bus.subscribe(this.#names.renewals, (m) => this.#onBusEvent(m)));
    this.#unsubs.push(
      await conn.bus.subscribe(this.#names.handoff(this.nodeId), (m) => void this.#onHandoff(m)),
    );
    if (o.inspection?.publish) {
      // Before the actor starts: a relay elsewhere needs every actor's registration.
      const publisher = await publishObservations({
        bus: conn.bus,
        cluster: this.cluster,
        nodeId: this.nodeId,
        clock: this.#clock,
        onError: (err) => this.#log.debug({ err }, 'observation publish failed'),
      });
      this.#unsubs.push(this.observe(publisher.observe), publisher.close);
    }

    // Watches first, the actor after: the actor's first heartbeat gets this incarnation admitted,
    // so a start that fails on the way (a store slow to create consumers) must fail before it, or
    // the cluster would record a node that never ran. Facts arriving meanwhile are kept in order.
    this.#early = [];
    this.#unsubs.push(
      await this.#lease.watch((lease) => this.#send({ type: 'LEASE_CHANGED', at: this.#now(), lease })),
    );
    // No lease at all (a new cluster, or the last leader released it): campaign now rather than after a TTL.
    const current = await this.#lease.read().catch(() => null);
    if (current !== null && current.lease === null)
      this.#send({ type: 'LEASE_CHANGED', at: this.#now(), lease: null });
    this.#unsubs.push(
      await this.#topology.watch((r) =>
        this.#send({ type: 'TOPOLOGY', at: this.#now(), state: r.state, revision: r.revision }),
      ),
    );
    if (this.#phase !== 'starting') throw new StoppedError(`node ${this.nodeId} stopped while starting`);

    this.#actor = this.#createActor();
    this.#actor.subscribe({
      next: () => this.#afterSnapshot(),
      error: (err) => this.#log.error({ err }, 'root actor failed'),
    });
    this.#actor.start();
    const early = this.#early;
    this.#early = null;
    for (const e of early) this.#send(e);
    this.#phase = 'running';
    this.#scheduleTopologyCheck();
    this.#log.info({ transport: this.#transport.kind }, 'node started');
  }

  /**
   * Leaves gracefully: hands leadership on, asks the leader to record NodeLeft (its shards are
   * reassigned at once, no failure timeout), then stops.
   */
  async stop(): Promise<void> {
    if (this.#phase === 'stopped' || this.#phase === 'new') {
      this.#phase = 'stopped';
      return;
    }
    if (this.#phase === 'stopping') return new Promise((r) => this.#stopWaiters.push(r));
    this.#phase = 'stopping';
    try {
      const status = this.status();
      // Stopped while still starting there may be no actor yet: then there are no members either.
      const others = this.#hasOtherMembers();
      if (this.isLeader() && others) await this.#resign();
      if ((status === 'Active' || status === 'Draining') && others) {
        try {
          await this.#command({ type: 'leaveCluster', nodeId: this.nodeId }, this.#o.timing.leaseTtlMs * 2);
        } catch (err) {
          this.#log.warn({ err }, 'could not record a graceful leave; the failure detector will');
        }
      }
    } finally {
      await this.#halt(true);
    }
  }

  /** Moves every shard off this node (tracked hand-offs), then leaves: Draining → Left. */
  async drain(): Promise<void> {
    this.#assertRunning('drain');
    const drainSelf = () =>
      this.#command({ type: 'drainNode', nodeId: this.nodeId }, this.#o.timing.leaseTtlMs * 2);
    // A draining node may not lead: hand leadership on first (if it won the lease back, again).
    if (this.isLeader() && this.#hasOtherMembers()) await this.#resign();
    let reply = await drainSelf();
    for (let attempt = 0; !reply.ok && reply.code === 'NODE_IS_LEADER' && attempt < 3; attempt++) {
      await this.#resign();
      reply = await drainSelf();
    }
    if (!reply.ok) throw new CommandRejectedError(reply.code, reply.message);
    await this.#waitFor(() => this.status() === 'Left', `node ${this.nodeId} to finish draining`);
    await this.stop();
  }

  /** Stops at once with no goodbye, as a crashed process would (for tests and demos). */
  async crash(): Promise<void> {
    await this.#halt(false);
  }

  // ---- operator commands -------------------------------------------------------------------------

  /** Asks the leader to drain another node. Resolves with the committed events; throws CommandRejectedError. */
  async drainNode(nodeId: NodeId): Promise<readonly DomainEvent[]> {
    return this.#commandOrThrow({ type: 'drainNode', nodeId });
  }

  /** Asks the leader to mark a node Failed now (e.g. an operator knows the host is gone). */
  async markNodeFailed(nodeId: NodeId): Promise<readonly DomainEvent[]> {
    return this.#commandOrThrow({ type: 'markNodeFailed', nodeId });
  }

  // ---- queries -------------------------------------------------------------------------------------

  /** This node's status as the committed topology records it (Joining until admitted). */
  status(): NodeStatus {
    if (this.#phase === 'stopped') return 'Left';
    const ctx = this.#ctxOrNull();
    if (!ctx) return 'Joining';
    const self = ctx.cluster.nodes[this.nodeId];
    return self && self.incarnation === ctx.incarnation ? self.status : 'Joining';
  }

  isLeader(): boolean {
    const ctx = this.#ctxOrNull();
    return ctx !== null && ctx.term !== null && this.#leadershipState() === 'leader';
  }

  /** The leader this node knows of, with its term. */
  leader(): { nodeId: NodeId; term: Term } | null {
    return this.#ctxOrNull()?.cluster.leader ?? null;
  }

  /** Owner of a shard in the committed map, or null while orphaned. */
  ownerOf(shardId: ShardId): NodeId | null {
    const ctx = this.#ctxOrNull();
    if (!ctx) return null;
    if (!Number.isInteger(shardId) || shardId < 0 || shardId >= ctx.cluster.shardCount) {
      throw new InvalidValueError(
        `shard id must be an integer in [0, ${ctx.cluster.shardCount}), got ${shardId}`,
      );
    }
    return ctx.cluster.shardMap.owners[shardId] ?? null;
  }

  /** The shard of an entity key (stable across nodes). */
  shardForKey(key: string): ShardId {
    return shardForKey(key, this.#o.shardCount);
  }

  /** Shards this node serves now: owned in the map and not released in a hand-off. */
  ownedShards(): ShardId[] {
    return [...this.#owned].filter((s) => !this.#released.has(s)).sort((a, b) => a - b);
  }

  /** One node's view of the cluster. */
  state(): ClusterView {
    const ctx = this.#ctxOrNull();
    const cluster = ctx?.cluster;
    const counts = new Map<NodeId, number>();
    for (const o of cluster?.shardMap.owners ?? []) if (o !== null) counts.set(o, (counts.get(o) ?? 0) + 1);
    return {
      nodeId: this.nodeId,
      cluster: this.cluster,
      status: this.status(),
      incarnation: ctx?.incarnation ?? 0,
      leader: cluster?.leader ?? null,
      isLeader: this.isLeader(),
      nodes: Object.values(cluster?.nodes ?? {})
        .map((n) => ({ ...n, shards: counts.get(n.id) ?? 0 }))
        .sort((a, b) => a.id.localeCompare(b.id)),
      shardMap: cluster?.shardMap ?? { version: 0, term: 0, owners: [] },
      handoffs: this.#handoffs(),
      at: this.#now(),
    };
  }

  /** The cluster state this node holds (the committed topology). */
  clusterState(): ClusterState | null {
    return this.#ctxOrNull()?.cluster ?? null;
  }

  /** The root actor, for inspection and tests. */
  get actor(): AnyActorRef | null {
    return this.#actor;
  }

  get connectionStatus(): ConnectionStatus {
    return this.#connStatus;
  }

  // ---- events ----------------------------------------------------------------------------------------

  /** Subscribes to domain events of one type, or `'*'` for all. Returns an unsubscribe function. */
  on<T extends DomainEventType | '*'>(type: T, handler: Handler<T>): Unsubscribe {
    if (type !== '*' && !EVENT_TYPES.has(type))
      throw new InvalidValueError(`unknown event type ${String(type)}`);
    let set = this.#listeners.get(type);
    if (!set) {
      set = new Set();
      this.#listeners.set(type, set);
    }
    const h = handler as (e: DomainEvent) => void;
    set.add(h);
    return () => set.delete(h);
  }

  /** All domain events from now on as an async iterator; it ends when the node stops. */
  events(): AsyncIterableIterator<DomainEvent> {
    const buffer: DomainEvent[] = [];
    let wake: (() => void) | null = null;
    const off = this.on('*', (e) => {
      buffer.push(e);
      wake?.();
    });
    const stopped = () => this.#phase === 'stopped';
    const onStop = () => wake?.();
    this.#stopWaiters.push(onStop);
    const it: AsyncIterableIterator<DomainEvent> = {
      next: async () => {
        while (buffer.length === 0 && !stopped()) await new Promise<void>((r) => (wake = r));
        wake = null;
        const value = buffer.shift();
        if (value === undefined) {
          off();
          return { done: true, value: undefined };
        }
        return { done: false, value };
      },
      return: async () => {
        off();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  /** The observation stream: domain events, cluster views and (with `inspection`) XState inspection events. */
  observe(listener: (o: Observation) => void): Unsubscribe {
    this.#observers.add(listener);
    return () => this.#observers.delete(listener);
  }

  // ---- internals: the actor -------------------------------------------------------------------

  #createActor(): Actor<typeof clusterNodeMachine> {
    const o = this.#o;
    const lease = this.#lease!;
    const topology = this.#topology!;
    const machine = clusterNodeMachine.provide({
      actors: {
        leadership: leadershipMachine.provide({
          actors: {
            acquireLease: fromPromise(({ input }) => lease.acquire(input.nodeId)),
            renewLease: fromPromise(({ input }) => lease.renew(input.nodeId, input.term, input.revision)),
            releaseLease: fromPromise(({ input }) => lease.release(input.term, input.revision)),
            readLease: fromPromise(() => lease.read()),
          },
        }),
        rebalancing: rebalancingMachine.provide({
          actors: { handOff: fromPromise(({ input }) => this.#handOff(input)) },
        }),
        readTopology: fromPromise(async () => {
          const r = await topology.read();
          return { state: r?.state ?? null, revision: r?.revision ?? 0, at: this.#now() };
        }),
        commitTopology: fromPromise(async ({ input }) => {
          // Fencing on the writer's side too: never write on top of a state a newer term has written.
          if (input.state.highestTerm > input.term || input.state.shardMap.term > input.term) {
            throw new NotLeaderError(
              `term ${input.term} is deposed: the topology already carries term ${Math.max(input.state.highestTerm, input.state.shardMap.term)}`,
            );
          }
          const revision = await topology.commit(
            input.state,
            input.expectedRevision,
            this.nodeId,
            input.term,
          );
          return { revision, at: this.#now() };
        }),
      },
      actions: {
        sendHeartbeat: (_, hb: Heartbeat) => this.#publish(this.#names.heartbeats, hb),
      },
    });
    // The start time, made unique per transport in this process: a node stopped and started again in the same
    // millisecond must still come back as a newer incarnation, or the leader would never admit it.
    const incarnation = Math.max(this.#clock.now(), (lastIncarnation.get(this.#transport) ?? 0) + 1);
    lastIncarnation.set(this.#transport, incarnation);
    if (o.inspection) {
      this.#inspector = createInspector(
        this.nodeId,
        (event) => this.#observeAll({ kind: 'inspection', nodeId: this.nodeId, event }),
        {
          ...o.inspection,
          clock: this.#clock,
        },
      );
    }
    return createActor(machine, {
      systemId: ROOT_SYSTEM_ID,
      clock: {
        setTimeout: (fn, ms) => this.#clock.setTimeout(fn, ms),
        clearTimeout: (h) => this.#clock.clearTimeout(h),
      },
      input: {
        nodeId: this.nodeId,
        incarnation,
        weight: o.weight,
        shardCount: o.shardCount,
        timing: o.timing,
        maxMovesPerRound: o.maxMovesPerRound,
        strategy: o.placement,
        now: this.#now(),
        idPrefix: `${this.nodeId}-${incarnation.toString(36)}`,
      },
      inspect: (ev) => this.#onInspect(ev),
    });
  }

  #onInspect(ev: XInspectionEvent): void {
    if (ev.type === '@xstate.actor') {
      // Every actor's emitted events: domain events from children, answers from the root.
      (ev.actorRef as AnyActorRef).on('*', (e: { type: string }) =>
        this.#onEmitted(e as DomainEvent | ClusterNodeEmitted),
      );
    }
    this.#inspector?.(ev);
  }

  #onEmitted(e: DomainEvent | ClusterNodeEmitted): void {
    if (e.type === 'CommandAnswered') {
      const resolve = this.#pendingCommands.get(e.requestId);
      if (resolve) {
        this.#pendingCommands.delete(e.requestId);
        resolve(
          e.ok
            ? { ok: true, events: e.events }
            : { ok: false, code: e.code ?? 'REJECTED', message: e.message ?? '' },
        );
      }
      return;
    }
    if (e.type === 'TopologyCommitted') return;
    // A domain event decided on this node.
    if (e.type === 'LeaderElected' && e.origin === this.nodeId) {
      this.#send({ type: 'LEADER_ELECTED', at: this.#now(), term: e.term });
      void this.#listenAsLeader(true);
    } else if (e.type === 'LeadershipLost' && e.origin === this.nodeId) {
      this.#send({ type: 'LEADERSHIP_LOST', at: this.#now(), term: e.term });
      void this.#listenAsLeader(false);
    }
    this.#deliver(e);
    this.#append(e);
  }

  #send(event: ClusterNodeEvent): void {
    if (this.#early !== null) {
      this.#early.push(event);
      return;
    }
    if (
      this.#actor &&
      (this.#phase === 'running' || this.#phase === 'starting' || this.#phase === 'stopping')
    ) {
      this.#actor.send(event);
    }
  }

  #ctxOrNull() {
    return this.#actor?.getSnapshot().context ?? null;
  }

  #leadershipState(): string | null {
    const ref = this.#actor?.system.get(LEADERSHIP_SYSTEM_ID) as AnyActorRef | undefined;
    const value = ref?.getSnapshot()?.value;
    return typeof value === 'string'
      ? value
      : value && typeof value === 'object'
        ? Object.keys(value)[0]!
        : null;
  }

  #handoffs(): HandoffView[] {
    const ref = this.#actor?.system.get(REBALANCER_SYSTEM_ID) as AnyActorRef | undefined;
    const snap = ref?.getSnapshot() as
      | {
          context?: { round?: readonly { shardId: number; from: string | null; to: string }[] };
          value?: unknown;
        }
      | undefined;
    if (
      !snap?.context?.round ||
      !snap.value ||
      typeof snap.value !== 'object' ||
      !('migrating' in snap.value)
    )
      return [];
    return snap.context.round
      .filter((m) => m.from !== null)
      .map((m) => ({ shardId: m.shardId, from: m.from!, to: m.to }));
  }

  #afterSnapshot(): void {
    const ctx = this.#ctxOrNull();
    if (!ctx) return;
    this.#trackOwnership(ctx.cluster);
    for (const w of [...this.#statusWaiters]) w();
    if (this.#observers.size > 0) this.#observeAll({ kind: 'view', nodeId: this.nodeId, view: this.state() });
  }

  /** Computes which shards arrived and left; released shards are forgotten once they moved. */
  #trackOwnership(cluster: ClusterState): void {
    // The state is immutable: the same object means nothing changed (most snapshots are heartbeats).
    if (cluster !== this.#trackedCluster) {
      this.#trackedCluster = cluster;
      const now = new Set<ShardId>();
      cluster.shardMap.owners.forEach((o, s) => {
        if (o === this.nodeId) now.add(s);
      });
      const arrived = [...now].filter((s) => !this.#owned.has(s));
      this.#owned = now;
      this.#acquired(arrived);
    }
    this.#restoreAbandoned(cluster);
  }

  /**
   * A released shard is forgotten once it moved. One that is still ours, in a view at least as new
   * as the request's plan, and no longer planned to move (its hand-off was abandoned: leader change,
   * re-plan) is served again. A view older than the plan proves nothing, so it waits.
   */
  #restoreAbandoned(cluster: ClusterState): void {
    if (this.#released.size === 0) return;
    const planned = new Set(
      (cluster.rebalance?.remaining ?? []).filter((m) => m.from === this.nodeId).map((m) => m.shardId),
    );
    const restored: ShardId[] = [];
    for (const [s, version] of this.#released) {
      if (!this.#owned.has(s)) this.#released.delete(s);
      else if (cluster.shardMap.version >= version && !planned.has(s)) {
        this.#released.delete(s);
        restored.push(s);
      }
    }
    this.#acquired(restored);
  }

  #acquired(shards: readonly ShardId[]): void {
    if (shards.length === 0 || !this.#o.onAcquire) return;
    Promise.resolve(this.#o.onAcquire(shards)).catch((err: unknown) =>
      this.#log.error({ err }, 'onAcquire failed'),
    );
  }

  // ---- internals: adapters -> machines ---------------------------------------------------------------

  #onHeartbeat(m: BusMessage): void {
    const d = decodeHeartbeat(m.data);
    if (!d.ok) {
      this.#dropped('heartbeat', d.error);
      return;
    }
    const known = this.#ctxOrNull()?.cluster.nodes[d.value.nodeId];
    if (known && d.value.incarnation < known.incarnation) {
      // A previous process of that node (delayed, or still running): it must not keep the new one alive.
      this.counters.staleHeartbeats++;
      this.#log.warn(
        { from: d.value.nodeId, incarnation: d.value.incarnation, known: known.incarnation },
        'dropped a heartbeat from an older incarnation',
      );
      return;
    }
    this.#send({ type: 'HEARTBEAT', at: this.#now(), heartbeat: d.value });
  }

  #onBusEvent(m: BusMessage): void {
    const d = decodeDomainEvent(m.data);
    if (!d.ok) {
      this.#dropped('event', d.error);
      return;
    }
    if (!m.subject.endsWith(`.${d.value.type}`)) {
      this.#dropped('event', `type ${d.value.type} on subject ${m.subject}`);
      return;
    }
    if (d.value.origin === this.nodeId) return; // our own, already delivered
    const highest = this.#ctxOrNull()?.highestTerm ?? 0;
    // Anything from a lower term is ignored, except a deposed leader saying it stepped down.
    if (d.value.term < highest && d.value.type !== 'LeadershipLost') {
      this.counters.staleEvents++;
      this.#log.warn(
        { type: d.value.type, id: d.value.id, term: d.value.term, highestTerm: highest },
        'dropped an event from a lower term',
      );
      return;
    }
    this.#deliver(d.value);
  }

  /** The old owner's side of a hand-off: release, then confirm. Refuses deposed leaders. */
  async #onHandoff(m: BusMessage): Promise<void> {
    const d = decodeHandoff(m.data);
    if (!d.ok) {
      this.#dropped('handoff', d.error);
      m.respond?.(encode({ released: [], refused: 'malformed request' }));
      return;
    }
    const req = d.value;
    const refuse = (why: string) => {
      this.counters.staleHandoffs++;
      this.#log.warn({ term: req.term, leader: req.leader, why }, 'refused a hand-off');
      m.respond?.(encode({ released: [], refused: why }));
    };
    const ctx = this.#ctxOrNull();
    if (!ctx || req.term < ctx.highestTerm) {
      refuse(`term ${req.term} is older than ${ctx?.highestTerm}`);
      return;
    }
    // Fenced by the store, not by this node's view, which may lag: only the holder of the current
    // lease may take shards away.
    try {
      const { lease } = await this.#lease!.read();
      if (lease === null || lease.term !== req.term || lease.holder !== req.leader) {
        refuse(
          `${req.leader} does not hold the lease of term ${req.term} (${lease ? `${lease.holder} holds term ${lease.term}` : 'no lease'})`,
        );
        return;
      }
    } catch (err) {
      refuse(`the lease could not be read: ${(err as Error).message}`);
      return;
    }
    const released = await this.#release(req.shards, req.version);
    m.respond?.(encode({ released }));
  }

  async #release(shards: readonly ShardId[], version: number): Promise<ShardId[]> {
    const mine = shards.filter((s) => this.#owned.has(s) || this.#released.has(s));
    const fresh = mine.filter((s) => !this.#released.has(s));
    if (fresh.length > 0 && this.#o.onRelease) {
      try {
        await withTimeout(
          Promise.resolve(this.#o.onRelease(fresh)),
          this.#o.timing.handoffTimeoutMs,
          this.#clock,
          'onRelease',
        );
      } catch (err) {
        this.#log.error({ err }, 'onRelease failed; the shards stay here');
        return mine.filter((s) => this.#released.has(s));
      }
    }
    for (const s of mine) this.#released.set(s, Math.max(version, this.#released.get(s) ?? 0));
    return mine;
  }

  /** The leader's side of a round: ask each old owner to release its shards, in parallel. */
  async #handOff(input: HandOffInput): Promise<{ released: ShardId[]; at: number }> {
    const version = this.#ctxOrNull()?.cluster.shardMap.version ?? 0;
    const byOwner = new Map<NodeId, ShardId[]>();
    for (const m of input.moves) {
      if (m.from === null) continue;
      const list = byOwner.get(m.from) ?? [];
      list.push(m.shardId);
      byOwner.set(m.from, list);
    }
    const results = await Promise.all(
      [...byOwner].map(async ([from, shards]) => {
        if (from === this.nodeId) return this.#release(shards, version);
        try {
          const reply = await this.#conn!.bus.request(
            this.#names.handoff(from),
            encode({ term: input.term, leader: this.nodeId, shards, version }),
            { timeoutMs: this.#o.timing.handoffTimeoutMs },
          );
          const r = decodeHandoffReply(reply);
          if (!r.ok) {
            this.#dropped('handoff', r.error);
            return [];
          }
          const asked = new Set(shards);
          return r.value.released.filter((s) => asked.has(s));
        } catch (err) {
          this.#log.debug({ err, from }, 'hand-off request failed; will retry');
          return [];
        }
      }),
    );
    return { released: results.flat(), at: this.#now() };
  }

  /**
   * Followers re-read the topology every heartbeat interval and adopt a revision newer than the
   * watch delivered: a watch can stall (its consumer lost in a failover, or NATS 2.9 reporting a
   * pending count that never reaches zero while the key is being written) and a node must not
   * stay behind the committed map. The read goes through the stream leader.
   */
  #scheduleTopologyCheck(): void {
    if (this.#phase !== 'running') return;
    this.#topologyTimer = this.#clock.setTimeout(
      () => void this.#checkTopology(),
      this.#o.timing.heartbeatIntervalMs,
    );
  }

  async #checkTopology(): Promise<void> {
    this.#topologyTimer = null;
    const topology = this.#topology;
    try {
      if (topology && this.#phase === 'running' && !this.isLeader()) {
        const r = await topology.read();
        const ctx = this.#ctxOrNull();
        if (r !== null && ctx !== null && r.revision > ctx.revision && this.#phase === 'running') {
          this.counters.topologyResyncs++;
          this.#log.debug(
            { revision: r.revision, had: ctx.revision },
            'adopted a topology read ahead of the watch',
          );
          this.#send({ type: 'TOPOLOGY', at: this.#now(), state: r.state, revision: r.revision });
        }
      }
    } catch (err) {
      this.#log.debug({ err }, 'periodic topology read failed');
    }
    this.#scheduleTopologyCheck();
  }

  /** As leader: answer commands on the leader subject. */
  async #listenAsLeader(on: boolean): Promise<void> {
    this.#leaderSub?.();
    this.#leaderSub = null;
    if (!on || !this.#conn) return;
    try {
      this.#leaderSub = await this.#conn.bus.subscribe(this.#names.leader, (m) => void this.#onCommand(m));
    } catch (err) {
      this.#log.warn({ err }, 'could not subscribe to leader commands');
    }
  }

  async #onCommand(m: BusMessage): Promise<void> {
    const d = decodeCommand(m.data);
    if (!d.ok) {
      this.#dropped('command', d.error);
      m.respond?.(encode({ ok: false, code: 'MALFORMED', message: d.error.slice(0, 1000) }));
      return;
    }
    const reply = await this.#localCommand(d.value.command, `${d.value.from}:${d.value.requestId}`);
    m.respond?.(encode(reply));
  }

  #localCommand(command: OperatorCommand, requestId: string): Promise<CommandReply> {
    if (!this.isLeader())
      return Promise.resolve({ ok: false, code: 'NOT_LEADER', message: `${this.nodeId} is not the leader` });
    return new Promise((resolve) => {
      const timer = this.#clock.setTimeout(() => {
        this.#pendingCommands.delete(requestId);
        resolve({ ok: false, code: 'TIMEOUT', message: 'the leader did not commit in time' });
      }, this.#o.timing.requestTimeoutMs * 4);
      this.#pendingCommands.set(requestId, (r) => {
        this.#clock.clearTimeout(timer);
        resolve(r);
      });
      this.#send({ type: 'COMMAND', at: this.#now(), requestId, command });
    });
  }

  /** Sends a command to whoever leads, retrying while there is none, until `withinMs` pass. */
  async #command(command: OperatorCommand, withinMs: number): Promise<CommandReply> {
    const deadline = this.#now() + withinMs;
    const t = this.#o.timing;
    let last = 'no leader answered';
    while (this.#now() < deadline) {
      const requestId = `${this.nodeId}-${++this.#requestSeq}`;
      if (this.isLeader()) {
        const r = await this.#localCommand(command, requestId);
        if (r.ok || (r.code !== 'NOT_LEADER' && r.code !== 'TIMEOUT')) return r;
        last = r.message;
      } else if (this.#conn) {
        try {
          const raw = await this.#conn.bus.request(
            this.#names.leader,
            encode({ requestId, from: this.nodeId, command }),
            { timeoutMs: t.requestTimeoutMs * 5 },
          );
          const r = decodeCommandReply(raw);
          if (r.ok && (r.value.ok || (r.value.code !== 'NOT_LEADER' && r.value.code !== 'TIMEOUT')))
            return r.value;
          last = r.ok ? (r.value.ok ? '' : r.value.message) : r.error;
        } catch (err) {
          last = (err as Error).message;
        }
      }
      await this.#sleep(t.retryIntervalMs);
    }
    throw new TimeoutError(
      `command ${command.type} ${command.nodeId} not answered within ${withinMs} ms: ${last}`,
    );
  }

  async #commandOrThrow(command: OperatorCommand): Promise<readonly DomainEvent[]> {
    this.#assertRunning(command.type);
    const r = await this.#command(command, this.#o.timing.leaseTtlMs * 2);
    if (!r.ok) throw new CommandRejectedError(r.code, r.message);
    return r.events;
  }

  /** Whether another node is a member (Active or Draining) in the topology this node holds. */
  #hasOtherMembers(): boolean {
    const nodes = this.#ctxOrNull()?.cluster.nodes ?? {};
    return Object.values(nodes).some(
      (n) => n.id !== this.nodeId && (n.status === 'Active' || n.status === 'Draining'),
    );
  }

  async #resign(): Promise<void> {
    this.#send({ type: 'RESIGN', at: this.#now() });
    await this.#waitFor(
      () => !this.isLeader(),
      `node ${this.nodeId} to resign`,
      this.#o.timing.renewDeadlineMs * 2,
    );
  }

  #onConnectionStatus(s: ConnectionStatus): void {
    const before = this.#connStatus;
    this.#connStatus = s;
    if (s !== before) this.#log.info({ from: before, to: s }, 'connection status');
    // The transport closed under us (a crash of the connection): the process is as good as dead.
    if (s === 'closed' && this.#phase === 'running') void this.#halt(false);
  }

  // ---- internals: machines -> adapters ---------------------------------------------------------------

  #publish(subject: string, value: unknown): void {
    if (!this.#conn || this.#phase === 'stopped') return;
    try {
      this.#conn.bus.publish(subject, encode(value));
    } catch (err) {
      // Lost heartbeats are covered by the failure timeout (several intervals).
      this.#log.debug({ err, subject }, 'publish failed');
    }
  }

  /** Appends to the audit log in order; a failed append is retried, never assumed delivered. */
  #append(e: DomainEvent): void {
    if (e.type === 'LeadershipRenewed') {
      // Live only: a renewal every renew interval is noise in an audit trail, and a lost one is
      // superseded by the next.
      this.#publish(this.#names.renewals, e);
      return;
    }
    const audit = this.#audit;
    if (!audit) return;
    const subject = this.#names.event(e.type);
    const data = encode(e);
    this.#publishChain = this.#publishChain.then(async () => {
      for (let attempt = 0; this.#phase !== 'stopped' || attempt === 0; attempt++) {
        try {
          await withTimeout(
            audit.append(subject, data, e.id),
            this.#o.timing.requestTimeoutMs,
            this.#clock,
            'audit append',
          );
          return;
        } catch (err) {
          if (this.#phase === 'stopped') return;
          this.counters.republished++;
          this.#log.debug({ err, id: e.id, attempt }, 'audit append failed; retrying');
          await this.#sleep(this.#o.timing.retryIntervalMs);
        }
      }
    });
  }

  #deliver(e: DomainEvent): void {
    if (this.#seen.has(e.id)) return;
    this.#seen.add(e.id);
    this.#seenOrder.push(e.id);
    if (this.#seenOrder.length > SEEN_IDS_KEPT) this.#seen.delete(this.#seenOrder.shift()!);
    for (const type of [e.type, '*']) {
      for (const h of this.#listeners.get(type) ?? []) {
        try {
          h(e);
        } catch (err) {
          this.#log.error({ err, type: e.type }, 'event listener threw');
        }
      }
    }
    if (this.#observers.size > 0) this.#observeAll({ kind: 'domain', nodeId: this.nodeId, event: e });
  }

  #observeAll(o: Observation): void {
    for (const l of this.#observers) {
      try {
        l(o);
      } catch (err) {
        this.#log.error({ err }, 'observer threw');
      }
    }
  }

  #dropped(kind: keyof NodeCounters['malformed'], error: string): void {
    this.counters.malformed[kind]++;
    this.#log.warn({ kind, error: error.slice(0, 500) }, 'dropped a malformed message');
  }

  // ---- internals: helpers ------------------------------------------------------------------------

  #now(): number {
    return this.#clock.now();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((r) => this.#clock.setTimeout(r, ms));
  }

  #assertRunning(what: string): void {
    if (this.#phase !== 'running')
      throw new StoppedError(`cannot ${what}: node ${this.nodeId} is ${this.#phase}`);
  }

  /** Resolves when `cond` holds (checked after every state change); rejects when the node stops first. */
  #waitFor(cond: () => boolean, what: string, timeoutMs?: number): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      let timer: unknown = null;
      const done = (err?: Error) => {
        this.#statusWaiters.delete(check);
        if (timer !== null) this.#clock.clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const check = () => {
        if (cond()) done();
        else if (this.#phase === 'stopped') done(new StoppedError(`stopped while waiting for ${what}`));
      };
      this.#statusWaiters.add(check);
      if (timeoutMs !== undefined)
        timer = this.#clock.setTimeout(
          () => done(new TimeoutError(`timed out waiting for ${what}`)),
          timeoutMs,
        );
    });
  }

  /** Stops the actor and closes the connection; `graceful` also releases the lease first. */
  async #halt(graceful: boolean): Promise<void> {
    if (this.#phase === 'stopped') return;
    const wasRunning = this.#actor !== null;
    if (graceful && wasRunning) {
      this.#send({ type: 'STOP', at: this.#now() });
      // Let the leadership actor release the lease (one store round trip at most).
      await this.#waitFor(
        () => this.#leadershipState() === 'stopped' || this.#leadershipState() === null,
        'the lease release',
        this.#o.timing.requestTimeoutMs,
      ).catch(() => {});
    }
    this.#phase = 'stopped';
    if (this.#topologyTimer !== null) this.#clock.clearTimeout(this.#topologyTimer);
    this.#listenAsLeader(false).catch(() => {});
    for (const u of this.#unsubs.splice(0)) {
      try {
        u();
      } catch {
        // already gone
      }
    }
    this.#inspector?.dispose();
    this.#actor?.stop();
    for (const w of [...this.#statusWaiters]) w();
    if (graceful) await this.#publishChain.catch(() => {});
    await this.#conn?.close().catch(() => {});
    for (const w of this.#stopWaiters.splice(0)) w();
    this.#log.info({ graceful }, 'node stopped');
  }
}
