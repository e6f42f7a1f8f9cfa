/**
 * The simulated {@link Harness}: real cluster nodes (`createClusterNode`) on one memory transport
 * under one {@link SimulatedClock}, each behind its own pause gate, with the invariant checker fed
 * online from every node's domain events, a watch on the lease and topology records, hand-off
 * replies, `onRelease` hooks and each node's committed view. Time moves only when the harness
 * moves it, so a run is a function of its seed.
 */
import { createHash, type Hash } from 'node:crypto';
import { type MemoryTransport, memoryTransport } from '../adapters/memory/memory-transport.js';
import {
  type Checker,
  type CheckerConfig,
  createChecker,
  LIVELOCK_COMMITS,
  type Violation,
} from '../checker/checker.js';
import type { HistoryEntry, ViewSnapshot } from '../checker/history.js';
import { FAST_TIMING, resolveTiming, type TimingConfig } from '../config.js';
import { InvalidValueError, InvariantViolationError, StoppedError, TimeoutError } from '../domain/errors.js';
import type { DomainEvent } from '../domain/events.js';
import type { ClusterState } from '../domain/state.js';
import type { NodeId, NodeStatus, ShardId } from '../domain/values.js';
import type { AuditLog } from '../ports/bus.js';
import type { KvEntry } from '../ports/kv.js';
import { SimulatedClock } from '../ports/simulated-clock.js';
import { decodeHandoff, decodeHandoffReply, decodeTopology } from '../protocol/codec.js';
import { names } from '../protocol/names.js';
import { type ClusterNode, createClusterNode } from '../runtime/cluster-node.js';
import { LEASE_KEY } from '../runtime/lease-store.js';
import { TOPOLOGY_KEY } from '../runtime/topology-store.js';
import { type DEFAULT_FORGERIES, Forger, type ForgeryKind } from './forger.js';
import type { ActionOptions, Harness, ObservedEvent } from './harness.js';
import { leaseTap, readAuditFrom } from './history-taps.js';
import { PausableClock, PausableTransport, PauseGate } from './pause.js';
import { Rng } from './random.js';

export interface SimHarnessOptions {
  readonly seed: number;
  /** Timings over {@link FAST_TIMING}. */
  readonly timing?: Partial<TimingConfig>;
  /** Default 1024. */
  readonly shardCount?: number;
  readonly maxMovesPerRound?: number;
  /** Granularity of time steps: views are sampled and deadlines judged after each. Default 100 ms. */
  readonly stepMs?: number;
  /** Checker settings over those derived from the timing. */
  readonly checker?: Partial<
    Pick<CheckerConfig, 'recoveryWindowMs' | 'convergenceBoundMs' | 'keepPerInvariant'>
  >;
  /** Keep every history entry (for offline checks and debugging; costs memory on long runs). */
  readonly keepHistory?: boolean;
  /** Keep the observed domain events (`events()`); default true. */
  readonly keepEvents?: boolean;
  /** Receives every history entry as it is recorded. */
  readonly onEntry?: (entry: HistoryEntry) => void;
  /** Simulated start time. Default 1_000_000. */
  readonly startAt?: number;
  /** What a forging client sends ({@link forge}); default {@link DEFAULT_FORGERIES}. */
  readonly forgeries?: readonly ForgeryKind[];
}

/** Counts of what a harness did to its cluster. */
export interface FaultCounts {
  crash: number;
  restart: number;
  pause: number;
  isolate: number;
  delay: number;
  drop: number;
  join: number;
  leave: number;
  drain: number;
  /** Times a forging client started publishing forged messages. */
  forge: number;
  /** New processes started while the old process of their id was still leaving. */
  overlap: number;
  /** Store outages: every node cut off from the transport at once, the leader included. */
  outage: number;
  /** Leader pauses timed to end just after its renew deadline. */
  stall: number;
}

interface Proc {
  readonly id: NodeId;
  readonly node: ClusterNode;
  readonly gate: PauseGate;
  up: boolean;
  lastState: ClusterState | null;
  lastLeader: boolean;
  readonly started: Promise<void>;
}

