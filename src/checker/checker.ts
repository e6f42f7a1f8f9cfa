/**
 * An invariant checker over a history of observations (see {@link HistoryEntry}). Pure: it keeps
 * what it needs of the past and judges each entry as it arrives, so the same code checks a run
 * online (feed entries as they happen) and offline ({@link checkHistory}). Safety invariants are
 * judged on every entry; time-bounded ones (recovery window, convergence after faults heal) when
 * an entry shows their deadline has passed, or at {@link Checker.finish}.
 */
import { fenceAfterMs, type TimingConfig } from '../config.js';
import type { DomainEvent } from '../domain/events.js';
import { checkInvariants, summarize } from '../domain/invariants.js';
import type { ClusterState } from '../domain/state.js';
import type { NodeId, ShardId, Term } from '../domain/values.js';
import { AuditTrailCheck } from './audit-trail.js';
import type { HistoryEntry, ViewSnapshot } from './history.js';

/** The invariants this checker judges. */
export type CheckedInvariant =
  /** At most one leader per term: elections, lease holders and topology writers agree. */
  | 'single-leader-per-term'
  /** Terms only increase: per observer, in elections, and in the store's writes. */
  | 'terms-increase'
  /** The leader named by a committed topology is an Active node (bootstrap aside). */
  | 'leader-is-active'
  /** Every shard has an owner, except orphans inside their recovery window. */
  | 'all-shards-owned'
  /** Owners are Active, or Draining and keeping only shards they had. */
  | 'shards-on-active-nodes'
  /** A shard changes owner only through a rebalance that a topology change or a new leader started. */
  | 'moves-only-on-topology-change'
  /** Shard-map versions only increase, per observer and in the store; each version has one writer and term. */
  | 'versions-increase'
  /** A shard reaches its new owner only after its old owner released it. */
  | 'release-before-acquire'
  /** No write or hand-off of a deposed leader's term is accepted once a newer term has written. */
  | 'stale-term-fenced'
  /** Once faults heal, one leader and one shard-map version everywhere, within a bound. */
  | 'converges'
  /** A shard released by its owner moves on; it is not left owned-but-unserved. */
  | 'released-shards-move'
  /** An event or state the history cannot have produced (malformed, out of range). */
  | 'event-fits-state'
  /**
   * A delivered decision (any event but a renewal or a step-down, which an unfenced leader may make)
   * comes from the node that wrote its term's topology: a forged or misrouted event is never delivered.
   */
  | 'events-from-leader'
  /**
   * No failure judged by a blind judge: a NodeFailed decided at its `at` by its `origin` is valid only
   * if the origin is not the failed node, could hear throughout (at − failureTimeout, at] — its process
   * was up (`process` entries) and not cut off from the transport (`hearing` entries, `cut`) — and was
   * not paused at `at` (its deadline passed before it could read what waited in its inbox). A
   * NodeFailed decided together with the NodeJoined of a newer incarnation (a rejoin) is evidence, not
   * a judgement by silence, and is not judged. Judged only for origins the history reports on, by id:
   * a process replaced in the same instant (a restart while the old one is still leaving, and still
   * judging) leaves its id no gap, and the old process's verdicts are not held against the new one. (An
   * operator's markNodeFailed is not a judgement by silence either; histories that contain one should
   * not be read against this property.)
   */
  | 'failure-judged-blind'
  /**
   * Every committed decision (an event delivered by its leader, renewals and step-downs aside) is
   * stored in the audit stream exactly once and in commit order; no event of a term is stored after
   * one of a newer term. Owed in full once faults have healed for the convergence bound (events of the
   * last recovery window aside). Judged only when the history reads the stream (`audit` entries).
   */
  | 'audit-trail'
  /**
   * No serving without confirmed membership: a node's process serves shards (its `acquire` and
   * `release` entries) only while its membership was confirmed within the fence window
   * (`fenceAfterMs`: a read of the store issued within that long showed it a member, see `membership`
   * entries; a process that just started counts as confirmed at its start), so that it has stopped
   * before the leader may reassign its shards (a failure timeout after its last contact). A paused
   * process serves nothing while paused, and fences the instant it resumes. Judged only when the
   * history reports membership confirmations.
   */
  | 'serving-without-membership';

export const CHECKED_INVARIANTS: readonly CheckedInvariant[] = [
  'single-leader-per-term',
  'terms-increase',
  'leader-is-active',
  'all-shards-owned',
  'shards-on-active-nodes',
  'moves-only-on-topology-change',
  'versions-increase',
  'release-before-acquire',
  'stale-term-fenced',
  'converges',
  'released-shards-move',
  'event-fits-state',
  'events-from-leader',
  'failure-judged-blind',
  'audit-trail',
  'serving-without-membership',
];

/** The kinds of observation a history can hold. */
export type HistoryKind = HistoryEntry['kind'];

/**
 * What each invariant must see to be judged: a history lacking one of these kinds (a real cluster
 * has no `onRelease` hooks to tap, for one) cannot show the property held, so it is not judged
 * rather than reported as broken on missing evidence.
 */
export const INVARIANT_NEEDS: Readonly<Record<CheckedInvariant, readonly HistoryKind[]>> = {
  'single-leader-per-term': [],
  'terms-increase': [],
  'leader-is-active': [],
  'all-shards-owned': [],
  'shards-on-active-nodes': [],
  'moves-only-on-topology-change': [],
  'versions-increase': [],
  // A move is judged against the old owner's release: only its hooks (or hand-off replies) show it.
  'release-before-acquire': ['release', 'acquire'],
  'stale-term-fenced': [],
  converges: ['view', 'process', 'quiet'],
  'released-shards-move': ['release'],
  'event-fits-state': [],
  'events-from-leader': ['event', 'commit'],
  'failure-judged-blind': ['event', 'process', 'hearing'],
  'audit-trail': ['event', 'audit'],
  // What the application was told to serve, and each store read that showed the process a member.
  'serving-without-membership': ['membership', 'acquire', 'release', 'process'],
};

/** The invariants a history of these kinds lets the checker judge, and those it does not. */
export function observability(kinds: Iterable<HistoryKind>): {
  readonly judged: readonly CheckedInvariant[];
  readonly notObservable: readonly CheckedInvariant[];
} {
  const have = new Set(kinds);
  const judged = CHECKED_INVARIANTS.filter((i) => INVARIANT_NEEDS[i].every((k) => have.has(k)));
  return { judged, notObservable: CHECKED_INVARIANTS.filter((i) => !judged.includes(i)) };
}

