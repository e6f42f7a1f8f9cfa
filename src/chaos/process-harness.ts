/**
 * The {@link Harness} over real processes: a nats-server (or a cluster of three) it starts itself,
 * `aether node --json` processes signalled by PID (SIGKILL crash, SIGSTOP/SIGCONT pause, SIGTERM
 * leave), a TCP proxy in front of each node's NATS connection for cuts, delay and dropped
 * connections, and a drain sent to the leader as an operator command. The invariant checker is fed
 * online from what can be seen of a real cluster — the lease and topology watches, the events on the
 * bus, the audit stream, each node's status lines, and the harness's own actions — on the host clock;
 * properties that history cannot show are reported as not observable, never as violated.
 */
import { type Checker, type CheckerConfig, createChecker, type Violation } from '../checker/checker.js';
import type { HistoryEntry, ViewSnapshot } from '../checker/history.js';
import { FAST_TIMING, resolveTiming, type TimingConfig } from '../config.js';
import { InvalidValueError, InvariantViolationError, StoppedError, TimeoutError } from '../domain/errors.js';
import type { DomainEvent } from '../domain/events.js';
import type { ClusterState } from '../domain/state.js';
import type { NodeId, NodeStatus } from '../domain/values.js';
import type { ActionOptions, Harness, ObservedEvent, ServerFaults } from '../sim/harness.js';
import { Rng } from '../sim/random.js';
import { ClusterObserver } from './cluster-observer.js';
import { type NatsServers, startNatsServers } from './nats-servers.js';
import { NodeProcess, type ReadStatus } from './node-process.js';
import { type ChaosReport, type ChaosVerdict, PROCESS_MODE_NOTE, type TimelineEntry } from './report.js';
import { type FaultyProxy, faultyProxy } from './tcp-proxy.js';

export interface ProcessHarnessOptions {
  readonly seed: number;
  /** nats-servers to start: one, or a cluster of three. Default 1. */
  readonly servers?: 1 | 3;
  /** Default 1024. */
  readonly shardCount?: number;
  /** Timings over {@link FAST_TIMING}, passed to every node as flags. */
  readonly timing?: Partial<TimingConfig>;
  /** Cluster name. Default `chaos-<seed>`. */
  readonly cluster?: string;
  /** The built CLI (`dist/src/cli/bin.js`); default: found beside this module or in the checkout. */
  readonly bin?: string;
  /**
   * The CLI to start one node from instead of `bin` (undefined: `bin`), read at each start and
   * restart. For a test build, e.g. one patched to break a property, to show the checker names it.
   */
  readonly binFor?: (nodeId: NodeId) => string | undefined;
  /** Extra environment of a node's process. */
  readonly nodeEnv?: (nodeId: NodeId) => NodeJS.ProcessEnv | undefined;
  /** Checker settings over those derived from the timing. */
  readonly checker?: Partial<
    Pick<CheckerConfig, 'recoveryWindowMs' | 'convergenceBoundMs' | 'keepPerInvariant'>
  >;
  /** How often the audit stream is read and deadlines judged, in ms. Default 500. */
  readonly pollMs?: number;
  /** Receives every history entry as it is recorded. */
  readonly onEntry?: (entry: HistoryEntry) => void;
  /** Nodes the scenario's first `start(count)` starts instead of its count (`--nodes`). */
  readonly nodes?: number;
}

/** The kinds of observation a real cluster gives this harness (no release/acquire hooks, no hand-off replies). */
export const PROCESS_HISTORY_KINDS = [
  'event',
  'view',
  'commit',
  'lease',
  'process',
  'hearing',
  'audit',
  'fault',
  'quiet',
  'tick',
] as const;

const TIMING_FLAGS: readonly [string, keyof TimingConfig][] = [
  ['--lease-ttl', 'leaseTtlMs'],
  ['--renew', 'renewIntervalMs'],
  ['--renew-deadline', 'renewDeadlineMs'],
  ['--retry', 'retryIntervalMs'],
  ['--heartbeat', 'heartbeatIntervalMs'],
  ['--failure-timeout', 'failureTimeoutMs'],
  ['--handoff-timeout', 'handoffTimeoutMs'],
  ['--request-timeout', 'requestTimeoutMs'],
];

interface Proc {
  readonly id: NodeId;
  readonly process: NodeProcess;
  up: boolean;
  paused: boolean;
}

