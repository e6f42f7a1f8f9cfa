/** What a chaos run against real processes reports: its timeline, its verdict and the checker's findings. */
import type { CheckedInvariant, CheckerStats, Violation } from '../checker/checker.js';
import type { TimingConfig } from '../config.js';

/** One line of a run's timeline. */
export interface TimelineEntry {
  /** Milliseconds since the run began. */
  readonly t: number;
  readonly kind: 'fault' | 'heal' | 'election' | 'failure' | 'leave' | 'converged' | 'note';
  readonly text: string;
}

/** A run's outcome: clean, an invariant broken, or the scenario itself failed (e.g. a wait timed out). */
export type ChaosVerdict = 'ok' | 'violation' | 'failed';

export interface ChaosReport {
  readonly scenario: string;
  readonly seed: number;
  readonly mode: 'processes';
  readonly servers: number;
  readonly shardCount: number;
  readonly timing: TimingConfig;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly verdict: ChaosVerdict;
  /** The scenario's own error (a timeout, a failed assertion), if any. */
  readonly error: string | null;
  readonly violations: readonly Violation[];
  /** Invariants judged from what the run could observe. */
  readonly judged: readonly CheckedInvariant[];
  /** Invariants a real cluster's history cannot show (never reported as violated). */
  readonly notObservable: readonly CheckedInvariant[];
  readonly stats: CheckerStats;
  readonly faults: Readonly<Record<string, number>>;
  /** Each convergence after a disruption: how long after the last fault the cluster settled. */
  readonly convergences: readonly { readonly t: number; readonly afterMs: number }[];
  /** Longest stretch without a leader, and with unowned shards, in ms. */
  readonly maxLeaderlessMs: number;
  readonly maxUnownedMs: number;
  /** Topology commits the observer's watch skipped (not judged step by step). */
  readonly commitGaps: number;
  readonly timeline: readonly TimelineEntry[];
  /** The run's log (actions and notes). */
  readonly log: readonly string[];
  readonly note: string;
}

/** The report's note on what a seed replays in process mode. */
export const PROCESS_MODE_NOTE =
  "The seed fixes the scenario's own choices; the timing of a run on real processes is not reproducible.";

/** The timeline as printed lines. */
export function formatTimeline(entries: readonly TimelineEntry[]): string[] {
  return entries.map((e) => `${(e.t / 1000).toFixed(2).padStart(8)} s  ${e.kind.padEnd(9)} ${e.text}`);
}

/** A one-paragraph verdict for the terminal. */
export function formatVerdict(r: ChaosReport): string {
  const head =
    r.verdict === 'ok'
      ? 'ok'
      : r.verdict === 'violation'
        ? `VIOLATION (${[...new Set(r.violations.map((v) => v.invariant))].join(', ')})`
        : 'FAILED';
  const lines = [
    `${r.scenario} seed ${r.seed} on ${r.servers} nats-server(s): ${head} — ${(r.durationMs / 1000).toFixed(1)} s; ` +
      `${r.stats.elections} elections, ${r.stats.rebalances} rebalances, ${r.stats.commits} commits; ` +
      `longest without a leader ${r.maxLeaderlessMs} ms, with unowned shards ${r.maxUnownedMs} ms`,
  ];
  for (const v of r.violations.slice(0, 5)) lines.push(`  ${v.invariant} at +${v.at}: ${v.message}`);
  if (r.error) lines.push(`  ${r.error}`);
  if (r.notObservable.length > 0)
    lines.push(`  not observable on real processes: ${r.notObservable.join(', ')}`);
  return lines.join('\n');
}