/** One broken invariant: which, when, and the observations that show it. */
export interface Violation {
  readonly invariant: CheckedInvariant;
  /** Observation time of the entry that revealed it. */
  readonly at: number;
  readonly message: string;
  /** The observations (compacted) that show it, oldest first. */
  readonly evidence: readonly unknown[];
}

export interface CheckerConfig {
  readonly timing: TimingConfig;
  readonly shardCount: number;
  /**
   * How long a shard may stay ownerless after the NodeFailed / NodeLeft that orphaned it (counted
   * from the later of that and the latest election). Default: see {@link defaultRecoveryWindowMs}.
   */
  readonly recoveryWindowMs?: number;
  /** How long after a `quiet` entry the cluster must have converged. Default: {@link defaultConvergenceBoundMs}. */
  readonly convergenceBoundMs?: number;
  /** Violations kept per invariant (all are counted). Default 20. */
  readonly keepPerInvariant?: number;
  /**
   * The kinds of observation the history will hold. Invariants needing a kind not listed (see
   * {@link INVARIANT_NEEDS}) are not observable: never judged, never reported. Default: every kind
   * (a simulator sees everything).
   */
  readonly historyKinds?: readonly HistoryKind[];
}

/** What the checker counted while reading. */
export interface CheckerStats {
  readonly entries: number;
  readonly events: number;
  readonly elections: number;
  readonly rebalances: number;
  /** ShardAssigned + ShardMigrated events. */
  readonly moves: number;
  readonly commits: number;
  readonly releases: number;
  /** Liveness obligations met, and the slowest convergence after a quiet point (ms). */
  readonly convergences: number;
  readonly slowestConvergenceMs: number;
  /** Violations found, per invariant (including those not kept). */
  readonly violations: Readonly<Partial<Record<CheckedInvariant, number>>>;
}

export interface Checker {
  /** Feeds one observation. Entries must come in non-decreasing `at`. */
  observe(entry: HistoryEntry): void;
  /** Judges every deadline due by `at` (default: the last entry's time) and returns all violations. */
  finish(at?: number): readonly Violation[];
  /** Violations found so far (at most `keepPerInvariant` of each invariant). */
  readonly violations: readonly Violation[];
  stats(): CheckerStats;
  /** Whether the cluster looks converged now (one leader, one version, membership settled). */
  converged(): boolean;
  /** Invariants this checker judges, and those its history cannot show (never reported). */
  readonly judged: readonly CheckedInvariant[];
  readonly notObservable: readonly CheckedInvariant[];
}

/** Longest a shard may stay orphaned: one leader change, a hand-off timeout and a few store round trips. */
export function defaultRecoveryWindowMs(t: TimingConfig): number {
  return (
    t.leaseTtlMs +
    t.renewIntervalMs +
    t.renewDeadlineMs +
    t.handoffTimeoutMs +
    4 * t.requestTimeoutMs +
    t.retryIntervalMs
  );
}

/**
 * Time from the moment faults heal to convergence: a lease lapse and campaign, failure detection,
 * one heartbeat for rejoiners, and a rebalance of every shard in rounds of 64 with a store round trip
 * each, plus a couple of hand-off timeouts for owners that were slow to answer.
 */
export function defaultConvergenceBoundMs(t: TimingConfig, shardCount: number): number {
  const rounds = Math.ceil(shardCount / 64);
  return (
    t.leaseTtlMs +
    t.renewIntervalMs +
    t.failureTimeoutMs +
    2 * t.heartbeatIntervalMs +
    rounds * t.requestTimeoutMs +
    2 * t.handoffTimeoutMs +
    4 * t.requestTimeoutMs
  );
}

/** Checks a whole history at once. */
export function checkHistory(history: Iterable<HistoryEntry>, config: CheckerConfig): readonly Violation[] {
  const c = createChecker(config);
  for (const e of history) c.observe(e);
  return c.finish();
}

interface OpenRebalance {
  readonly id: string;
  readonly plan: Map<ShardId, { from: NodeId | null; to: NodeId }>;
}

interface LastCommit {
  readonly at: number;
  readonly revision: number;
  readonly writer: NodeId;
  readonly term: Term;
  readonly state: ClusterState;
}

/** Every kind a history may hold; a record, so a kind added to `HistoryEntry` cannot be left out. */
const KINDS: Record<HistoryKind, true> = {
  event: true,
  view: true,
  commit: true,
  lease: true,
  release: true,
  acquire: true,
  handoff: true,
  process: true,
  hearing: true,
  audit: true,
  membership: true,
  fault: true,
  quiet: true,
  tick: true,
};
const ALL_KINDS = Object.keys(KINDS) as HistoryKind[];

/** Topology commits at one instant of time that mean the cluster loops without time passing. */
export const LIVELOCK_COMMITS = 500;

/** Creates an online checker. */
export function createChecker(config: CheckerConfig): Checker {
  return new InvariantChecker(config);
}

/** A stretch of time; `to: null` while it lasts. */
interface Span {
  readonly from: number;
  readonly to: number | null;
}

/**
 * Opens or closes the last span of `spans` as a condition starts or stops holding at `at`. A span that
 * ends at the instant it began held for no time and is dropped: a process replaced by a new one in the
 * same instant (a restart while the old one still leaves) left its id no moment without a process.
 */
function track(spans: Span[], was: boolean, is: boolean, at: number): void {
  if (!was && is) spans.push({ from: at, to: null });
  if (was && !is) {
    const open = spans.at(-1);
    if (open === undefined || open.to !== null) return;
    if (open.from === at) spans.pop();
    else spans[spans.length - 1] = { from: open.from, to: at };
  }
}

class InvariantChecker implements Checker {
  readonly judged: readonly CheckedInvariant[];
  readonly notObservable: readonly CheckedInvariant[];
  readonly #judged: ReadonlySet<CheckedInvariant>;
  readonly #window: number;
  readonly #bound: number;
  readonly #keep: number;
  readonly #shardCount: number;
  readonly #violations: Violation[] = [];
  readonly #counts: Partial<Record<CheckedInvariant, number>> = {};
  readonly #reported = new Set<string>();
  #now = Number.NEGATIVE_INFINITY;
  #entries = 0;

