/**
 * The deterministic simulator: N real nodes under one simulated clock, a fault schedule drawn from a
 * seed, and the invariant checker running online. A run is a pure function of its options: the
 * same seed gives the same event log, so a failing seed replays exactly, and its schedule can be
 * shrunk to a smaller one that still fails.
 */
import type { Violation } from '../checker/checker.js';
import { defaultConvergenceBoundMs } from '../checker/checker.js';
import { FAST_TIMING, resolveTiming, type TimingConfig } from '../config.js';
import { InvalidValueError } from '../domain/errors.js';
import type { NodeId } from '../domain/values.js';
import type { DEFAULT_FORGERIES, ForgeryKind } from './forger.js';
import { Rng } from './random.js';
import { type FaultCounts, SimHarness } from './sim-harness.js';

/**
 * Fault families a run may draw from. `churn` is joins and graceful leaves; `restart-overlap` starts a
 * new process of a node while the old one is still leaving, its leave arriving late; `outage` cuts
 * every node off the store at once, the leader included (a store restart); `stall` pauses the leader
 * so that it resumes just after its renew deadline; `forge` a client that is no node publishing
 * forged messages on every subject (see `forger.ts`).
 */
export type FaultKind =
  | 'crash'
  | 'pause'
  | 'isolate'
  | 'delay'
  | 'drop'
  | 'churn'
  | 'restart-overlap'
  | 'outage'
  | 'stall'
  | 'forge';
export const FAULT_KINDS: readonly FaultKind[] = [
  'crash',
  'pause',
  'isolate',
  'delay',
  'drop',
  'churn',
  'restart-overlap',
  'outage',
  'stall',
  'forge',
];
/** The fault families the first simulator drew from: the seeds of older reproductions draw from these. */
export const CLASSIC_FAULT_KINDS: readonly FaultKind[] = FAULT_KINDS.slice(0, 6);

/** One scheduled fault. `at` counts from the moment the initial cluster is up. */
export interface FaultAction {
  readonly at: number;
  readonly kind:
    | 'crash'
    | 'pause'
    | 'isolate'
    | 'delay'
    | 'drop'
    | 'join'
    | 'leave'
    | 'restart-overlap'
    | 'outage'
    | 'stall'
    | 'forge';
  /** The node faulted (forge: the live node the forged messages name). */
  readonly node: NodeId;
  /** How long the fault lasts (crash: time until the restart). */
  readonly forMs: number;
  /** delay: extra ms; drop: probability; restart-overlap: how late the old process's leave arrives. */
  readonly amount?: number;
}

export interface SimulationOptions {
  readonly nodes: number;
  readonly seed: number;
  /** Simulated time of the fault phase, after the cluster is up. */
  readonly durationMs: number;
  readonly faults: readonly FaultKind[];
  /** Mean time between fault starts. Default 5 s. */
  readonly faultEveryMs?: number;
  /** Timings over {@link SIM_TIMING}. */
  readonly timing?: Partial<TimingConfig>;
  readonly shardCount?: number;
  readonly stepMs?: number;
  /** Replay this schedule instead of drawing one from the seed (for shrinking and replays). */
  readonly schedule?: readonly FaultAction[];
  /** Checker windows over those derived from the timing. */
  readonly checker?: { readonly recoveryWindowMs?: number; readonly convergenceBoundMs?: number };
  /** Called after every step with simulated progress in [0, 1]. */
  readonly onProgress?: (done: number) => void;
  /** What the `forge` fault's client sends; default {@link DEFAULT_FORGERIES}. */
  readonly forgeries?: readonly ForgeryKind[];
}

export interface SimulationResult {
  readonly seed: number;
  readonly nodes: number;
  readonly durationMs: number;
  readonly ok: boolean;
  readonly violations: readonly Violation[];
  /** Violations per invariant, including those not kept. */
  readonly violationCounts: Readonly<Record<string, number>>;
  /** A harness error (a node that never started, …), if the run could not go on. */
  readonly error: string | null;
  readonly faults: FaultCounts;
  /** Scheduled actions applied, and skipped (target not running, too many nodes faulted). */
  readonly applied: number;
  readonly skipped: number;
  readonly elections: number;
  readonly rebalances: number;
  readonly moves: number;
  readonly commits: number;
  readonly events: number;
  readonly eventLogHash: string;
  readonly simulatedMs: number;
  readonly wallMs: number;
  readonly schedule: readonly FaultAction[];
  /** The last lines of the run's log. */
  readonly log: readonly string[];
}

