/**
 * Simulation benchmark: wall time of a 100-node cluster through one simulated hour of faults, and
 * how many 5-node default runs (2 simulated minutes of every fault each) fit in a wall-clock minute.
 *
 * Run: npx tsx bench/simulation.bench.ts [--quick] — prints a Markdown table and writes the figures
 * as JSON to bench/RESULTS-simulation.json (not with --quick).
 */
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { DEFAULT_TIMING, FAST_TIMING, type TimingConfig } from '../src/config.js';
import { FAULT_KINDS, runSimulation, type SimulationResult } from '../src/sim/simulator.js';

const quick = process.argv.includes('--quick');

/**
 * Timings of the large runs: the library's default lease, renewal and heartbeat (every node hears
 * every renewal and every heartbeat, so these set the cost per simulated second at 100 nodes).
 */
const LARGE_TIMING: Partial<TimingConfig> = {
  leaseTtlMs: DEFAULT_TIMING.leaseTtlMs,
  renewIntervalMs: DEFAULT_TIMING.renewIntervalMs,
  renewDeadlineMs: DEFAULT_TIMING.renewDeadlineMs,
  heartbeatIntervalMs: DEFAULT_TIMING.heartbeatIntervalMs,
  failureTimeoutMs: DEFAULT_TIMING.failureTimeoutMs,
  departedRetentionMs: DEFAULT_TIMING.departedRetentionMs,
};

function line(label: string, r: SimulationResult): string {
  const v = Object.keys(r.violationCounts).length === 0 ? 'none' : JSON.stringify(r.violationCounts);
  return `| ${label} | ${(r.wallMs / 1000).toFixed(1)} s | ${(r.simulatedMs / 60_000).toFixed(1)} min | ${r.applied} | ${r.elections} | ${r.rebalances} | ${r.moves} | ${r.commits} | ${r.events} | ${v} |`;
}

async function main(): Promise<void> {
  console.log(
    `# simulation benchmark — ${cpus()[0]?.model ?? 'cpu'} × ${cpus().length}, node ${process.version}\n`,
  );
  console.log(
    '| run | wall | simulated (incl. settle) | faults | elections | rebalances | moves | commits | events | violations |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  const hour = quick ? 600_000 : 3_600_000;
  const big = await runSimulation({
    nodes: 100,
    seed: 1,
    durationMs: hour,
    faults: FAULT_KINDS,
    faultEveryMs: 60_000,
    timing: LARGE_TIMING,
  });
  console.log(
    line(`100 nodes, ${hour / 60_000} min, default lease/heartbeat timings, a fault a minute`, big),
  );
  const fast = await runSimulation({
    nodes: 100,
    seed: 1,
    durationMs: quick ? 60_000 : 600_000,
    faults: FAULT_KINDS,
    faultEveryMs: 60_000,
    timing: {
      ...FAST_TIMING,
      heartbeatIntervalMs: 30_000,
      failureTimeoutMs: 90_000,
      departedRetentionMs: DEFAULT_TIMING.departedRetentionMs,
    },
  });
  console.log(line(`100 nodes, ${quick ? 1 : 10} min, FAST lease (renew 0.5 s), 30 s heartbeat`, fast));

  // Seeds per wall-clock minute at the `aether simulate` defaults (5 nodes, 2 min, every fault).
  const budget = quick ? 15_000 : 60_000;
  const t0 = performance.now();
  let seeds = 0;
  let failed = 0;
  while (performance.now() - t0 < budget) {
    const r = await runSimulation({ nodes: 5, seed: 1000 + seeds, durationMs: 120_000, faults: FAULT_KINDS });
    seeds++;
    if (!r.ok) failed++;
  }
  const perMin = (seeds * 60_000) / (performance.now() - t0);
  console.log(
    `\n5 nodes, 2 simulated minutes each, every fault: ${perMin.toFixed(1)} seeds per wall-clock minute (${seeds} runs, ${failed} failed)`,
  );
  if (quick) return;
  const figures = (r: SimulationResult) => ({
    wallMs: Math.round(r.wallMs),
    simulatedMs: r.simulatedMs,
    faults: r.applied,
    elections: r.elections,
    rebalances: r.rebalances,
    moves: r.moves,
    commits: r.commits,
    events: r.events,
    violations: r.violationCounts,
  });
  const json = {
    machine: `${cpus()[0]?.model ?? 'cpu'} × ${cpus().length}`,
    node: process.version,
    hundredNodesOneHourDefaultTimings: figures(big),
    hundredNodesTenMinutesFastLease: figures(fast),
    fiveNodeSeedsPerMinute: { seedsPerMinute: Number(perMin.toFixed(1)), runs: seeds, failed },
  };
  await writeFile(
    new URL('./RESULTS-simulation.json', import.meta.url),
    `${JSON.stringify(json, null, 2)}\n`,
  );
}

await main();