  // events
  readonly #seenEvents = new Set<string>();
  #events = 0;
  #elections = 0;
  #rebalances = 0;
  #moves = 0;
  #releases = 0;
  // term → who leads it, and where we learned it
  readonly #leaderOf = new Map<Term, { nodeId: NodeId; source: string; at: number }>();
  #maxElected = 0;
  #lastElectionAt = Number.NEGATIVE_INFINITY;
  readonly #open = new Map<string, OpenRebalance>();
  #lastTrigger: { epoch: number; term: Term; skipped: boolean } | null = null;
  #membershipSinceTrigger = false;

  // commits (the store's truth)
  #instant = Number.NaN;
  #commitsAtInstant = 0;
  #commit: LastCommit | null = null;
  #commits = 0;
  readonly #versionTerm = new Map<number, Term>();
  #maxCommittedTerm = 0;
  #maxCommittedTermAt = Number.NEGATIVE_INFINITY;
  readonly #checkedVersions = new Set<string>();

  // shards
  /** Ownerless shards (after bootstrap) → since when. */
  readonly #unowned = new Map<ShardId, number>();
  /** Shards orphaned by a NodeFailed/NodeLeft event → when. */
  readonly #orphanedAt = new Map<ShardId, number>();
  /** Last release of each shard: by whom, when. */
  readonly #released = new Map<ShardId, { nodeId: NodeId; at: number }>();
  /** Releases undone by the old owner serving the shard again (its `onAcquire` ran). */
  readonly #undone = new Map<ShardId, { nodeId: NodeId; releasedAt: number; at: number }>();
  /** When each shard last reached its owner (commit time). */
  readonly #acquiredAt = new Map<ShardId, number>();

  // observers and processes
  readonly #views = new Map<NodeId, ViewSnapshot & { at: number }>();
  readonly #running = new Set<NodeId>();
  readonly #everRunning = new Set<NodeId>();

  // hearing: per node, the stretches during which it could not hear (end null: still deaf)
  readonly #failureTimeout: number;
  readonly #deaf = new Map<
    NodeId,
    { up: boolean; cuts: number; pauses: number; deaf: Span[]; paused: Span[] }
  >();
  #pendingFailure: { e: DomainEvent & { type: 'NodeFailed' }; at: number } | null = null;

  // serving: per node whose process the history reports, what it serves and when it was last a member
  readonly #fenceAfter: number;
  #confirmationsReported = false;
  readonly #serving = new Map<NodeId, { shards: Set<ShardId>; confirmed: number; resumed: number }>();

  // liveness
  #quietSince: number | null = null;
  #lastConvergedEval = Number.NEGATIVE_INFINITY;
  #convergences = 0;
  #slowest = 0;
  /** Writer of the first topology committed in each term: the node that led it. */
  readonly #termWriters = new Map<Term, NodeId>();
  readonly #audit = new AuditTrailCheck();
  #auditRead = false;
  /** Since when no fault happened (unlike `#quietSince`, not cleared once convergence is seen). */
  #healedSince: number | null = null;
  /** Delivered events whose term no commit has shown yet, by id. */
  readonly #unvouched = new Map<string, { readonly event: DomainEvent; readonly at: number }>();

  constructor(config: CheckerConfig) {
    this.#shardCount = config.shardCount;
    this.#window = config.recoveryWindowMs ?? defaultRecoveryWindowMs(config.timing);
    this.#bound = config.convergenceBoundMs ?? defaultConvergenceBoundMs(config.timing, config.shardCount);
    this.#keep = config.keepPerInvariant ?? 20;
    this.#failureTimeout = config.timing.failureTimeoutMs;
    this.#fenceAfter = fenceAfterMs(config.timing);
    const o = observability(config.historyKinds ?? ALL_KINDS);
    this.judged = o.judged;
    this.notObservable = o.notObservable;
    this.#judged = new Set(o.judged);
  }

  get violations(): readonly Violation[] {
    return this.#violations;
  }