/** Default timings of simulations: {@link FAST_TIMING}. */
export const SIM_TIMING: TimingConfig = FAST_TIMING;

/** Draws a fault schedule from the seed. Targets are node ids; infeasible actions are skipped at run time. */
export function generateSchedule(o: SimulationOptions): FaultAction[] {
  const rng = new Rng(o.seed).fork('schedule');
  const all = [...new Set(o.faults)];
  for (const k of all) if (!FAULT_KINDS.includes(k)) throw new InvalidValueError(`unknown fault ${k}`);
  const mean = o.faultEveryMs ?? 5_000;
  const forged = all.includes('forge') ? forgeSchedule(o, mean) : [];
  // Forgeries come from a stream of their own: a seed's other faults stay as they were without them.
  const kinds = all.filter((k) => k !== 'forge');
  if (kinds.length === 0) return forged;
  const pool: NodeId[] = Array.from({ length: o.nodes }, (_, i) => `n${i + 1}`);
  const out: FaultAction[] = [];
  let joins = 0;
  let t = 0;
  for (;;) {
    t += Math.max(1, Math.round(rng.exponential(mean)));
    if (t >= o.durationMs) break;
    const kind = rng.pick(kinds);
    const node = rng.pick(pool);
    switch (kind) {
      case 'crash':
        out.push({ at: t, kind, node, forMs: rng.int(500, 10_000) });
        break;
      case 'pause':
        out.push({ at: t, kind, node, forMs: rng.int(200, 6_000) });
        break;
      case 'isolate':
        out.push({ at: t, kind, node, forMs: rng.int(500, 8_000) });
        break;
      case 'outage':
        // Every node; `node` is only a label. From a blip to well past the failure timeout.
        out.push({ at: t, kind, node, forMs: rng.int(300, 6_000) });
        break;
      case 'stall':
        // The leader, whoever it is then; `amount` is how far past its renew deadline it resumes.
        out.push({ at: t, kind, node, forMs: 0, amount: rng.int(1, 300) });
        break;
      case 'delay':
        out.push({ at: t, kind, node, forMs: rng.int(1_000, 8_000), amount: rng.int(20, 400) });
        break;
      case 'drop':
        out.push({
          at: t,
          kind,
          node,
          forMs: rng.int(1_000, 8_000),
          amount: Math.round(rng.between(0.05, 0.5) * 100) / 100,
        });
        break;
      case 'restart-overlap':
        out.push({ at: t, kind, node, forMs: 0, amount: rng.int(50, 3_000) });
        break;
      case 'churn': {
        const low = pool.length <= Math.max(2, Math.ceil(o.nodes / 2));
        const high = pool.length >= o.nodes + 2;
        if (!high && (low || rng.chance(0.5))) {
          const id = `j${++joins}`;
          pool.push(id);
          out.push({ at: t, kind: 'join', node: id, forMs: 0 });
        } else {
          pool.splice(pool.indexOf(node), 1);
          out.push({ at: t, kind: 'leave', node, forMs: 0 });
        }
        break;
      }
    }
  }
  return [...out, ...forged].sort((a, b) => a.at - b.at);
}

/** Forging-client episodes: about one per four fault intervals, each naming one of the first nodes. */
function forgeSchedule(o: SimulationOptions, mean: number): FaultAction[] {
  const rng = new Rng(o.seed).fork('forge');
  const out: FaultAction[] = [];
  for (let t = 0; ; ) {
    t += Math.max(1, Math.round(rng.exponential(mean * 4)));
    if (t >= o.durationMs) return out;
    out.push({ at: t, kind: 'forge', node: `n${rng.int(1, o.nodes)}`, forMs: rng.int(1_000, 6_000) });
  }
}

interface Ending {
  readonly at: number;
  readonly node: NodeId;
  readonly kind: FaultAction['kind'];
}

