/**
 * A cluster node: the facade over its parts. It opens the stores and subscriptions, runs the root
 * statechart bound to them, and answers queries from the actor's state. Facts from the transport go
 * into the actor as events; the domain events it emits leave through the audit log and the node's
 * observation stream.
 */
import type { Logger } from 'pino';
import type { Actor, AnyActorRef } from 'xstate';
import type { ClusterNodeEmitted, ClusterNodeEvent } from '../../machines/cluster-node.machine.js';
import { CommandRejectedError, InvalidValueError, StoppedError } from '../domain/errors.js';
import type { DomainEvent, DomainEventType } from '../domain/events.js';
import type { ClusterState } from '../domain/state.js';
import { type NodeId, type NodeStatus, type ShardId, shardForKey, type Term } from '../domain/values.js';
import type { Inspector } from '../observe/inspection-bridge.js';
import type { ClusterView, Observation } from '../observe/observation.js';
import type { Unsubscribe } from '../ports/kv.js';
import type { ConnectionStatus, StoreWarning } from '../ports/transport.js';
import type { CommandReply } from '../protocol/codec.js';
import type { OperatorCommand } from '../protocol/messages.js';
import {
  clusterView,
  leadershipState,
  othersAreMembers,
  recordedStatus,
  servedShards,
} from './actor-views.js';
import { EventFanout, type Handler } from './event-fanout.js';
import { nextIncarnation } from './incarnation.js';
import { openInspection } from './inspection.js';
import { type NodeCounters, newCounters } from './node-counters.js';
import { type NodeParts, openParts } from './node-parts.js';
import { type ClusterNodeOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { createRootActor } from './root-actor.js';
import { stopCampaigning } from './stop-campaigning.js';
import { Waiters } from './waiters.js';

export type { NodeCounters } from './node-counters.js';

type Phase = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

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
  readonly counters: NodeCounters = newCounters();
  readonly #o: ResolvedOptions;
  readonly #log: Logger;
  readonly #fanout: EventFanout;
  readonly #waiters: Waiters;
  #phase: Phase = 'new';
  #parts: NodeParts | null = null;
  #actor: Actor<ReturnType<NodeParts['machine']>> | null = null;
  #inspector: Inspector | null = null;
  #connStatus: ConnectionStatus = 'connected';
  /** Facts that arrive while starting, before the actor exists; null once it runs. */
  #early: ClusterNodeEvent[] | null = null;
  #load = 0;
  /** This process's incarnation, chosen when it starts (the root's own may grow: see {@link #currentIncarnation}). */
  #incarnation = 0;

  /** @internal Use {@link createClusterNode}. */
  constructor(o: ResolvedOptions) {
    this.#o = o;
    this.nodeId = o.nodeId;
    this.cluster = o.cluster;
    this.#log = o.logger.child({ node: o.nodeId, cluster: o.cluster });
    this.#fanout = new EventFanout(o.nodeId, this.#log);
    this.#waiters = new Waiters(o.clock, () => this.#phase === 'stopped');
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
    await this.#waiters.waitFor(() => this.status() === 'Active', `node ${this.nodeId} to become Active`);
  }

  /** Store warnings the transport reported (NATS: old server version, too few replicas). */
  get storeWarnings(): readonly StoreWarning[] {
    return this.#parts?.conn.storeWarnings ?? [];
  }

  async #open(): Promise<void> {
    const o = this.#o;
    this.#early = [];
    this.#incarnation = nextIncarnation(o.transport, o.clock);
    const parts = await openParts({
      options: o,
      log: this.#log,
      counters: this.counters,
      fanout: this.#fanout,
      stillStarting: () => this.#phase === 'starting',
      running: () => this.#phase === 'running',
      send: (e) => this.#send(e),
      onStatus: (s) => this.#onConnectionStatus(s),
      view: () => this.#ctx(),
      waitFor: (cond, what, timeoutMs) => this.#waiters.waitFor(cond, what, timeoutMs),
      leading: () => this.#ctx()?.term != null,
      incarnation: this.#incarnation,
      phase: () => (this.#phase === 'starting' || this.#phase === 'running' ? this.#phase : 'stopping'),
    });
    this.#parts = parts;
    for (const w of this.storeWarnings) this.#log.warn({ code: w.code, ...w.details }, w.message);
    this.#inspector = await openInspection(o, parts, this.#fanout, this.#log);
    if (this.#phase !== 'starting') throw new StoppedError(`node ${this.nodeId} stopped while starting`);
    const incarnation = this.#incarnation;
    const actor = createRootActor(parts.machine(), o, incarnation, this.#inspector);
    this.#actor = actor;
    actor.on('*', (e) => this.#onEmitted(e));
    actor.subscribe({
      next: () => this.#afterSnapshot(),
      error: (err) => this.#log.error({ err }, 'root actor failed'),
    });
    actor.start();
    if (this.#load !== 0) this.#send({ type: 'REPORT_LOAD', at: o.clock.now(), load: this.#load });
    const early = this.#early;
    this.#early = null;
    for (const e of early) this.#send(e);
    this.#phase = 'running';
    parts.resync.start();
    this.#log.info({ transport: parts.transport.kind, incarnation }, 'node started');
  }

  /**
   * Leaves gracefully: asks the leader to record NodeLeft for this incarnation (its shards are
   * reassigned at once, no failure timeout), then stops. A stopping node never campaigns again. A
   * leader first keeps recording the leaves of nodes stopping with it (up to one request timeout, or
   * until no other member is left), then records its own and releases the lease: when every node
   * stops at once, no other node may lead to record them. A leave no leader answers within the budget
   * is left to the failure detector.
   */
  async stop(): Promise<void> {
    if (this.#phase === 'stopped' || this.#phase === 'new') {
      this.#phase = 'stopped';
      return;
    }
    if (this.#phase === 'stopping') return this.#waiters.waitFor(() => this.#phase === 'stopped', 'stop');
    this.#phase = 'stopping';
    try {
      if (this.isLeader()) {
        await this.#waiters
          .waitFor(
            () => !this.#hasOtherMembers() || !this.isLeader(),
            'the other members stopping too to leave',
            this.#o.timing.requestTimeoutMs,
          )
          .catch(() => {});
      }
      // Not leading (any more): never campaign again, or a stopping node could win the lease.
      if (!this.isLeader()) stopCampaigning(this.#actor, this.#o.clock.now());
      const status = this.status();
      if ((status === 'Active' || status === 'Draining') && (this.isLeader() || this.#hasOtherMembers())) {
        try {
          const r = await this.#command({
            type: 'leaveCluster',
            nodeId: this.nodeId,
            incarnation: this.#currentIncarnation(),
          });
          if (!r.ok) this.#log.warn({ code: r.code, message: r.message }, 'the leader refused our leave');
        } catch (err) {
          this.#log.warn({ err }, 'could not record a graceful leave; the failure detector will');
        }
      }
      stopCampaigning(this.#actor, this.#o.clock.now());
    } finally {
      await this.#halt(true);
    }
  }

  /** Moves every shard off this node (tracked hand-offs), then leaves: Draining → Left. */
  async drain(): Promise<void> {
    this.#assertRunning('drain');
    const drainSelf = () => this.#command({ type: 'drainNode', nodeId: this.nodeId });
    // A draining node may not lead: hand leadership on first (if it won the lease back, again).
    if (this.isLeader() && this.#hasOtherMembers()) await this.#resign();
    let reply = await drainSelf();
    for (let attempt = 0; !reply.ok && reply.code === 'NODE_IS_LEADER' && attempt < 3; attempt++) {
      await this.#resign();
      reply = await drainSelf();
    }
    if (!reply.ok) throw new CommandRejectedError(reply.code, reply.message);
    await this.#waiters.waitFor(() => this.status() === 'Left', `node ${this.nodeId} to finish draining`);
    await this.stop();
  }

  /** Stops at once with no goodbye, as a crashed process would (for tests and demos). */
  async crash(): Promise<void> {
    await this.#halt(false);
  }

  /**
   * Reports this node's load (application-defined, e.g. its entity count); it travels in the next
   * heartbeats, and every node's view shows it.
   */
  reportLoad(load: number): void {
    if (!Number.isFinite(load) || load < 0)
      throw new InvalidValueError(`load must be a finite number >= 0, got ${load}`);
    this.#load = load;
    this.#send({ type: 'REPORT_LOAD', at: this.#o.clock.now(), load });
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
    return this.#phase === 'stopped' ? 'Left' : recordedStatus(this.#actor);
  }

  /** Whether this node leads: it holds the lease and has committed its election. */
  isLeader(): boolean {
    const ctx = this.#ctx();
    return ctx !== null && ctx.term !== null && ctx.fenced && leadershipState(this.#actor) === 'leader';
  }

  /**
   * The incarnation this process is on record as (0 before it starts): the one it started as, or the
   * newer one it came back as after being judged failed while it ran.
   */
  get incarnation(): number {
    return this.#currentIncarnation();
  }

  /** The leader this node knows of, with its term. */
  leader(): { nodeId: NodeId; term: Term } | null {
    return this.#ctx()?.cluster.leader ?? null;
  }

  /** Owner of a shard in the committed map, or null while orphaned. */
  ownerOf(shardId: ShardId): NodeId | null {
    const ctx = this.#ctx();
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
    return this.#phase === 'stopped' ? [] : servedShards(this.#actor, this.#o.clock.now());
  }

  /** One node's view of the cluster. */
  state(): ClusterView {
    return clusterView(this.#actor, {
      nodeId: this.nodeId,
      cluster: this.cluster,
      status: this.status(),
      isLeader: this.isLeader(),
      ownLoad: this.#load,
      at: this.#o.clock.now(),
    });
  }

  /** The cluster state this node holds (the committed topology). */
  clusterState(): ClusterState | null {
    return this.#ctx()?.cluster ?? null;
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
    return this.#fanout.on(type, handler);
  }

  /** All domain events from now on as an async iterator; it ends when the node stops. */
  events(): AsyncIterableIterator<DomainEvent> {
    return this.#fanout.events();
  }

  /** The observation stream: domain events, cluster views and (with `inspection`) XState inspection events. */
  observe(listener: (o: Observation) => void): Unsubscribe {
    return this.#fanout.observe(listener);
  }

  // ---- internals -----------------------------------------------------------------------------------

  /** What the root emits: the domain events decided here, and answers to commands. */
  #onEmitted(e: ClusterNodeEmitted): void {
    if (e.type === 'CommandAnswered') {
      this.#parts?.commands.answered(e);
      return;
    }
    this.#fanout.deliver(e);
    this.#parts?.audit.append(e);
  }

  #afterSnapshot(): void {
    const ctx = this.#ctx();
    if (!ctx) return;
    // Commands are queued by the root from the moment it leads (before fencing completes).
    void this.#parts?.commands.listen(ctx.term !== null && this.#phase !== 'stopped');
    // The audit stream is written for a term only once its election is committed (see AuditAppender).
    if (ctx.term !== null && ctx.fenced) this.#parts?.audit.lead(ctx.term);
    else if (ctx.term === null) this.#parts?.audit.follow();
    this.#waiters.check();
    if (this.#fanout.observed) this.#fanout.emit({ kind: 'view', nodeId: this.nodeId, view: this.state() });
  }

  #send(event: ClusterNodeEvent): void {
    if (this.#early !== null) {
      this.#early.push(event);
      return;
    }
    if (this.#actor && this.#phase !== 'stopped' && this.#phase !== 'new') this.#actor.send(event);
  }

  #ctx() {
    return this.#actor?.getSnapshot().context ?? null;
  }

  /**
   * The incarnation this process is on record as: the one it started as, or the newer one it came
   * back as after being judged failed while it ran. A leave must name it, or the leader refuses it as
   * stale and the departed process stays a member until the failure detector catches up.
   */
  #currentIncarnation(): number {
    return this.#ctx()?.incarnation ?? this.#incarnation;
  }

  async #command(command: OperatorCommand): Promise<CommandReply> {
    const parts = this.#parts;
    if (parts === null) throw new StoppedError(`node ${this.nodeId} is not connected`);
    return parts.commands.send(command, this.#o.timing.leaseTtlMs * 2);
  }

  async #commandOrThrow(command: OperatorCommand): Promise<readonly DomainEvent[]> {
    this.#assertRunning(command.type);
    const r = await this.#command(command);
    if (!r.ok) throw new CommandRejectedError(r.code, r.message);
    return r.events;
  }

  /** Whether another node is a member (Active or Draining) in the topology this node holds. */
  #hasOtherMembers(): boolean {
    return othersAreMembers(this.#actor);
  }

  async #resign(): Promise<void> {
    this.#send({ type: 'RESIGN', at: this.#o.clock.now() });
    await this.#waiters.waitFor(
      () => !this.isLeader(),
      `node ${this.nodeId} to resign`,
      this.#o.timing.renewDeadlineMs * 2,
    );
  }

  #onConnectionStatus(s: ConnectionStatus): void {
    const before = this.#connStatus;
    this.#connStatus = s;
    if (s !== before) this.#log.info({ from: before, to: s }, 'connection status');
    // The judge must know when it could not hear: no failure is judged by silence it missed.
    if (s !== before) this.#send({ type: 'CONNECTION', at: this.#o.clock.now(), status: s });
    // The transport closed under us (a crash of the connection): the process is as good as dead.
    if (s === 'closed' && this.#phase === 'running') void this.#halt(false);
  }

  #assertRunning(what: string): void {
    if (this.#phase !== 'running')
      throw new StoppedError(`cannot ${what}: node ${this.nodeId} is ${this.#phase}`);
  }

  /** Stops the actor and closes the connection; `graceful` also releases the lease first. */
  async #halt(graceful: boolean): Promise<void> {
    if (this.#phase === 'stopped') return;
    if (graceful && this.#actor !== null) {
      this.#send({ type: 'STOP', at: this.#o.clock.now() });
      // Let the leadership actor release the lease (one store round trip at most).
      await this.#waiters
        .waitFor(
          () => ['stopped', null].includes(leadershipState(this.#actor)),
          'the lease release',
          this.#o.timing.requestTimeoutMs,
        )
        .catch(() => {});
    }
    this.#phase = 'stopped';
    this.#inspector?.dispose();
    this.#actor?.stop();
    this.#waiters.check();
    this.#fanout.close();
    await this.#parts?.close(graceful);
    this.#log.info({ graceful }, 'node stopped');
  }
}