  stats(): CheckerStats {
    return {
      entries: this.#entries,
      events: this.#events,
      elections: this.#elections,
      rebalances: this.#rebalances,
      moves: this.#moves,
      commits: this.#commits,
      releases: this.#releases,
      convergences: this.#convergences,
      slowestConvergenceMs: this.#slowest,
      violations: { ...this.#counts },
    };
  }

  observe(entry: HistoryEntry): void {
    this.#entries++;
    if (entry.at > this.#now) this.#now = entry.at;
    // What was served until this entry was served until its time.
    this.#judgeServing(this.#now);
    switch (entry.kind) {
      case 'event':
        this.#audit.delivered(entry.event, entry.at);
        this.#onEvent(entry.event, entry.at);
        break;
      case 'audit':
        this.#auditRead = true;
        for (const m of entry.messages) {
          for (const f of this.#audit.stored(m.seq, m.event, entry.at)) {
            this.#report('audit-trail', f.at, f.message, [...f.evidence], f.key);
          }
        }
        break;
      case 'view':
        this.#onView(entry.observer, entry.view, entry.at);
        break;
      case 'commit':
        this.#onCommit(entry);
        break;
      case 'lease':
        // A lease written by a client that never ran as a node (a forger) elects nobody: counted as an
        // election, its huge term would hide every real election after it from the recovery window.
        if (entry.holder !== null && this.#everRunning.has(entry.holder))
          this.#elect(entry.term, entry.holder, 'lease', entry.at);
        break;
      case 'release':
        this.#releases++;
        for (const s of entry.shards) {
          // Only the owner's release frees a shard to move: a node acting on a stale map (resuming from
          // a pause, fencing) lets go of shards that are no longer its own, which says nothing of the
          // owner's (seed 688).
          const owner = this.#commit?.state.shardMap.owners[s];
          if (owner !== undefined && owner !== entry.nodeId) continue;
          this.#released.set(s, { nodeId: entry.nodeId, at: entry.at });
          // A release after taking a shard back ends that serving too (seed 688: fenced, unfenced, then
          // handed off).
          if (this.#undone.get(s)?.nodeId === entry.nodeId) this.#undone.delete(s);
        }
        for (const s of entry.shards) this.#serving.get(entry.nodeId)?.shards.delete(s);
        break;
      case 'acquire':
        for (const s of entry.shards) this.#serving.get(entry.nodeId)?.shards.add(s);
        // Serving a shard again ends its release (an abandoned hand-off was undone).
        for (const s of entry.shards) {
          const r = this.#released.get(s);
          if (r?.nodeId !== entry.nodeId) continue;
          this.#released.delete(s);
          this.#undone.set(s, { nodeId: entry.nodeId, releasedAt: r.at, at: entry.at });
        }
        break;
      case 'handoff':
        this.#onHandoff(entry);
        break;
      case 'hearing': {
        this.#hearing(entry.nodeId, entry.able, entry.at, entry.why);
        const serving = this.#serving.get(entry.nodeId);
        if (serving && entry.why === 'paused' && entry.able && !this.#paused(entry.nodeId))
          serving.resumed = entry.at;
        break;
      }
      case 'membership': {
        this.#confirmationsReported = true;
        const serving = this.#serving.get(entry.nodeId);
        if (serving) serving.confirmed = Math.max(serving.confirmed, entry.since);
        break;
      }
      case 'process':
        // A new process serves nothing yet, and has just been in contact with the store.
        if (entry.up)
          this.#serving.set(entry.nodeId, { shards: new Set(), confirmed: entry.at, resumed: entry.at });
        else this.#serving.delete(entry.nodeId);
        // A process that is not up hears nothing; a new one starts able to hear.
        this.#hearing(entry.nodeId, entry.up, entry.at, 'process');
        if (entry.up) {
          this.#running.add(entry.nodeId);
          this.#everRunning.add(entry.nodeId);
        } else this.#running.delete(entry.nodeId);
        // A new process starts from nothing: its view may legitimately begin again at version 0.
        this.#views.delete(entry.nodeId);
        break;
      case 'fault':
        this.#quietSince = null;
        this.#healedSince = null;
        break;
      case 'quiet':
        if (this.#quietSince === null) this.#quietSince = entry.at;
        if (this.#healedSince === null) this.#healedSince = entry.at;
        break;
      case 'tick':
        break;
    }
    this.#judgeDeadlines(this.#now);
  }

  finish(at?: number): readonly Violation[] {
    const end = at ?? this.#now;
    this.#failureSeen(null, end);
    this.#judgeDeadlines(end, true);
    if (this.#auditRead && this.#healedSince !== null && end - this.#healedSince >= this.#bound) {
      for (const f of this.#audit.missing(end - this.#window, end)) {
        this.#report('audit-trail', f.at, f.message, [...f.evidence], f.key);
      }
    }
    // A history that records no commit at all cannot say who led a term.
    for (const [id, p] of this.#termWriters.size > 0 ? this.#unvouched : []) {
      this.#report(
        'events-from-leader',
        p.at,
        `${p.event.type} ${id} from ${p.event.origin} in term ${p.event.term} was delivered, but no topology of that term was ever written`,
        [compactEvent(p.event)],
        id,
      );
    }
    return this.#violations;
  }

  /** Checks a delivered event against the writer of its term's topology, or holds it until one is known. */
  #vouch(e: DomainEvent, at: number): void {
    if (e.type === 'LeadershipRenewed' || e.type === 'LeadershipLost') return;
    const writer = this.#termWriters.get(e.term);
    if (writer === undefined) this.#unvouched.set(e.id, { event: e, at });
    else if (writer !== e.origin) this.#notFromLeader(e, writer, at);
  }

  #notFromLeader(e: DomainEvent, writer: NodeId, at: number): void {
    this.#report(
      'events-from-leader',
      at,
      `${e.type} ${e.id} from ${e.origin} in term ${e.term} was delivered, but ${writer} wrote that term's topology`,
      [compactEvent(e)],
      e.id,
    );
  }

  converged(): boolean {
    return this.#convergence().ok;
  }

  // ---- reporting ---------------------------------------------------------------------------------

  #report(invariant: CheckedInvariant, at: number, message: string, evidence: unknown[], key?: string): void {
    if (!this.#judged.has(invariant)) return;
    if (key !== undefined) {
      const k = `${invariant}|${key}`;
      if (this.#reported.has(k)) return;
      this.#reported.add(k);
    }
    const n = (this.#counts[invariant] ?? 0) + 1;
    this.#counts[invariant] = n;
    if (n <= this.#keep) this.#violations.push({ invariant, at, message, evidence });
  }

  // ---- elections and terms -------------------------------------------------------------------------

  #elect(term: Term, nodeId: NodeId, source: string, at: number): void {
    const known = this.#leaderOf.get(term);
    if (known && known.nodeId !== nodeId) {
      this.#report(
        'single-leader-per-term',
        at,
        `term ${term} has two leaders: ${known.nodeId} (${known.source} at ${known.at}) and ${nodeId} (${source} at ${at})`,
        [known, { term, nodeId, source, at }],
        `${term}`,
      );
      return;
    }
    if (!known) {
      this.#leaderOf.set(term, { nodeId, source, at });
      if (term > this.#maxElected) {
        this.#maxElected = term;
        this.#lastElectionAt = at;
      }
    }
  }

  // ---- events -----------------------------------------------------------------------------------------

  /**
   * A node's process started or stopped (`process`), or a cut or a pause began or ended (`hearing`).
   * Spans of two kinds are kept: deaf (not up, or cut off: what was sent meanwhile is lost to it) and
   * paused (what was sent waits in its inbox). Before its first start a node could not hear; a node
   * the history says nothing about is not judged.
   */
  #hearing(nodeId: NodeId, able: boolean, at: number, why: 'process' | 'cut' | 'paused'): void {
    let d = this.#deaf.get(nodeId);
    if (d === undefined) {
      const started = why === 'process' && able;
      d = { up: true, cuts: 0, pauses: 0, deaf: [], paused: [] };
      if (started) d.deaf.push({ from: Number.NEGATIVE_INFINITY, to: at });
      this.#deaf.set(nodeId, d);
    }
    const wasDeaf = !d.up || d.cuts > 0;
    const wasPaused = d.pauses > 0;
    if (why === 'process') {
      d.up = able;
      // A new process carries no pause or cut of the old one.
      d.cuts = 0;
      d.pauses = 0;
    } else if (why === 'cut') d.cuts = Math.max(0, d.cuts + (able ? -1 : 1));
    else d.pauses = Math.max(0, d.pauses + (able ? -1 : 1));
    track(d.deaf, wasDeaf, !d.up || d.cuts > 0, at);
    track(d.paused, wasPaused, d.pauses > 0, at);
    // Only the last failure timeout matters (events are observed within moments of their decision).
    const horizon = at - 4 * this.#failureTimeout;
    d.deaf = d.deaf.filter((x) => x.to === null || x.to > horizon);
    d.paused = d.paused.filter((x) => x.to === null || x.to > horizon);
  }

  #paused(nodeId: NodeId): boolean {
    return (this.#deaf.get(nodeId)?.pauses ?? 0) > 0;
  }

  /**
   * Whether any node served past its fence window, up to `now`: its last membership confirmation plus
   * the window, or the instant it resumed from a pause that outlasted the window (its fence timer
   * fires then, before it can do anything else).
   */
  #judgeServing(now: number): void {
    if (!this.#confirmationsReported) return;
    for (const [id, r] of this.#serving) {
      if (r.shards.size === 0 || this.#paused(id)) continue;
      const until = r.confirmed + this.#fenceAfter;
      if (now <= Math.max(until, r.resumed)) continue;
      const shards = [...r.shards].sort((a, b) => a - b);
      const late =
        now > r.confirmed + this.#failureTimeout
          ? `; past the failure timeout (${this.#failureTimeout} ms) the leader may already have reassigned them`
          : '';
      this.#report(
        'serving-without-membership',
        now,
        `${id} served ${shards.length} shard(s), e.g. ${shards[0]}, at ${now}, but its membership was last confirmed at ${r.confirmed}: its ${this.#fenceAfter} ms fence window ended at ${until}${late}`,
        [{ nodeId: id, confirmed: r.confirmed, resumed: r.resumed, shards: shards.slice(0, 16) }],
        `${id}@${r.confirmed}`,
      );
    }
  }

  /**
   * A NodeFailed is judged once the next event shows it was not the first half of a rejoin (a newer
   * incarnation admitted in the same decision fails the old one: evidence, not silence).
   */
  #failureSeen(e: DomainEvent | null, at: number): void {
    const pending = this.#pendingFailure;
    if (pending !== null) {
      this.#pendingFailure = null;
      const rejoin = e?.type === 'NodeJoined' && e.nodeId === pending.e.nodeId && e.at === pending.e.at;
      if (!rejoin) this.#judgedBlind(pending.e, pending.at);
    }
    if (e?.type === 'NodeFailed') this.#pendingFailure = { e, at };
  }

  #judgedBlind(e: DomainEvent & { type: 'NodeFailed' }, at: number): void {
    if (e.nodeId === e.origin) {
      this.#report('failure-judged-blind', at, `${e.origin} judged itself failed`, [e], e.id);
      return;
    }
    const d = this.#deaf.get(e.origin);
    if (d === undefined) return;
    const from = e.at - this.#failureTimeout;
    const deaf = d.deaf.find((s) => s.from <= e.at && (s.to === null || s.to > from));
    const paused = d.paused.find((s) => s.from <= e.at && (s.to === null || s.to > e.at));
    const blind = deaf ?? paused;
    if (blind === undefined) return;
    const how = deaf ? 'could not hear' : 'was paused';
    this.#report(
      'failure-judged-blind',
      at,
      `${e.origin} judged ${e.nodeId} failed at ${e.at} although it ${how} from ${blind.from} to ${blind.to ?? 'then'} (failure timeout ${this.#failureTimeout} ms)`,
      [e, blind],
      e.id,
    );
  }