/** Runs one simulation. Never throws for a failing run: the result says what failed. */
export async function runSimulation(o: SimulationOptions): Promise<SimulationResult> {
  const wall0 = performance.now();
  if (!Number.isInteger(o.nodes) || o.nodes < 1)
    throw new InvalidValueError(`nodes must be a positive integer, got ${o.nodes}`);
  if (!(o.durationMs >= 0)) throw new InvalidValueError(`duration must be ≥ 0, got ${o.durationMs}`);
  const timing = resolveTiming(o.timing ?? {}, SIM_TIMING);
  const schedule = o.schedule ? [...o.schedule].sort((a, b) => a.at - b.at) : generateSchedule(o);
  const h = await SimHarness.create({
    seed: o.seed,
    timing,
    ...(o.shardCount !== undefined ? { shardCount: o.shardCount } : {}),
    ...(o.stepMs !== undefined ? { stepMs: o.stepMs } : {}),
    keepEvents: false,
    ...(o.checker ? { checker: o.checker } : {}),
    ...(o.forgeries ? { forgeries: o.forgeries } : {}),
  });
  const shardCount = o.shardCount ?? 1024;
  const settleMs = defaultConvergenceBoundMs(timing, shardCount) + 4 * (o.stepMs ?? 100);
  const total = o.durationMs + settleMs;
  let applied = 0;
  let skipped = 0;
  let error: string | null = null;
  let t0 = 0;
  try {
    await h.start(Array.from({ length: o.nodes }, (_, i) => `n${i + 1}`));
    t0 = h.now();
    const maxFaulted = Math.max(1, Math.floor((o.nodes - 1) / 2));
    const faulted = new Map<NodeId, FaultAction['kind']>();
    const leaving = new Set<NodeId>();
    const endings: Ending[] = [];
    // One forging client at a time; it faults no node, so it does not count against maxFaulted.
    let forging = false;
    let i = 0;
    const progressEvery = Math.max(1, Math.floor(total / 200));
    let nextProgress = 0;
    for (;;) {
      const elapsed = h.now() - t0;
      for (const id of leaving) if (!h.running().includes(id)) leaving.delete(id);
      // Endings first: heal what is due.
      endings.sort((a, b) => a.at - b.at || (a.node < b.node ? -1 : 1));
      while (endings.length > 0 && endings[0]!.at <= elapsed) {
        const e = endings.shift()!;
        await end(h, e);
        if (e.kind === 'forge') forging = false;
        else faulted.delete(e.node);
      }
      while (i < schedule.length && schedule[i]!.at <= elapsed) {
        const a = schedule[i++]!;
        if (await apply(h, a, faulted, leaving, maxFaulted, o.nodes, forging, endings)) {
          applied++;
          if (a.kind === 'forge') {
            forging = true;
            endings.push({ at: a.at + a.forMs, node: a.node, kind: a.kind });
          } else if (
            a.forMs > 0 &&
            a.kind !== 'join' &&
            a.kind !== 'leave' &&
            a.kind !== 'restart-overlap' &&
            a.kind !== 'outage'
          ) {
            faulted.set(a.node, a.kind);
            endings.push({ at: a.at + a.forMs, node: a.node, kind: a.kind });
          }
        } else skipped++;
      }
      if (elapsed >= o.durationMs) break;
      const nextAt = Math.min(
        o.durationMs,
        schedule[i]?.at ?? Number.POSITIVE_INFINITY,
        endings.reduce((m, e) => Math.min(m, e.at), Number.POSITIVE_INFINITY),
        elapsed + 1_000,
      );
      await h.sleep(Math.max(1, nextAt - elapsed));
      if (o.onProgress && elapsed >= nextProgress) {
        nextProgress = elapsed + progressEvery;
        o.onProgress(Math.min(1, elapsed / total));
      }
    }
    // Heal everything, bring crashed nodes back, and give the cluster its convergence bound.
    for (const e of endings.splice(0)) await end(h, e);
    await h.stopForging();
    await h.healAll();
    const settleEnd = h.now() + settleMs;
    while (h.now() < settleEnd) {
      await h.sleep(Math.min(1_000, settleEnd - h.now()));
      o.onProgress?.(Math.min(1, (h.now() - t0) / total));
    }
  } catch (err) {
    error = (err as Error).message;
    h.log(`error: ${error}`);
  }
  if (error === null) await h.readAudit().catch((err: unknown) => h.log(`audit read: ${String(err)}`));
  const violations = h.checker.finish(h.now());
  const stats = h.checker.stats();
  const result: SimulationResult = {
    seed: o.seed,
    nodes: o.nodes,
    durationMs: o.durationMs,
    ok: violations.length === 0 && error === null,
    violations,
    violationCounts: stats.violations as Record<string, number>,
    error,
    faults: { ...h.faults },
    applied,
    skipped,
    elections: stats.elections,
    rebalances: stats.rebalances,
    moves: stats.moves,
    commits: stats.commits,
    events: h.eventCount,
    eventLogHash: h.eventLogHash(),
    simulatedMs: h.now() - (t0 || h.now()),
    wallMs: 0,
    schedule,
    log: h.logLines().slice(-60),
  };
  await h.close();
  return { ...result, wallMs: performance.now() - wall0 };
}