export class ProcessHarness implements Harness, ServerFaults {
  readonly seed: number;
  readonly timing: TimingConfig;
  readonly rng: Rng;
  readonly checker: Checker;
  readonly shardCount: number;
  readonly servers: NatsServers;
  readonly cluster: string;
  readonly faults: Record<string, number> = {};
  readonly #o: ProcessHarnessOptions;
  readonly #procs = new Map<NodeId, Proc>();
  readonly #proxies = new Map<NodeId, FaultyProxy>();
  /** The server (its index) each node's proxy leads to. */
  readonly #serverOf = new Map<NodeId, number>();
  /** Per server fault (`kill <index>`, `partition <index>`): the node processes it cut off. */
  readonly #cutByServer = new Map<string, { readonly index: number; readonly procs: Set<Proc> }>();
  readonly #events: ObservedEvent[] = [];
  readonly #log: string[] = [];
  readonly #timeline: TimelineEntry[] = [];
  readonly #disruptions = new Set<string>();
  readonly #convergences: { t: number; afterMs: number }[] = [];
  readonly #startedAt: number;
  #observer: ClusterObserver | null = null;
  #last = 0;
  #nextId = 1;
  #spawned = 0;
  #poll: ReturnType<typeof setInterval> | null = null;
  #lastFaultAt: number;
  #wasConverged = false;
  #leaderlessSince: number | null = null;
  #unownedSince: number | null = null;
  #maxLeaderless = 0;
  #maxUnowned = 0;
  #closed = false;
  #lastCommit: ClusterState | null = null;

  private constructor(o: ProcessHarnessOptions, servers: NatsServers) {
    this.#o = o;
    this.seed = o.seed >>> 0;
    this.rng = new Rng(this.seed).fork('scenario');
    this.timing = resolveTiming(o.timing ?? {}, FAST_TIMING);
    this.shardCount = o.shardCount ?? 1024;
    this.servers = servers;
    this.cluster = o.cluster ?? `chaos-${this.seed}`;
    this.checker = createChecker({
      timing: this.timing,
      shardCount: this.shardCount,
      historyKinds: PROCESS_HISTORY_KINDS,
      ...o.checker,
    });
    this.#startedAt = this.now();
    this.#lastFaultAt = this.#startedAt;
  }