const CLUSTER = 'sim';
const OBSERVER = 'sim-observer';
const FORGER = 'sim-forger';

export class SimHarness implements Harness {
  readonly seed: number;
  readonly timing: TimingConfig;
  readonly rng: Rng;
  readonly clock: SimulatedClock;
  readonly transport: MemoryTransport;
  readonly checker: Checker;
  readonly shardCount: number;
  readonly faults: FaultCounts = {
    crash: 0,
    restart: 0,
    pause: 0,
    isolate: 0,
    delay: 0,
    drop: 0,
    join: 0,
    leave: 0,
    drain: 0,
    forge: 0,
    overlap: 0,
    outage: 0,
    stall: 0,
  };
  /** Every history entry, when `keepHistory` is set. */
  readonly history: HistoryEntry[] | null;
  readonly #opts: SimHarnessOptions;
  readonly #step: number;
  readonly #wrapped: PausableTransport;
  readonly #gates = new Map<NodeId, PauseGate>();
  readonly #procs = new Map<NodeId, Proc>();
  /** The process behind each pause gate (one gate per process). */
  readonly #procOfGate = new WeakMap<PauseGate, Proc>();
  readonly #spawnedAt = new Map<NodeId, number>();
  readonly #seen = new Set<string>();
  readonly #events: ObservedEvent[] = [];
  readonly #hash: Hash = createHash('sha256');
  #eventCount = 0;
  readonly #disruptions = new Set<string>();
  /** Nodes cut off from the transport by an isolation or an outage. */
  readonly #cut = new Set<NodeId>();
  /** When the lease was last written (campaign or renewal): a leader's renew deadline counts from about then. */
  #leaseWrittenAt = 0;
  readonly #log: string[] = [];
  readonly #dropRng: Rng;
  #nextId = 1;
  #livelockAt = Number.NaN;
  #atInstant = 0;
  #halted: string | null = null;
  #driving = false;
  #closed = false;
  #unwatch: (() => void)[] = [];
  #forger: Forger | null = null;
  #audit: AuditLog | null = null;
  #auditNext = 1;