/** The key of a store outage in the map of faulted nodes: it faults every node. */
const OUTAGE = '*outage';

async function apply(
  h: SimHarness,
  a: FaultAction,
  faulted: Map<NodeId, FaultAction['kind']>,
  leaving: Set<NodeId>,
  maxFaulted: number,
  nodes: number,
  forging: boolean,
  endings: Ending[],
): Promise<boolean> {
  const running = h.running();
  if (a.kind === 'forge') {
    if (forging || !running.includes(a.node)) return false;
    await h.forge(a.node);
    return true;
  }
  if (a.kind === 'join') {
    if (running.includes(a.node)) return false;
    await h.add(a.node, { wait: false });
    return true;
  }
  if (faulted.has(OUTAGE)) return false;
  if (a.kind === 'outage') {
    // Whole-cluster: only on an otherwise undisturbed cluster, so that healing one fault ends no other.
    if (faulted.size > 0) return false;
    await h.outage();
    faulted.set(OUTAGE, 'outage');
    endings.push({ at: a.at + a.forMs, node: OUTAGE, kind: 'outage' });
    return true;
  }
  if (a.kind === 'stall') {
    const leader = h.leader();
    if (leader === null || faulted.has(leader) || leaving.has(leader) || faulted.size >= maxFaulted)
      return false;
    const stalled = await h.stallLeader(a.amount ?? 1);
    if (stalled === null) return false;
    faulted.set(stalled.nodeId, 'pause');
    endings.push({ at: a.at + stalled.forMs, node: stalled.nodeId, kind: 'pause' });
    return true;
  }
  if (!running.includes(a.node) || faulted.has(a.node) || leaving.has(a.node)) return false;
  const healthy = running.filter((id) => !faulted.has(id) && !leaving.has(id));
  if (a.kind === 'leave') {
    if (healthy.length <= Math.max(2, Math.ceil(nodes / 2))) return false;
    leaving.add(a.node);
    await h.stop(a.node, { wait: false });
    return true;
  }
  if (faulted.size >= maxFaulted || healthy.length <= 1) return false;
  switch (a.kind) {
    case 'crash':
      await h.crash(a.node);
      return true;
    case 'pause':
      await h.pause(a.node);
      return true;
    case 'isolate':
      await h.isolate(a.node);
      return true;
    case 'delay':
      await h.delay(a.node, a.amount ?? 100);
      return true;
    case 'drop':
      await h.drop(a.node, a.amount ?? 0.2);
      return true;
    case 'restart-overlap':
      await h.restartDuringLeave(a.node, a.amount ?? 1_000, { wait: false });
      return true;
  }
}

async function end(h: SimHarness, e: Ending): Promise<void> {
  switch (e.kind) {
    case 'crash':
      if (!h.running().includes(e.node)) await h.restart(e.node, { wait: false });
      return;
    case 'pause':
      await h.resume(e.node);
      return;
    case 'outage':
      await h.endOutage();
      return;
    case 'isolate':
    case 'delay':
    case 'drop':
      if (h.running().includes(e.node)) await h.heal(e.node);
      return;
    case 'forge':
      await h.stopForging();
      return;
    default:
      return;
  }
}

/**
 * Shrinks a failing run's schedule: removes chunks of actions while the run still fails with one of
 * the same invariants (or the same kind of error), halving the chunk size down to single actions.
 * Bounded by `maxRuns` replays.
 */
export async function shrinkSchedule(
  o: SimulationOptions,
  failing: SimulationResult,
  maxRuns = 40,
): Promise<{ schedule: FaultAction[]; result: SimulationResult; runs: number }> {
  const target = new Set(Object.keys(failing.violationCounts));
  const stillFails = (r: SimulationResult) =>
    !r.ok &&
    (Object.keys(r.violationCounts).some((k) => target.has(k)) ||
      (failing.error !== null && r.error !== null));
  let best = [...failing.schedule];
  let bestResult = failing;
  let runs = 0;
  let chunk = Math.max(1, Math.floor(best.length / 2));
  while (chunk >= 1 && runs < maxRuns) {
    let removed = false;
    for (let start = 0; start < best.length && runs < maxRuns; ) {
      const candidate = [...best.slice(0, start), ...best.slice(start + chunk)];
      runs++;
      const r = await runSimulation({ ...o, schedule: candidate, onProgress: undefined });
      if (stillFails(r)) {
        best = candidate;
        bestResult = r;
        removed = true;
      } else start += chunk;
    }
    if (!removed) chunk = Math.floor(chunk / 2);
  }
  return { schedule: best, result: bestResult, runs };
}