  #onEvent(e: DomainEvent, at: number): void {
    if (this.#seenEvents.has(e.id)) return;
    this.#seenEvents.add(e.id);
    this.#events++;
    this.#vouch(e, at);
    this.#failureSeen(e, at);
    switch (e.type) {
      case 'LeaderElected': {
        this.#elections++;
        const before = this.#maxElectedByEvent;
        if (e.term <= before) {
          this.#report(
            'terms-increase',
            at,
            `${e.nodeId} was elected for term ${e.term} after term ${before} had been elected`,
            [compactEvent(e)],
            `elected-${e.term}`,
          );
        }
        this.#maxElectedByEvent = Math.max(before, e.term);
        this.#elect(e.term, e.nodeId, 'LeaderElected', at);
        break;
      }
      case 'LeadershipRenewed': {
        const leader = this.#leaderOf.get(e.term);
        if (leader && leader.nodeId !== e.nodeId) {
          this.#report(
            'single-leader-per-term',
            at,
            `${e.nodeId} renewed leadership of term ${e.term}, which ${leader.nodeId} won`,
            [leader, compactEvent(e)],
            `renew-${e.term}-${e.nodeId}`,
          );
        }
        break;
      }
      case 'NodeJoined':
      case 'NodeDraining':
        this.#membershipSinceTrigger = true;
        break;
      case 'NodeFailed':
      case 'NodeLeft':
        this.#membershipSinceTrigger = true;
        for (const s of e.orphaned) if (!this.#orphanedAt.has(s)) this.#orphanedAt.set(s, at);
        break;
      case 'RebalancingTriggered': {
        this.#rebalances++;
        const prev = this.#lastTrigger;
        const caused =
          prev === null ||
          e.epoch > prev.epoch ||
          e.term > prev.term ||
          prev.skipped ||
          this.#membershipSinceTrigger ||
          e.reason === 'bootstrap';
        if (!caused) {
          this.#report(
            'moves-only-on-topology-change',
            at,
            `rebalance ${e.rebalanceId} (${e.reason}) started in term ${e.term} at epoch ${e.epoch} with no membership change or new leader since the last one (epoch ${prev?.epoch}, term ${prev?.term})`,
            [compactEvent(e)],
            e.rebalanceId,
          );
        }
        this.#lastTrigger = { epoch: e.epoch, term: e.term, skipped: false };
        this.#membershipSinceTrigger = false;
        const plan = new Map<ShardId, { from: NodeId | null; to: NodeId }>();
        for (const m of e.plan) plan.set(m.shardId, { from: m.from, to: m.to });
        this.#open.set(e.rebalanceId, { id: e.rebalanceId, plan });
        break;
      }
      case 'ShardAssigned':
      case 'ShardMigrated': {
        this.#moves++;
        if (e.shardId < 0 || e.shardId >= this.#shardCount || !Number.isInteger(e.shardId)) {
          this.#report('event-fits-state', at, `shard ${e.shardId} is out of range`, [compactEvent(e)], e.id);
          break;
        }
        // With the store's commits at hand, the commit diff judges moves; events judge them otherwise.
        if (this.#commits > 0) break;
        const to = e.type === 'ShardAssigned' ? e.nodeId : e.to;
        const from = e.type === 'ShardAssigned' ? null : e.from;
        const planned = [...this.#open.values()].some((r) => {
          const m = r.plan.get(e.shardId);
          return m !== undefined && m.to === to && (from === null || m.from === from);
        });
        if (!planned) {
          this.#report(
            'moves-only-on-topology-change',
            at,
            `shard ${e.shardId} went to ${to}${from ? ` from ${from}` : ''} outside any rebalance plan`,
            [compactEvent(e)],
            e.id,
          );
        }
        if (e.type === 'ShardMigrated')
          this.#requireRelease(e.shardId, e.from, e.to, at, () => [compactEvent(e)]);
        break;
      }
      case 'NodeRemoved':
        // Compaction of a departed record: no membership change, so it allows no rebalance.
        break;
      case 'RebalancingCompleted':
        this.#open.delete(e.rebalanceId);
        if (this.#lastTrigger && e.skipped > 0) this.#lastTrigger = { ...this.#lastTrigger, skipped: true };
        break;
      case 'LeadershipLost':
        break;
    }
  }

  #maxElectedByEvent = 0;

  #requireRelease(shard: ShardId, from: NodeId, to: NodeId, at: number, evidence: () => unknown[]): void {
    const r = this.#released.get(shard);
    const since = this.#acquiredAt.get(shard) ?? Number.NEGATIVE_INFINITY;
    if (!r || r.nodeId !== from || r.at > at || r.at < since) {
      const u = this.#undone.get(shard);
      const undone = u && u.nodeId === from && u.at <= at && u.releasedAt >= since ? u : null;
      this.#report(
        'release-before-acquire',
        at,
        undone
          ? `shard ${shard} reached ${to} while ${from} served it: ${from} released it at ${undone.releasedAt} but took it back at ${undone.at}`
          : `shard ${shard} reached ${to} before ${from} released it (last release: ${
              r ? `by ${r.nodeId} at ${r.at}` : 'none'
            })`,
        [
          ...evidence(),
          { lastRelease: r ?? null, undone, acquiredByOldOwnerAt: Number.isFinite(since) ? since : null },
        ],
        `${shard}-${from}-${to}-${Number.isFinite(since) ? since : 0}`,
      );
    }
  }

  // ---- views ---------------------------------------------------------------------------------------

  #onView(observer: NodeId, v: ViewSnapshot, at: number): void {
    const prev = this.#views.get(observer);
    this.#views.set(observer, { ...v, at });
    if (prev) {
      if (v.version < prev.version) {
        this.#report(
          'versions-increase',
          at,
          `${observer} went back from shard-map version ${prev.version} to ${v.version}`,
          [{ observer, before: compactView(prev), after: compactView(v), at }],
          `${observer}-${prev.version}-${v.version}`,
        );
      }
      if (v.highestTerm < prev.highestTerm) {
        this.#report(
          'terms-increase',
          at,
          `${observer} went back from term ${prev.highestTerm} to ${v.highestTerm}`,
          [{ observer, before: compactView(prev), after: compactView(v), at }],
          `${observer}-${prev.highestTerm}-${v.highestTerm}`,
        );
      }
    }
    const written = this.#versionTerm.get(v.version);
    if (written !== undefined && v.version > 0 && written !== v.term) {
      this.#report(
        'versions-increase',
        at,
        `${observer} holds version ${v.version} with shard-map term ${v.term}, but the store's version ${v.version} has term ${written}`,
        [{ observer, view: compactView(v), at }],
        `${observer}-${v.version}-${v.term}`,
      );
    }
    if (v.state) this.#checkState(v.state, at, `view of ${observer}`);
  }

  // ---- commits --------------------------------------------------------------------------------------

  #onCommit(c: Extract<HistoryEntry, { kind: 'commit' }>): void {
    if (!this.#termWriters.has(c.term)) {
      this.#termWriters.set(c.term, c.writer);
      for (const [id, p] of this.#unvouched) {
        if (p.event.term !== c.term) continue;
        this.#unvouched.delete(id);
        if (p.event.origin !== c.writer) this.#notFromLeader(p.event, c.writer, p.at);
      }
    }
    this.#commits++;
    // A cluster that keeps writing while no time passes is stuck in a loop (a livelock).
    if (c.at === this.#instant) {
      if (++this.#commitsAtInstant === LIVELOCK_COMMITS) {
        this.#report(
          'converges',
          c.at,
          `${LIVELOCK_COMMITS} topology commits at t=${c.at} without time passing: a livelock (last by ${c.writer}, term ${c.term})`,
          [compactCommit(c)],
        );
      }
    } else {
      this.#instant = c.at;
      this.#commitsAtInstant = 1;
    }
    const prev = this.#commit;
    const s = c.state;
    const at = c.at;
    const ev = () => [...(prev ? [compactCommit(prev)] : []), compactCommit(c)];
    if (prev) {
      if (c.revision <= prev.revision) {
        this.#report(
          'versions-increase',
          at,
          `store revision went back from ${prev.revision} to ${c.revision}`,
          ev(),
        );
      }
      // A write that leaves the shard map alone (an election, a heartbeat record) may keep its version;
      // a changed map under an old or equal version would let two maps share one version.
      const pv = prev.state.shardMap.version;
      if (s.shardMap.version < pv || (s.shardMap.version === pv && !sameOwners(prev.state, s))) {
        this.#report(
          'versions-increase',
          at,
          `revision ${c.revision} wrote a ${s.shardMap.version === pv ? 'different shard map under the same' : 'lower'} shard-map version ${s.shardMap.version} (previous ${pv})`,
          ev(),
        );
      }
      if (c.term < prev.term) {
        this.#report(
          'stale-term-fenced',
          at,
          `${c.writer} wrote the topology under term ${c.term} after term ${prev.term} had written it`,
          ev(),
        );
      }
    }
    // The record is stamped with the writer's term; the state names that leader, and its shard map was
    // last changed (shardMap.term) under that term or an earlier one.
    if (s.shardMap.term > c.term || (s.leader !== null && s.leader.term !== c.term)) {
      this.#report(
        'versions-increase',
        at,
        `version ${s.shardMap.version} was written under term ${c.term} but names shard-map term ${s.shardMap.term} and leader ${
          s.leader ? `${s.leader.nodeId}@${s.leader.term}` : 'none'
        }`,
        ev(),
        `term-${c.revision}`,
      );
    }
    const leader = this.#leaderOf.get(c.term);
    if (leader && leader.nodeId !== c.writer) {
      this.#report(
        'single-leader-per-term',
        at,
        `${c.writer} wrote version ${s.shardMap.version} under term ${c.term}, which ${leader.nodeId} leads`,
        [leader, compactCommit(c)],
        `writer-${c.term}-${c.writer}`,
      );
    } else if (!leader && s.leader && s.leader.term === c.term) {
      this.#elect(c.term, s.leader.nodeId, 'commit', at);
    }
    this.#versionTerm.set(s.shardMap.version, s.shardMap.term);
    if (c.term > this.#maxCommittedTerm) {
      this.#maxCommittedTerm = c.term;
      this.#maxCommittedTermAt = at;
    }
    this.#checkState(s, at, `commit ${c.revision}`);
    if (prev && !c.afterGap) this.#diff(prev, c);
    else {
      s.shardMap.owners.forEach((o, shard) => {
        if (o !== null) {
          this.#acquiredAt.set(shard, at);
          this.#unowned.delete(shard);
        } else if (s.bootstrapped) this.#markUnowned(shard, at);
      });
    }
    this.#commit = { at, revision: c.revision, writer: c.writer, term: c.term, state: s };
  }

  /** Owner changes between two consecutive commits: each must be an orphaning, a recovery or a planned hand-off. */
  #diff(prev: LastCommit, c: Extract<HistoryEntry, { kind: 'commit' }>): void {
    const a = prev.state;
    const b = c.state;
    const at = c.at;
    const changed = topologyChanged(a);
    // Gone: failed, left, or replaced by a new incarnation (a crash and rejoin decided in one commit).
    const gone = (id: NodeId) => {
      const st = b.nodes[id]?.status;
      return st === 'Failed' || st === 'Left' || b.nodes[id]?.incarnation !== a.nodes[id]?.incarnation;
    };
    const lost: { shard: ShardId; from: NodeId; status: string }[] = [];
    const toDraining: { shard: ShardId; to: NodeId }[] = [];
    const unplanned: { shard: ShardId; from: NodeId | null; to: NodeId }[] = [];
    const n = Math.min(a.shardMap.owners.length, b.shardMap.owners.length);
    for (let shard = 0; shard < n; shard++) {
      const was = a.shardMap.owners[shard] ?? null;
      const now = b.shardMap.owners[shard] ?? null;
      if (now === null) {
        if (b.bootstrapped) this.#markUnowned(shard, at);
      } else this.#unowned.delete(shard);
      if (was === now) continue;
      if (now === null) {
        if (!gone(was!)) lost.push({ shard, from: was!, status: b.nodes[was!]?.status ?? 'unknown' });
        this.#released.delete(shard);
        continue;
      }
      this.#orphanedAt.delete(shard);
      if (b.nodes[now]?.status === 'Draining') toDraining.push({ shard, to: now });
      if (was === null) {
        if (!changed && a.bootstrapped) unplanned.push({ shard, from: null, to: now });
      } else if (!gone(was)) {
        const planned = a.rebalance?.remaining.find((m) => m.shardId === shard);
        if (!planned || planned.from !== was || planned.to !== now)
          unplanned.push({ shard, from: was, to: now });
        this.#requireRelease(shard, was, now, at, () => [compactCommit(c), { shard, from: was, to: now }]);
      }
      this.#released.delete(shard);
      this.#acquiredAt.set(shard, at);
    }
    const ev = (items: unknown[]) => [compactCommit(prev), compactCommit(c), items.slice(0, 16)];
    const v = b.shardMap.version;
    // Only a departed record may leave the topology (compaction); a member that vanishes was lost.
    const vanished = Object.values(a.nodes).filter(
      (n) => b.nodes[n.id] === undefined && n.status !== 'Left' && n.status !== 'Failed',
    );
    if (vanished.length > 0) {
      const f = vanished[0]!;
      this.#report(
        'event-fits-state',
        at,
        `${vanished.length} member record(s) vanished from the topology in version ${v} without departing, e.g. ${f.id} (${f.status}#${f.incarnation})`,
        ev(vanished.map((n) => ({ id: n.id, status: n.status, incarnation: n.incarnation }))),
      );
    }
    if (lost.length > 0) {
      const f = lost[0]!;
      this.#report(
        'moves-only-on-topology-change',
        at,
        `${lost.length} shard(s) lost their owner in version ${v} though it neither failed nor left, e.g. shard ${f.shard} of ${f.from} (${f.status})`,
        ev(lost),
      );
    }
    if (toDraining.length > 0) {
      const f = toDraining[0]!;
      this.#report(
        'shards-on-active-nodes',
        at,
        `${toDraining.length} shard(s) went to a Draining node in version ${v}, e.g. shard ${f.shard} to ${f.to}`,
        ev(toDraining),
      );
    }
    if (unplanned.length > 0) {
      const f = unplanned[0]!;
      this.#report(
        'moves-only-on-topology-change',
        at,
        `${unplanned.length} shard(s) changed owner in version ${v} outside ${
          a.rebalance ? `the plan of rebalance ${a.rebalance.rebalanceId}` : 'any rebalance'
        }, e.g. shard ${f.shard} ${f.from ?? 'unowned'} → ${f.to}`,
        ev(unplanned),
      );
    }
  }

  /** Structural checks of one committed state, once per (version, term). */
  #checkState(s: ClusterState, at: number, where: string): void {
    const key = `${s.shardMap.version}@${s.shardMap.term}`;
    if (this.#checkedVersions.has(key)) return;
    this.#checkedVersions.add(key);
    for (const v of checkInvariants(s)) {
      const invariant: CheckedInvariant =
        v.invariant === 'assignments-change-only-on-topology-change'
          ? 'moves-only-on-topology-change'
          : v.invariant === 'event-fits-state'
            ? 'event-fits-state'
            : v.invariant;
      this.#report(invariant, at, `${where} (version ${s.shardMap.version}): ${v.message}`, [v.evidence]);
    }
    if (s.shardMap.owners.length !== this.#shardCount) {
      this.#report(
        'event-fits-state',
        at,
        `${where} has ${s.shardMap.owners.length} shards, the cluster ${this.#shardCount}`,
        [summarize(s)],
        `count-${key}`,
      );
    }
  }

  // ---- hand-offs -------------------------------------------------------------------------------------

  #onHandoff(h: Extract<HistoryEntry, { kind: 'handoff' }>): void {
    if (h.released.length === 0) return;
    if (h.term < this.#maxCommittedTerm && this.#maxCommittedTermAt < h.at) {
      this.#report(
        'stale-term-fenced',
        h.at,
        `${h.from} released ${h.released.length} shard(s) for ${h.leader} of term ${h.term}, after term ${this.#maxCommittedTerm} had written the topology (at ${this.#maxCommittedTermAt})`,
        [
          { ...h, released: h.released.slice(0, 16) },
          { term: this.#maxCommittedTerm, at: this.#maxCommittedTermAt },
        ],
        `${h.from}-${h.term}-${h.at}`,
      );
    }
  }

  // ---- deadlines -------------------------------------------------------------------------------------

  #judgeDeadlines(now: number, final = false): void {
    this.#judgeOrphans(now);
    this.#judgeLiveness(now, final);
  }

  #nextOrphanCheck = Number.NEGATIVE_INFINITY;

  #markUnowned(shard: ShardId, at: number): void {
    if (this.#unowned.has(shard)) return;
    this.#unowned.set(shard, at);
    this.#nextOrphanCheck = Number.NEGATIVE_INFINITY;
  }

  #judgeOrphans(now: number): void {
    if (this.#unowned.size === 0 || now < this.#nextOrphanCheck) return;
    let next = Number.POSITIVE_INFINITY;
    const late: { shard: ShardId; since: number }[] = [];
    for (const [shard, since0] of this.#unowned) {
      const since = Math.max(since0, this.#orphanedAt.get(shard) ?? since0, this.#lastElectionAt);
      const due = since + this.#window;
      if (now > due) late.push({ shard, since: since0 });
      else next = Math.min(next, due);
    }
    this.#nextOrphanCheck = next;
    if (late.length === 0) return;
    for (const l of late) this.#unowned.delete(l.shard);
    this.#report(
      'all-shards-owned',
      now,
      `${late.length} shard(s) stayed ownerless longer than the ${this.#window} ms recovery window, e.g. shard ${late[0]!.shard} since ${late[0]!.since}`,
      [late.slice(0, 16), this.#commit ? compactCommit(this.#commit) : null],
    );
  }

  #judgeLiveness(now: number, final: boolean): void {
    const since = this.#quietSince;
    if (since === null) return;
    // Judged at most once per instant: cheap enough at 100 nodes, and convergence is an instant's property.
    if (now === this.#lastConvergedEval && !final) return;
    this.#lastConvergedEval = now;
    const c = this.#convergence();
    if (c.ok) {
      this.#convergences++;
      this.#slowest = Math.max(this.#slowest, now - since);
      this.#quietSince = null;
      return;
    }
    if (now > since + this.#bound) {
      this.#report(
        c.invariant,
        now,
        `no convergence within ${this.#bound} ms of faults healing at ${since}: ${c.why}`,
        c.evidence,
      );
      this.#quietSince = null;
    }
  }

  #convergence():
    | { ok: true }
    | { ok: false; invariant: CheckedInvariant; why: string; evidence: unknown[] } {
    const not = (why: string, evidence: unknown[] = [], invariant: CheckedInvariant = 'converges') =>
      ({ ok: false, invariant, why, evidence }) as const;
    const running = [...this.#running];
    if (running.length === 0) return { ok: true };
    const leaders = running.filter((id) => this.#views.get(id)?.isLeader);
    if (leaders.length !== 1)
      return not(`${leaders.length} running nodes act as leader (${leaders.join(', ')})`);
    const leader = leaders[0]!;
    const commit = this.#commit;
    const lv = this.#views.get(leader)!;
    const version = commit?.state.shardMap.version ?? lv.version;
    const behind: string[] = [];
    for (const id of running) {
      const v = this.#views.get(id);
      if (!v || v.version !== version || v.leader?.nodeId !== leader) {
        behind.push(`${id}@${v ? `${v.version}/${v.leader?.nodeId ?? '-'}` : 'no view'}`);
      }
    }
    if (behind.length > 0) {
      return not(
        `${behind.length} running node(s) not on version ${version} under ${leader}: ${behind.slice(0, 8).join(', ')}`,
      );
    }
    if (commit) {
      const s = commit.state;
      if (s.leader?.nodeId !== leader)
        return not(`the store names ${s.leader?.nodeId ?? 'no'} leader, not ${leader}`);
      const wrong: string[] = [];
      for (const id of running) {
        const st = s.nodes[id]?.status;
        if (st !== 'Active') wrong.push(`${id} running but ${st ?? 'unknown'}`);
      }
      for (const n of Object.values(s.nodes)) {
        if (!this.#running.has(n.id) && n.status !== 'Failed' && n.status !== 'Left') {
          wrong.push(`${n.id} gone but ${n.status}`);
        }
      }
      if (wrong.length > 0)
        return not(`membership not settled: ${wrong.slice(0, 8).join(', ')}`, [compactCommit(commit)]);
      if (s.orphaned.length > 0 || s.rebalance !== null) {
        return not(
          `${s.orphaned.length} orphaned shard(s), rebalance ${s.rebalance?.rebalanceId ?? 'none'} in progress`,
          [compactCommit(commit)],
        );
      }
      const stuck: { shard: ShardId; owner: NodeId; releasedAt: number }[] = [];
      for (const [shard, r] of this.#released) {
        if (s.shardMap.owners[shard] === r.nodeId) stuck.push({ shard, owner: r.nodeId, releasedAt: r.at });
      }
      if (stuck.length > 0) {
        return not(
          `${stuck.length} shard(s) released by their owner but never moved, e.g. shard ${stuck[0]!.shard} on ${stuck[0]!.owner} since ${stuck[0]!.releasedAt}`,
          [stuck.slice(0, 16), compactCommit(commit)],
          'released-shards-move',
        );
      }
    }
    return { ok: true };
  }
}

function sameOwners(a: ClusterState, b: ClusterState): boolean {
  const x = a.shardMap.owners;
  const y = b.shardMap.owners;
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Whether a state allows a rebalance to assign or move shards: membership changed, or shards await owners. */
function topologyChanged(s: ClusterState): boolean {
  if (s.rebalance !== null || s.epoch > s.balancedEpoch || s.orphaned.length > 0 || !s.bootstrapped)
    return true;
  return s.shardMap.owners.some((o) => o === null);
}

function compactEvent(e: DomainEvent): unknown {
  if (e.type === 'RebalancingTriggered') return { ...e, plan: `${e.plan.length} move(s)` };
  if (e.type === 'NodeFailed' || e.type === 'NodeLeft') return { ...e, orphaned: e.orphaned.length };
  return e;
}

function compactView(v: ViewSnapshot): unknown {
  return {
    version: v.version,
    term: v.term,
    leader: v.leader,
    highestTerm: v.highestTerm,
    isLeader: v.isLeader,
  };
}

function compactCommit(c: {
  at: number;
  revision: number;
  writer: NodeId;
  term: Term;
  state: ClusterState;
}): unknown {
  return {
    kind: 'commit',
    at: c.at,
    revision: c.revision,
    writer: c.writer,
    term: c.term,
    state: summarize(c.state),
  };
}