  private constructor(opts: SimHarnessOptions) {
    this.#opts = opts;
    this.seed = opts.seed >>> 0;
    this.rng = new Rng(this.seed).fork('scenario');
    this.#dropRng = new Rng(this.seed).fork('drop');
    this.timing = resolveTiming(opts.timing ?? {}, FAST_TIMING);
    this.shardCount = opts.shardCount ?? 1024;
    this.#step = opts.stepMs ?? 100;
    if (!(this.#step > 0)) throw new InvalidValueError(`stepMs must be > 0, got ${this.#step}`);
    this.clock = new SimulatedClock(opts.startAt ?? 1_000_000);
    this.transport = memoryTransport({ clock: this.clock });
    this.#wrapped = new PausableTransport(
      this.transport,
      (id) => this.#gate(id),
      (id, subject, req, reply) => this.#onRespond(id, subject, req, reply),
      (_id, gate, bucket, key) => this.#onRead(gate, bucket, key),
    );
    this.checker = createChecker({
      timing: this.timing,
      shardCount: this.shardCount,
      ...opts.checker,
    });
    this.history = opts.keepHistory ? [] : null;
  }

  /** Creates a harness and its observer of the lease and topology records. */
  static async create(opts: SimHarnessOptions): Promise<SimHarness> {
    const h = new SimHarness(opts);
    await h.#observeStores();
    return h;
  }

  // ---- queries -----------------------------------------------------------------------------------

  now(): number {
    return this.clock.now();
  }

  running(): NodeId[] {
    return [...this.#procs.values()].filter((p) => p.up).map((p) => p.id);
  }

  /** Every node id that ever ran, in order of first start. */
  known(): NodeId[] {
    return [...this.#procs.keys()];
  }

  leaders(): NodeId[] {
    return [...this.#procs.values()].filter((p) => p.up && p.node.isLeader()).map((p) => p.id);
  }

  leader(): NodeId | null {
    const l = this.leaders();
    return l.length === 1 ? l[0]! : null;
  }

  statusOf(nodeId: NodeId): NodeStatus | null {
    const p = this.#procs.get(nodeId);
    return p?.up ? p.node.status() : null;
  }

  clusterState(nodeId?: NodeId): ClusterState | null {
    const id = nodeId ?? this.leader();
    if (id === null) return null;
    const p = this.#procs.get(id);
    return p?.up ? p.node.clusterState() : null;
  }

  /** The running node object (for tests that need more than the harness offers). */
  node(nodeId: NodeId): ClusterNode | null {
    const p = this.#procs.get(nodeId);
    return p?.up ? p.node : null;
  }

  isPaused(nodeId: NodeId): boolean {
    return this.#gates.get(nodeId)?.paused ?? false;
  }

  converged(): boolean {
    this.#poll();
    return this.checker.converged();
  }

  events(): readonly ObservedEvent[] {
    return this.#events;
  }

  /** Number of distinct domain events observed. */
  get eventCount(): number {
    return this.#eventCount;
  }

  /** SHA-256 of the observed event log (time and event, in order): equal for equal runs. */
  eventLogHash(): string {
    return this.#hash.copy().digest('hex');
  }

  violations(): readonly Violation[] {
    return this.checker.violations;
  }

  /** Disruptions in effect (pauses, isolations, delays, losses). */
  disruptions(): string[] {
    return [...this.#disruptions];
  }

  logLines(): readonly string[] {
    return this.#log;
  }

  log(message: string): void {
    this.#log.push(`[${this.clock.now()}] ${message}`);
  }

  assertClean(): void {
    this.#poll();
    const v = this.checker.finish(this.clock.now());
    if (v.length === 0) return;
    const first = v[0]!;
    const list = v
      .slice(0, 5)
      .map((x) => `  ${x.invariant} at ${x.at}: ${x.message}`)
      .join('\n');
    throw new InvariantViolationError(
      first.invariant,
      `${v.length} invariant violation(s) with seed ${this.seed}:\n${list}`,
      v.slice(0, 5),
    );
  }

  // ---- actions --------------------------------------------------------------------------------------

  async start(nodes: readonly NodeId[] | number, opts?: ActionOptions): Promise<NodeId[]> {
    const ids = typeof nodes === 'number' ? Array.from({ length: nodes }, () => this.#freshId()) : [...nodes];
    const started = ids.map((id) => this.#spawn(id, 'join'));
    if (opts?.wait !== false) {
      await this.#drive(
        Promise.all(started),
        this.#joinWithin(ids.length),
        `${ids.join(', ')} to become Active`,
      );
    }
    return ids;
  }

  async add(nodeId?: NodeId, opts?: ActionOptions): Promise<NodeId> {
    const [id] = await this.start([nodeId ?? this.#freshId()], opts);
    return id!;
  }

  async crash(nodeId: NodeId): Promise<void> {
    const p = this.#up(nodeId, 'crash');
    this.faults.crash++;
    this.#instant(`crash ${nodeId}`);
    p.gate.discard();
    this.#forgetFaults(nodeId);
    this.transport.faults.heal(nodeId);
    this.transport.faults.crash(nodeId);
    p.up = false;
    this.#feed({ kind: 'process', at: this.now(), nodeId, up: false });
    await this.#drive(p.node.crash(), this.timing.requestTimeoutMs * 4, `${nodeId} to crash`);
  }

  async restart(nodeId: NodeId, opts?: ActionOptions): Promise<void> {
    const p = this.#procs.get(nodeId);
    if (p?.up) throw new StoppedError(`cannot restart ${nodeId}: it is running`);
    // A process restart takes time: a new process never starts in the same clock millisecond as the last.
    if (this.#spawnedAt.get(nodeId) === this.now()) await this.sleep(1);
    this.faults.restart++;
    const started = this.#spawn(nodeId, 'restart');
    if (opts?.wait !== false) await this.#drive(started, this.#joinWithin(1), `${nodeId} to rejoin`);
  }

  async stop(nodeId: NodeId, opts?: ActionOptions): Promise<void> {
    const p = this.#up(nodeId, 'stop');
    this.faults.leave++;
    this.#instant(`leave ${nodeId}`);
    const done = p.node.stop().finally(() => this.#down(p));
    done.catch(() => {});
    if (opts?.wait !== false) await this.#drive(done, this.timing.leaseTtlMs * 4, `${nodeId} to leave`);
  }

  /**
   * Stops `nodeId` gracefully and starts a new process of it at once, as an operator restarting a
   * service would: what the old process sends as it leaves (its leave above all) reaches the cluster
   * `lagMs` late, after the new process has announced itself. The leader must not let that late leave
   * remove the new process.
   */
  async restartDuringLeave(nodeId: NodeId, lagMs: number, opts?: ActionOptions): Promise<void> {
    const old = this.#up(nodeId, 'restart during the leave of');
    if (!(lagMs >= 0)) throw new InvalidValueError(`lag must be ≥ 0 ms, got ${lagMs}`);
    this.faults.overlap++;
    this.#instant(`restart ${nodeId} during its leave (${lagMs} ms late)`);
    const delayed = this.transport.faults.delayOf(nodeId);
    this.transport.faults.delay(nodeId, delayed + lagMs);
    // The old process sends its leave before stop() first yields; only that is late.
    const leaving = old.node.stop();
    this.transport.faults.delay(nodeId, delayed);
    // The old process runs on until its stop ends, but it is no longer this id's process.
    old.up = false;
    this.#feed({ kind: 'process', at: this.now(), nodeId, up: false });
    const left = leaving.catch(() => {}).finally(() => old.gate.discard());
    if (this.#spawnedAt.get(nodeId) === this.now()) await this.sleep(1);
    this.faults.restart++;
    const started = this.#spawn(nodeId, 'restart');
    if (opts?.wait !== false) {
      await this.#drive(
        Promise.all([started, left]),
        this.#joinWithin(1) + this.timing.leaseTtlMs * 4,
        `${nodeId} to rejoin while its old process leaves`,
      );
    }
  }

  async drain(nodeId: NodeId, opts?: ActionOptions): Promise<void> {
    const p = this.#up(nodeId, 'drain');
    this.faults.drain++;
    this.#instant(`drain ${nodeId}`);
    const done = p.node.drain().finally(() => this.#down(p));
    done.catch((err: unknown) => this.log(`drain of ${nodeId} failed: ${(err as Error).message}`));
    if (opts?.wait !== false) {
      await this.#drive(done, this.#drainWithin(), `${nodeId} to drain`);
    }
  }

  async pause(nodeId: NodeId): Promise<void> {
    const p = this.#up(nodeId, 'pause');
    if (p.gate.paused) return;
    this.faults.pause++;
    this.#hold(p);
  }

  #hold(p: Proc): void {
    const nodeId = p.id;
    p.gate.pause();
    this.#disrupt(`pause ${nodeId}`);
    this.#feed({ kind: 'hearing', at: this.now(), nodeId, able: false, why: 'paused' });
  }

  /**
   * Pauses the leader so that it resumes `afterMs` past its renew deadline (the last lease write plus
   * the renew deadline), before the followers' lease lapses. Returns the leader and the pause length,
   * or null when there is no leader.
   */
  async stallLeader(afterMs: number): Promise<{ nodeId: NodeId; forMs: number } | null> {
    const leader = this.leader();
    if (leader === null) return null;
    const forMs = Math.max(1, this.#leaseWrittenAt + this.timing.renewDeadlineMs + afterMs - this.now());
    const p = this.#up(leader, 'pause');
    if (p.gate.paused) return null;
    this.faults.stall++;
    this.#hold(p);
    return { nodeId: leader, forMs };
  }

  /** Cuts every running node off the transport at once, as a store restart does; `endOutage` heals. */
  async outage(): Promise<void> {
    this.faults.outage++;
    for (const p of this.#procs.values()) {
      if (!p.up) continue;
      this.transport.faults.isolate(p.id);
      this.#cutOff(p.id);
    }
    this.#disrupt('outage');
  }

  async endOutage(): Promise<void> {
    for (const id of [...this.#cut]) {
      this.transport.faults.heal(id);
      this.#reconnected(id);
    }
    this.#restore('outage');
  }

  #cutOff(nodeId: NodeId): void {
    if (this.#cut.has(nodeId)) return;
    this.#cut.add(nodeId);
    this.#feed({ kind: 'hearing', at: this.now(), nodeId, able: false, why: 'cut' });
  }

  #reconnected(nodeId: NodeId): void {
    if (!this.#cut.delete(nodeId)) return;
    this.#feed({ kind: 'hearing', at: this.now(), nodeId, able: true, why: 'cut' });
  }

  async resume(nodeId: NodeId): Promise<void> {
    const p = this.#procs.get(nodeId);
    if (!p?.up || !p.gate.paused) return;
    p.gate.resume();
    this.#restore(`pause ${nodeId}`);
    this.#feed({ kind: 'hearing', at: this.now(), nodeId, able: true, why: 'paused' });
  }

  async isolate(nodeId: NodeId): Promise<void> {
    this.#up(nodeId, 'isolate');
    this.faults.isolate++;
    this.transport.faults.isolate(nodeId);
    this.#cutOff(nodeId);
    this.#disrupt(`isolate ${nodeId}`);
  }

  async heal(nodeId?: NodeId): Promise<void> {
    const ids = nodeId === undefined ? [...this.#procs.keys()] : [nodeId];
    for (const id of ids) {
      this.transport.faults.heal(id);
      this.#reconnected(id);
      for (const kind of ['isolate', 'delay', 'drop']) this.#restore(`${kind} ${id}`);
    }
  }

  /** Heals every network fault and resumes every paused node. */
  async healAll(): Promise<void> {
    await this.endOutage();
    await this.heal();
    for (const p of this.#procs.values()) if (p.up && p.gate.paused) await this.resume(p.id);
  }

  async delay(nodeId: NodeId, ms: number): Promise<void> {
    this.#up(nodeId, 'delay');
    this.transport.faults.delay(nodeId, ms);
    if (ms > 0) {
      this.faults.delay++;
      this.#disrupt(`delay ${nodeId}`);
    } else this.#restore(`delay ${nodeId}`);
  }

  async drop(nodeId: NodeId, probability: number): Promise<void> {
    this.#up(nodeId, 'drop');
    const rng = this.#dropRng;
    this.transport.faults.drop(nodeId, probability, () => rng.next());
    if (probability > 0) {
      this.faults.drop++;
      this.#disrupt(`drop ${nodeId}`);
    } else this.#restore(`drop ${nodeId}`);
  }

  /**
   * Starts a forging client (a connection that is no node) publishing forged messages on every
   * subject, naming `target` where a live node is named, until {@link stopForging}.
   */
  async forge(target: NodeId): Promise<void> {
    if (this.#forger === null) {
      const n = names(CLUSTER);
      const conn = await this.transport.connect(FORGER);
      const lease = await conn.kv(n.leaseBucket, { ttlMs: this.timing.leaseTtlMs });
      this.#forger = new Forger({
        conn,
        lease,
        names: n,
        clock: this.clock,
        cluster: () => this.clusterState() ?? this.clusterState(target),
        ...(this.#opts.forgeries ? { kinds: this.#opts.forgeries } : {}),
      });
    }
    this.faults.forge++;
    this.#forger.start(target);
    this.#disrupt('forge');
  }

  /** Stops the forging client. */
  async stopForging(): Promise<void> {
    this.#forger?.stop();
    this.#restore('forge');
  }

  /** Feeds the checker what the audit stream stored since the last read. */
  async readAudit(): Promise<void> {
    const audit = this.#audit;
    if (audit === null) return;
    const { messages, next } = await readAuditFrom(audit, this.#auditNext);
    this.#auditNext = next;
    this.#feed({ kind: 'audit', at: this.now(), messages });
  }

  /** Forgeries sent so far, by kind. */
  get forgeries(): Readonly<Record<ForgeryKind, number>> | null {
    return this.#forger?.sent ?? null;
  }

  async sleep(ms: number): Promise<void> {
    this.#claim();
    try {
      await this.#advanceTo(this.clock.now() + ms);
    } finally {
      this.#driving = false;
    }
  }

  async waitUntil(cond: () => boolean, opts: { within: number; what: string }): Promise<number> {
    this.#claim();
    const start = this.clock.now();
    try {
      for (;;) {
        this.#poll();
        if (cond()) return this.clock.now() - start;
        if (this.clock.now() - start >= opts.within) {
          throw new TimeoutError(
            `timed out after ${opts.within} ms waiting for ${opts.what} (seed ${this.seed}, t=${this.clock.now()})`,
          );
        }
        await this.#advanceTo(Math.min(this.clock.now() + this.#step, start + opts.within));
      }
    } finally {
      this.#driving = false;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const u of this.#unwatch.splice(0)) u();
    this.#forger?.stop();
    for (const p of this.#procs.values()) {
      if (!p.up) continue;
      p.up = false;
      p.gate.discard();
      await p.node.crash().catch(() => {});
    }
    await this.transport.close();
  }

  // ---- internals: processes ----------------------------------------------------------------------

  #freshId(): NodeId {
    let id: string;
    do id = `n${this.#nextId++}`;
    while (this.#procs.has(id));
    return id;
  }

  #gate(nodeId: NodeId): PauseGate {
    const g = this.#gates.get(nodeId);
    if (!g) throw new StoppedError(`no process for ${nodeId}`);
    return g;
  }

  #up(nodeId: NodeId, what: string): Proc {
    const p = this.#procs.get(nodeId);
    if (!p?.up) throw new StoppedError(`cannot ${what} ${nodeId}: it is not running`);
    return p;
  }

  #joinWithin(count: number): number {
    const t = this.timing;
    return t.leaseTtlMs * 4 + t.failureTimeoutMs * 2 + t.heartbeatIntervalMs * 4 + count * t.requestTimeoutMs;
  }

  #drainWithin(): number {
    const t = this.timing;
    const rounds = Math.ceil(this.shardCount / (this.#opts.maxMovesPerRound ?? 64));
    return this.#joinWithin(1) + rounds * (t.handoffTimeoutMs + t.requestTimeoutMs);
  }

  #spawn(nodeId: NodeId, why: 'join' | 'restart'): Promise<void> {
    const existing = this.#procs.get(nodeId);
    if (existing?.up) throw new StoppedError(`${nodeId} is already running`);
    const gate = new PauseGate(this.clock);
    this.#gates.set(nodeId, gate);
    this.#spawnedAt.set(nodeId, this.now());
    const node = createClusterNode({
      nodeId,
      cluster: CLUSTER,
      transport: this.#wrapped,
      clock: new PausableClock(this.clock, gate),
      timing: this.timing,
      shardCount: this.shardCount,
      ...(this.#opts.maxMovesPerRound !== undefined ? { maxMovesPerRound: this.#opts.maxMovesPerRound } : {}),
      onRelease: (shards) => this.#feed({ kind: 'release', at: this.now(), nodeId, shards: [...shards] }),
      onAcquire: (shards) => this.#feed({ kind: 'acquire', at: this.now(), nodeId, shards: [...shards] }),
    });
    node.on('*', (e) => this.#onEvent(e, nodeId));
    if (why === 'join') this.faults.join++;
    this.#instant(`${why} ${nodeId}`);
    const started = node.start();
    const p: Proc = { id: nodeId, node, gate, up: true, lastState: null, lastLeader: false, started };
    this.#procs.set(nodeId, p);
    this.#procOfGate.set(gate, p);
    this.#feed({ kind: 'process', at: this.now(), nodeId, up: true });
    // A process whose start fails (e.g. cut off while joining) exits, as a real one would.
    started.catch(async (err: unknown) => {
      this.log(`${nodeId} did not start: ${(err as Error).message}`);
      await node.crash().catch(() => {});
      this.#down(p);
    });
    return started;
  }

  #down(p: Proc): void {
    if (!p.up || this.#procs.get(p.id) !== p) return;
    p.up = false;
    p.gate.discard();
    this.#forgetFaults(p.id);
    this.#feed({ kind: 'process', at: this.now(), nodeId: p.id, up: false });
  }

  #forgetFaults(nodeId: NodeId): void {
    for (const kind of ['pause', 'isolate', 'delay', 'drop']) this.#restore(`${kind} ${nodeId}`);
  }

  // ---- internals: observation --------------------------------------------------------------------

  #feed(entry: HistoryEntry): void {
    if (this.#halted !== null) return;
    this.checker.observe(entry);
    if (entry.kind === 'commit') this.#watchLivelock(entry.at);
    this.history?.push(entry);
    this.#opts.onEntry?.(entry);
  }

  #onEvent(e: DomainEvent, observer: NodeId): void {
    if (this.#seen.has(e.id)) return;
    this.#seen.add(e.id);
    this.#eventCount++;
    const at = this.clock.now();
    this.#hash.update(`${at}|${JSON.stringify(e)}\n`);
    if (this.#opts.keepEvents !== false) this.#events.push({ at, event: e });
    this.#feed({ kind: 'event', at, observer, event: e });
  }

  #onRespond(nodeId: NodeId, subject: string, request: Uint8Array, reply: Uint8Array): void {
    if (!subject.includes('.handoff.')) return;
    const req = decodeHandoff(request);
    const rep = decodeHandoffReply(reply);
    if (!req.ok || !rep.ok) return;
    this.#feed({
      kind: 'handoff',
      at: this.now(),
      from: nodeId,
      leader: req.value.leader,
      term: req.value.term,
      released: rep.value.released as ShardId[],
    });
  }

  /**
   * A topology read by a node's current process: when the answer shows that process a member, its
   * membership held from the moment the read was issued (the `membership` entry).
   */
  #onRead(gate: PauseGate, bucket: string, key: string): ((entry: KvEntry | null) => void) | null {
    if (bucket !== names(CLUSTER).topologyBucket || key !== TOPOLOGY_KEY) return null;
    const since = this.now();
    return (entry) => {
      const p = this.#procOfGate.get(gate);
      if (p === undefined || !p.up || this.#procs.get(p.id) !== p || entry === null) return;
      const d = decodeTopology(entry.value);
      const self = d.ok ? d.value.state.nodes[p.id] : undefined;
      const member = self?.status === 'Active' || self?.status === 'Draining';
      if (!member || self.incarnation !== p.node.incarnation) return;
      this.#feed({ kind: 'membership', at: this.now(), nodeId: p.id, since });
    };
  }

  async #observeStores(): Promise<void> {
    const n = names(CLUSTER);
    const conn = await this.transport.connect(OBSERVER);
    const [lease, topology, audit] = await Promise.all([
      conn.kv(n.leaseBucket, { ttlMs: this.timing.leaseTtlMs }),
      conn.kv(n.topologyBucket, {}),
      conn.auditLog(n.auditStream, n.events),
    ]);
    this.#audit = audit;
    this.#unwatch.push(
      await lease.watch(
        LEASE_KEY,
        leaseTap(
          (e) => this.#feed(e),
          () => this.now(),
          () => {
            this.#leaseWrittenAt = this.now();
          },
        ),
        { includeCurrent: true },
      ),
    );
    this.#unwatch.push(
      await topology.watch(
        TOPOLOGY_KEY,
        (c) => {
          if (c.op !== 'put' || c.value === null) return;
          const d = decodeTopology(c.value);
          if (!d.ok) return;
          this.#feed({
            kind: 'commit',
            at: this.now(),
            revision: c.revision,
            writer: d.value.writer,
            term: d.value.term,
            state: d.value.state,
          });
        },
        { includeCurrent: true },
      ),
    );
  }

  /** Samples every running node's committed view; feeds the changed ones. */
  #poll(): void {
    const at = this.clock.now();
    for (const p of this.#procs.values()) {
      if (!p.up) continue;
      const state = p.node.clusterState();
      const leader = p.node.isLeader();
      if (state === p.lastState && leader === p.lastLeader) continue;
      p.lastState = state;
      p.lastLeader = leader;
      const view: ViewSnapshot = state
        ? {
            version: state.shardMap.version,
            term: state.shardMap.term,
            leader: state.leader,
            highestTerm: state.highestTerm,
            isLeader: leader,
          }
        : { version: 0, term: 0, leader: null, highestTerm: 0, isLeader: leader };
      this.#feed({ kind: 'view', at, observer: p.id, view });
    }
    this.#feed({ kind: 'tick', at });
  }

  // ---- internals: disruptions --------------------------------------------------------------------

  #disrupt(key: string): void {
    this.#disruptions.add(key);
    this.log(key);
    this.#feed({ kind: 'fault', at: this.now(), description: key });
  }

  #restore(key: string): void {
    if (!this.#disruptions.delete(key)) return;
    this.log(`end ${key}`);
    if (this.#disruptions.size === 0) this.#feed({ kind: 'quiet', at: this.now() });
  }

  /** A disruption that is over as soon as it happened (a crash, a join, a leave). */
  #instant(what: string): void {
    this.log(what);
    this.#feed({ kind: 'fault', at: this.now(), description: what });
    if (this.#disruptions.size === 0) this.#feed({ kind: 'quiet', at: this.now() });
  }

  // ---- internals: time ---------------------------------------------------------------------------

  #claim(): void {
    if (this.#driving) {
      throw new StoppedError(
        'the simulated clock is already being driven: await each action before the next',
      );
    }
    this.#driving = true;
  }

  /** Moves time in steps up to `target`, sampling views after each step. */
  /**
   * A runtime looping through zero-latency round trips never lets the simulated clock (or the event
   * loop's macrotasks) run again; past {@link LIVELOCK_COMMITS} commits at one instant the cluster is
   * halted — every connection closed — so the run can end and report it.
   */
  #watchLivelock(at: number): void {
    if (at !== this.#livelockAt) {
      this.#livelockAt = at;
      this.#atInstant = 0;
    }
    if (++this.#atInstant < LIVELOCK_COMMITS) return;
    this.#halted = `livelock: ${LIVELOCK_COMMITS} topology commits at t=${at} without time passing (seed ${this.seed})`;
    this.log(this.#halted);
    for (const p of this.#procs.values()) p.gate.discard();
    void this.transport.close();
  }

  async #advanceTo(target: number): Promise<void> {
    while (this.clock.now() < target) {
      if (this.#halted !== null) throw new TimeoutError(this.#halted);
      const next = Math.min(target, (Math.floor(this.clock.now() / this.#step) + 1) * this.#step);
      await this.clock.advanceTo(next);
      this.#poll();
    }
  }

  /** Moves time until `p` settles; throws a TimeoutError after `within` ms. */
  async #drive<T>(p: Promise<T>, within: number, what: string): Promise<T> {
    let settled = false;
    let value: T | undefined;
    let error: unknown = null;
    let failed = false;
    p.then(
      (v) => {
        settled = true;
        value = v;
      },
      (e: unknown) => {
        settled = true;
        failed = true;
        error = e;
      },
    );
    this.#claim();
    const start = this.clock.now();
    try {
      await this.clock.advanceTo(this.clock.now());
      while (!settled) {
        if (this.clock.now() - start >= within) {
          throw new TimeoutError(
            `timed out after ${within} ms waiting for ${what} (seed ${this.seed}, t=${this.clock.now()})`,
          );
        }
        await this.#advanceTo(Math.min(this.clock.now() + this.#step, start + within));
      }
    } finally {
      this.#driving = false;
    }
    if (failed) throw error;
    return value as T;
  }
}