  /** Starts the nats-server(s) and the observer; nodes start with {@link start}. */
  static async create(o: ProcessHarnessOptions): Promise<ProcessHarness> {
    const count = o.servers ?? 1;
    if (count !== 1 && count !== 3)
      throw new InvalidValueError(`servers must be 1 or 3, got ${String(count)}`);
    const servers = await startNatsServers(count);
    const h = new ProcessHarness(o, servers);
    try {
      h.#observer = await ClusterObserver.open({
        servers: servers.urls,
        cluster: h.cluster,
        leaseTtlMs: h.timing.leaseTtlMs,
        ...(count === 3 ? { replicas: 3 } : {}),
        feed: (e) => h.#feed(e),
        onEvent: (e) => h.#onEvent(e),
        now: () => h.now(),
      });
    } catch (err) {
      await servers.close();
      throw err;
    }
    h.#poll = setInterval(() => h.#tick(), o.pollMs ?? 500);
    return h;
  }

  // ---- queries -----------------------------------------------------------------------------------

  /** The host clock (the nodes stamp their events with it too), never going back. */
  now(): number {
    const t = Date.now();
    if (t > this.#last) this.#last = t;
    return this.#last;
  }

  running(): NodeId[] {
    return [...this.#procs.values()].filter((p) => p.up).map((p) => p.id);
  }

  leaders(): NodeId[] {
    return [...this.#procs.values()].filter((p) => p.up && p.process.status()?.isLeader).map((p) => p.id);
  }

  leader(): NodeId | null {
    const l = this.leaders();
    return l.length === 1 ? l[0]! : null;
  }

  statusOf(nodeId: NodeId): NodeStatus | null {
    const p = this.#procs.get(nodeId);
    if (!p?.up) return null;
    return (p.process.status()?.status as NodeStatus | undefined) ?? 'Joining';
  }

  /** The last committed state the observer saw, while `nodeId` (or a leader) runs. */
  clusterState(nodeId?: NodeId): ClusterState | null {
    const id = nodeId ?? this.leader();
    if (id === null || !this.#procs.get(id)?.up) return null;
    return this.#lastCommit;
  }

  converged(): boolean {
    const c = this.checker.converged();
    this.#noteConvergence(c);
    return c;
  }

  events(): readonly ObservedEvent[] {
    return this.#events;
  }

  violations(): readonly Violation[] {
    return this.checker.violations;
  }

  /** A running node's process (pid, stderr), for diagnosis. */
  process(nodeId: NodeId): NodeProcess | null {
    return this.#procs.get(nodeId)?.process ?? null;
  }

  logLines(): readonly string[] {
    return this.#log;
  }

  log(message: string): void {
    this.#log.push(`[+${this.now() - this.#startedAt}] ${message}`);
    this.#mark('note', message);
  }

  assertClean(): void {
    const v = this.checker.finish(this.now());
    if (v.length === 0) return;
    const first = v[0]!;
    const list = v
      .slice(0, 5)
      .map((x) => `  ${x.invariant} at +${x.at - this.#startedAt} ms: ${x.message}`)
      .join('\n');
    throw new InvariantViolationError(
      first.invariant,
      `${v.length} invariant violation(s) on real processes (seed ${this.seed}):\n${list}`,
      v.slice(0, 5),
    );
  }

  // ---- actions -----------------------------------------------------------------------------------

  async start(nodes: readonly NodeId[] | number, opts?: ActionOptions): Promise<NodeId[]> {
    let count = typeof nodes === 'number' ? nodes : 0;
    if (typeof nodes === 'number' && this.#procs.size === 0 && this.#o.nodes !== undefined)
      count = this.#o.nodes;
    const ids = typeof nodes === 'number' ? Array.from({ length: count }, () => this.#freshId()) : [...nodes];
    for (const id of ids) await this.#spawn(id, 'join');
    if (opts?.wait !== false) await this.#untilActive(ids, this.#joinWithin(ids.length));
    return ids;
  }

  async add(nodeId?: NodeId, opts?: ActionOptions): Promise<NodeId> {
    const [id] = await this.start([nodeId ?? this.#freshId()], opts);
    return id!;
  }

  async crash(nodeId: NodeId): Promise<void> {
    const p = this.#up(nodeId, 'crash');
    this.#count('crash');
    this.#instant(`crash ${nodeId} (SIGKILL pid ${p.process.pid})`);
    p.process.signal('SIGKILL');
    this.#down(p);
    this.#forgetFaults(nodeId);
    await p.process.exited;
  }

  async restart(nodeId: NodeId, opts?: ActionOptions): Promise<void> {
    if (this.#procs.get(nodeId)?.up) throw new StoppedError(`cannot restart ${nodeId}: it is running`);
    this.#count('restart');
    await this.#spawn(nodeId, 'restart');
    if (opts?.wait !== false) await this.#untilActive([nodeId], this.#joinWithin(1));
  }

  async stop(nodeId: NodeId, opts?: ActionOptions): Promise<void> {
    const p = this.#up(nodeId, 'stop');
    this.#count('leave');
    this.#instant(`leave ${nodeId} (SIGTERM pid ${p.process.pid})`);
    if (p.paused) await this.resume(nodeId);
    p.process.signal('SIGTERM');
    const done = p.process.exited.then(() => this.#down(p));
    if (opts?.wait !== false)
      await this.#within(done, this.timing.leaseTtlMs * 4 + 5_000, `${nodeId} to leave`);
  }

  async drain(nodeId: NodeId, opts?: ActionOptions): Promise<void> {
    const p = this.#up(nodeId, 'drain');
    const observer = this.#observer;
    if (observer === null) throw new StoppedError('the harness is closed');
    this.#count('drain');
    this.#instant(`drain ${nodeId} (operator command)`);
    const t = this.timing;
    const reply = await observer.drain(nodeId, t.leaseTtlMs * 4, t.retryIntervalMs);
    if (!reply.ok)
      throw new StoppedError(`the leader refused to drain ${nodeId}: ${reply.code}: ${reply.message}`);
    // A node recorded as Left stops by itself.
    const done = p.process.exited.then(() => this.#down(p));
    if (opts?.wait !== false) await this.#within(done, this.#drainWithin(), `${nodeId} to drain`);
  }

  async pause(nodeId: NodeId): Promise<void> {
    const p = this.#up(nodeId, 'pause');
    if (p.paused) return;
    this.#count('pause');
    p.process.signal('SIGSTOP');
    p.paused = true;
    this.#disrupt(`pause ${nodeId}`);
    this.#feed({ kind: 'hearing', at: this.now(), nodeId, able: false, why: 'paused' });
  }

  async resume(nodeId: NodeId): Promise<void> {
    const p = this.#procs.get(nodeId);
    if (!p?.up || !p.paused) return;
    p.process.signal('SIGCONT');
    p.paused = false;
    this.#restore(`pause ${nodeId}`);
    this.#feed({ kind: 'hearing', at: this.now(), nodeId, able: true, why: 'paused' });
  }

  async isolate(nodeId: NodeId): Promise<void> {
    this.#up(nodeId, 'isolate');
    const proxy = this.#proxies.get(nodeId)!;
    this.#count('isolate');
    if (!proxy.isCut) {
      proxy.cut();
      this.#feed({ kind: 'hearing', at: this.now(), nodeId, able: false, why: 'cut' });
    }
    this.#disrupt(`isolate ${nodeId}`);
  }

  async heal(nodeId?: NodeId): Promise<void> {
    const ids = nodeId === undefined ? [...this.#proxies.keys()] : [nodeId];
    for (const id of ids) {
      const proxy = this.#proxies.get(id);
      if (proxy === undefined) continue;
      const wasCut = proxy.isCut;
      proxy.heal();
      if (wasCut && this.#procs.get(id)?.up)
        this.#feed({ kind: 'hearing', at: this.now(), nodeId: id, able: true, why: 'cut' });
      for (const kind of ['isolate', 'delay', 'drop']) this.#restore(`${kind} ${id}`);
    }
  }

  async delay(nodeId: NodeId, ms: number): Promise<void> {
    this.#up(nodeId, 'delay');
    this.#proxies.get(nodeId)!.delay(ms);
    if (ms > 0) {
      this.#count('delay');
      this.#disrupt(`delay ${nodeId}`);
    } else this.#restore(`delay ${nodeId}`);
  }

  async drop(nodeId: NodeId, probability: number): Promise<void> {
    this.#up(nodeId, 'drop');
    this.#proxies.get(nodeId)!.drop(probability);
    if (probability > 0) {
      this.#count('drop');
      this.#disrupt(`drop ${nodeId}`);
    } else this.#restore(`drop ${nodeId}`);
  }

  // ---- server faults (process mode only: beyond the shared Harness, see ServerFaults) -------------

  serverCount(): number {
    return this.servers.servers.length;
  }

  /**
   * SIGKILLs nats-server `index`. Each node connected to it (through its proxy, which leads to that
   * server only) is recorded as unable to hear until the server is back, as a cut is.
   */
  async killServer(index: number): Promise<void> {
    const server = this.#server(index);
    if (!server.running()) throw new StoppedError(`cannot kill server ${server.name}: it is not running`);
    this.#count('server-kill');
    await server.kill();
    this.#cutOffServer(`kill ${index}`, index);
    this.#disrupt(`kill server ${server.name}`);
  }

  /** Starts killed server `index` again on its port and store; the nodes it cut off hear again. */
  async restartServer(index: number): Promise<void> {
    const server = this.#server(index);
    if (server.running()) throw new StoppedError(`cannot restart server ${server.name}: it is running`);
    this.#count('server-restart');
    await server.restart();
    this.#reconnectServer(`kill ${index}`);
    this.#restore(`kill server ${server.name}`);
  }

  /**
   * Cuts server `index` of a three-server cluster off from the other two: the route proxies between
   * them drop every connection and refuse new ones. Its clients stay connected to it, cut off from the
   * majority with it, and are recorded as unable to hear until {@link healServer}.
   */
  async partitionServer(index: number): Promise<void> {
    const server = this.#server(index);
    const routes = this.servers.routes;
    if (routes === undefined)
      throw new InvalidValueError('a server partition needs a three-server cluster (--servers 3)');
    if (routes.isCut(index)) return;
    this.#count('server-partition');
    routes.cut(index);
    this.#cutOffServer(`partition ${index}`, index);
    this.#disrupt(`partition server ${server.name}`);
  }

  /** Heals a partitioned server's routes; the nodes on it hear the others again. */
  async healServer(index: number): Promise<void> {
    const server = this.#server(index);
    const routes = this.servers.routes;
    if (routes === undefined || !routes.isCut(index)) return;
    routes.heal(index);
    this.#reconnectServer(`partition ${index}`);
    this.#restore(`partition server ${server.name}`);
  }

  #cutOffServer(key: string, index: number): void {
    const procs = new Set<Proc>();
    this.#cutByServer.set(key, { index, procs });
    for (const p of this.#procs.values()) {
      if (p.up && this.#serverOf.get(p.id) === index) this.#cutOff(p, procs);
    }
  }

  #reconnectServer(key: string): void {
    for (const p of this.#cutByServer.get(key)?.procs ?? []) {
      if (p.up && this.#procs.get(p.id) === p)
        this.#feed({ kind: 'hearing', at: this.now(), nodeId: p.id, able: true, why: 'cut' });
    }
    this.#cutByServer.delete(key);
  }

  #server(index: number) {
    const server = this.servers.servers[index];
    if (server === undefined)
      throw new InvalidValueError(`no server ${index}: the run has ${this.servers.servers.length}`);
    return server;
  }

  #cutOff(p: Proc, cut: Set<Proc>): void {
    cut.add(p);
    this.#feed({ kind: 'hearing', at: this.now(), nodeId: p.id, able: false, why: 'cut' });
  }

  async sleep(ms: number): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
  }

  async waitUntil(cond: () => boolean, opts: { within: number; what: string }): Promise<number> {
    const start = this.now();
    for (;;) {
      if (cond()) return this.now() - start;
      if (this.now() - start >= opts.within) {
        throw new TimeoutError(
          `timed out after ${opts.within} ms waiting for ${opts.what} (seed ${this.seed}, +${this.now() - this.#startedAt} ms)`,
        );
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Reads the audit stream up to now and judges every deadline due: call before the final verdict. */
  async settle(): Promise<void> {
    await this.#observer
      ?.readAudit()
      .catch((err: unknown) => this.log(`audit read failed: ${(err as Error).message}`));
    this.#tick();
  }

  /** The run's report; `error` is the scenario's own failure, if any. */
  report(scenario: string, error: Error | null): ChaosReport {
    const violations = this.checker.finish(this.now());
    const verdict: ChaosVerdict = violations.length > 0 ? 'violation' : error ? 'failed' : 'ok';
    const end = this.now();
    return {
      scenario,
      seed: this.seed,
      mode: 'processes',
      servers: this.servers.servers.length,
      shardCount: this.shardCount,
      timing: this.timing,
      startedAt: new Date(this.#startedAt).toISOString(),
      durationMs: end - this.#startedAt,
      verdict,
      error: error ? error.message : null,
      violations: violations.map((v) => ({ ...v, at: v.at - this.#startedAt })),
      judged: this.checker.judged,
      notObservable: this.checker.notObservable,
      stats: this.checker.stats(),
      faults: { ...this.faults },
      convergences: [...this.#convergences],
      maxLeaderlessMs: Math.max(
        this.#maxLeaderless,
        this.#leaderlessSince === null ? 0 : end - this.#leaderlessSince,
      ),
      maxUnownedMs: Math.max(this.#maxUnowned, this.#unownedSince === null ? 0 : end - this.#unownedSince),
      commitGaps: this.#observer?.gaps ?? 0,
      timeline: [...this.#timeline],
      log: [...this.#log],
      note: PROCESS_MODE_NOTE,
    };
  }

  /** Kills every node, closes the proxies and the observer, and stops the servers. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#poll) clearInterval(this.#poll);
    for (const p of this.#procs.values()) {
      p.process.signal('SIGKILL');
      await p.process.exited;
    }
    await this.#observer?.close();
    this.#observer = null;
    await Promise.all([...this.#proxies.values()].map((p) => p.close()));
    await this.servers.close();
  }

  // ---- internals: processes ----------------------------------------------------------------------

  #freshId(): NodeId {
    let id: string;
    do id = `n${this.#nextId++}`;
    while (this.#procs.has(id));
    return id;
  }

  #up(nodeId: NodeId, what: string): Proc {
    const p = this.#procs.get(nodeId);
    if (!p?.up) throw new StoppedError(`cannot ${what} ${nodeId}: it is not running`);
    return p;
  }

  #count(kind: string): void {
    this.faults[kind] = (this.faults[kind] ?? 0) + 1;
  }

  #joinWithin(count: number): number {
    const t = this.timing;
    // A process takes a second or so to start on a busy host, on top of what the simulator allows.
    return (
      t.leaseTtlMs * 4 +
      t.failureTimeoutMs * 2 +
      t.heartbeatIntervalMs * 4 +
      count * (t.requestTimeoutMs + 2_000)
    );
  }

  #drainWithin(): number {
    const t = this.timing;
    return this.#joinWithin(1) + Math.ceil(this.shardCount / 64) * (t.handoffTimeoutMs + t.requestTimeoutMs);
  }

  #nodeArgs(nodeId: NodeId, url: string): string[] {
    const t = this.timing;
    const args = [
      '--nats',
      url,
      '--cluster',
      this.cluster,
      '--shards',
      String(this.shardCount),
      '--timing',
      'fast',
    ];
    for (const [flag, field] of TIMING_FLAGS) args.push(flag, String(t[field]));
    args.push('--log-level', 'warn', '--connect-timeout', '10s');
    if (this.servers.servers.length === 3) args.push('--replicas', '3');
    void nodeId;
    return args;
  }

  async #spawn(nodeId: NodeId, why: 'join' | 'restart'): Promise<void> {
    if (this.#procs.get(nodeId)?.up) throw new StoppedError(`${nodeId} is already running`);
    let proxy = this.#proxies.get(nodeId);
    if (proxy === undefined) {
      const servers = this.servers.servers;
      // Each node talks to one server of a cluster, in turn.
      const index = this.#spawned % servers.length;
      proxy = await faultyProxy({ targetPort: servers[index]!.port, random: () => this.rng.next() });
      this.#proxies.set(nodeId, proxy);
      this.#serverOf.set(nodeId, index);
    }
    this.#spawned++;
    if (why === 'join') this.#count('join');
    this.#instant(`${why} ${nodeId}`);
    const env = this.#o.nodeEnv?.(nodeId);
    const bin = this.#o.binFor?.(nodeId) ?? this.#o.bin;
    const p: Proc = {
      id: nodeId,
      up: true,
      paused: false,
      process: new NodeProcess({
        nodeId,
        args: this.#nodeArgs(nodeId, proxy.url),
        ...(bin !== undefined ? { bin } : {}),
        ...(env !== undefined ? { env } : {}),
        now: () => this.now(),
        onStatus: (s) => this.#onStatus(p, s),
      }),
    };
    this.#procs.set(nodeId, p);
    this.#feed({ kind: 'process', at: this.now(), nodeId, up: true });
    // Started while its server is down or cut off: it hears nothing (of the majority) until that ends.
    for (const fault of this.#cutByServer.values())
      if (fault.index === this.#serverOf.get(nodeId)) this.#cutOff(p, fault.procs);
  }

  #down(p: Proc): void {
    if (!p.up || this.#procs.get(p.id) !== p) return;
    p.up = false;
    p.paused = false;
    this.#feed({ kind: 'process', at: this.now(), nodeId: p.id, up: false });
    this.#forgetFaults(p.id);
  }

  #forgetFaults(nodeId: NodeId): void {
    const proxy = this.#proxies.get(nodeId);
    if (proxy?.isCut) proxy.heal();
    for (const kind of ['pause', 'isolate', 'delay', 'drop']) this.#restore(`${kind} ${nodeId}`);
  }

  #onStatus(p: Proc, s: ReadStatus | null): void {
    if (s === null) {
      // The process exited by itself (a drained node, a start that failed).
      if (p.up && this.#procs.get(p.id) === p) {
        this.log(
          `${p.id} exited${p.process.stderr() ? `: ${p.process.stderr().trim().split('\n').at(-1)}` : ''}`,
        );
        this.#down(p);
      }
      return;
    }
    if (!p.up || this.#procs.get(p.id) !== p) return;
    const view: ViewSnapshot = {
      version: s.version,
      term: s.mapTerm ?? 0,
      leader: s.leader !== null && s.term !== null ? { nodeId: s.leader, term: s.term } : null,
      highestTerm: Math.max(s.mapTerm ?? 0, s.term ?? 0),
      isLeader: s.isLeader,
    };
    this.#feed({ kind: 'view', at: this.now(), observer: p.id, view });
  }

  async #untilActive(ids: readonly NodeId[], within: number): Promise<void> {
    await this.waitUntil(
      () =>
        ids.every((id) => {
          const p = this.#procs.get(id);
          if (!p?.up)
            throw new StoppedError(`${id} exited while starting: ${p?.process.stderr().slice(-500)}`);
          return p.process.status()?.status === 'Active';
        }),
      { within, what: `${ids.join(', ')} to become Active` },
    );
  }

  async #within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`timed out after ${ms} ms waiting for ${what}`)), ms);
    });
    try {
      return await Promise.race([p, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  // ---- internals: observation --------------------------------------------------------------------

  #feed(entry: HistoryEntry): void {
    if (this.#closed) return;
    // Entries come in the order they are recorded; stamp them no earlier than the last one.
    const e = entry.at < this.#last ? { ...entry, at: this.#last } : entry;
    if (e.kind === 'commit') this.#lastCommit = e.state;
    this.checker.observe(e);
    this.#o.onEntry?.(e);
  }

  #onEvent(e: DomainEvent): void {
    const at = this.now();
    this.#events.push({ at, event: e });
    if (e.type === 'LeaderElected') this.#mark('election', `${e.nodeId} elected for term ${e.term}`);
    else if (e.type === 'NodeFailed')
      this.#mark(
        'failure',
        `${e.nodeId} judged failed by ${e.origin} (${e.orphaned.length} shards orphaned)`,
      );
    else if (e.type === 'NodeLeft')
      this.#mark('leave', `${e.nodeId} left (${e.orphaned.length} shards orphaned)`);
  }

  /** Reads the audit stream, judges deadlines, and keeps the timeline's convergence and gap figures. */
  #tick(): void {
    if (this.#closed) return;
    void this.#observer?.readAudit().catch(() => {});
    const at = this.now();
    this.#feed({ kind: 'tick', at });
    this.#noteConvergence(this.checker.converged());
    const leaderless = this.running().length > 0 && this.leader() === null;
    if (leaderless && this.#leaderlessSince === null) this.#leaderlessSince = at;
    if (!leaderless && this.#leaderlessSince !== null) {
      this.#maxLeaderless = Math.max(this.#maxLeaderless, at - this.#leaderlessSince);
      this.#leaderlessSince = null;
    }
    const s = this.#lastCommit;
    const unowned = s?.bootstrapped === true && s.shardMap.owners.some((o) => o === null);
    if (unowned && this.#unownedSince === null) this.#unownedSince = at;
    if (!unowned && this.#unownedSince !== null) {
      this.#maxUnowned = Math.max(this.#maxUnowned, at - this.#unownedSince);
      this.#unownedSince = null;
    }
  }

  /** Marks the moments the cluster comes to agree, and how long after the last disruption. */
  #noteConvergence(converged: boolean): void {
    if (converged && !this.#wasConverged && this.running().length > 0) {
      const at = this.now();
      const afterMs = at - this.#lastFaultAt;
      this.#convergences.push({ t: at - this.#startedAt, afterMs });
      this.#mark(
        'converged',
        `${this.running().length} nodes agree (${afterMs} ms after the last disruption)`,
      );
    }
    this.#wasConverged = converged;
  }

  #mark(kind: TimelineEntry['kind'], text: string): void {
    this.#timeline.push({ t: this.now() - this.#startedAt, kind, text });
  }

  // ---- internals: disruptions --------------------------------------------------------------------

  #disrupt(key: string): void {
    this.#disruptions.add(key);
    this.#log.push(`[+${this.now() - this.#startedAt}] ${key}`);
    this.#mark('fault', key);
    this.#lastFaultAt = this.now();
    this.#feed({ kind: 'fault', at: this.now(), description: key });
  }

  #restore(key: string): void {
    if (!this.#disruptions.delete(key)) return;
    this.#log.push(`[+${this.now() - this.#startedAt}] end ${key}`);
    this.#mark('heal', `end ${key}`);
    this.#lastFaultAt = this.now();
    if (this.#disruptions.size === 0) this.#feed({ kind: 'quiet', at: this.now() });
  }

  /** A disruption over as soon as it happened (a crash, a join, a leave). */
  #instant(what: string): void {
    this.#log.push(`[+${this.now() - this.#startedAt}] ${what}`);
    this.#mark('fault', what);
    this.#lastFaultAt = this.now();
    this.#feed({ kind: 'fault', at: this.now(), description: what });
    if (this.#disruptions.size === 0) this.#feed({ kind: 'quiet', at: this.now() });
  }
}
