/**
 * `aether chaos <scenario> --seed N`: runs one chaos scenario script against a simulated cluster
 * with the invariant checker on, and prints what it found; with `--processes`, against real
 * `aether node` processes on nats-server(s) it starts itself. TypeScript scenarios need tsx
 * (present in a checkout as a development dependency); compiled `.js` scenarios run anywhere.
 */
import { writeFileSync } from 'node:fs';
import { basename, extname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { TimingConfig } from '../config.js';
import type { Scenario } from '../sim/harness.js';
import { loadScenario } from '../sim/scenario-loader.js';
import { SimHarness } from '../sim/sim-harness.js';
import { parsePositiveInt, parseTimingOverrides, UsageError } from './flags.js';

const HELP = `usage: aether chaos <scenario.ts|scenario.js> [options]

Runs a chaos scenario (a module whose default export is async (h: Harness) => void) against a
cluster simulated in this process, with the invariant checker running throughout.

options:
  --seed N          seed of the run (default 1)
  --timing K=D,...  timing overrides, e.g. leaseTtlMs=3s,renewIntervalMs=500ms
  --shards N        shard count (default 1024)
  -v, --verbose     print the run's log
  -h, --help        this help

real processes (needs nats-server on PATH and the built CLI):
  --processes       run against aether node processes on nats-server(s) this command starts,
                    with real signals and a TCP proxy per node; prints a timeline and a verdict,
                    writes a JSON report and exits 1 on a violation or a failed scenario
  --servers 1|3     one nats-server, or a cluster of three (default 1)
  --nodes N         nodes the scenario's first start brings up instead of its own count
  --report FILE     where the JSON report goes (default chaos-report-<scenario>-<seed>.json)`;

export async function chaos(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      seed: { type: 'string' },
      timing: { type: 'string' },
      shards: { type: 'string' },
      processes: { type: 'boolean' },
      servers: { type: 'string' },
      nodes: { type: 'string' },
      report: { type: 'string' },
      verbose: { type: 'boolean', short: 'v' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const file = positionals[0];
  if (file === undefined) throw new UsageError(`a scenario file is required\n\n${HELP}`);
  const seed = Number(values.seed ?? 1);
  if (!Number.isInteger(seed))
    throw new UsageError(`--seed: expected an integer, got ${JSON.stringify(values.seed)}`);
  const timing = values.timing === undefined ? {} : parseTimingOverrides('--timing', values.timing);
  const shardCount = parsePositiveInt('--shards', values.shards);
  const scenario = await loadScenario(file);
  if (values.processes) {
    const servers = values.servers === undefined ? 1 : Number(values.servers);
    if (servers !== 1 && servers !== 3)
      throw new UsageError(`--servers: 1 or 3, got ${JSON.stringify(values.servers)}`);
    const nodes = parsePositiveInt('--nodes', values.nodes);
    return runOnProcesses({
      file,
      scenario,
      seed,
      timing,
      servers,
      verbose: values.verbose === true,
      ...(shardCount !== undefined ? { shardCount } : {}),
      ...(nodes !== undefined ? { nodes } : {}),
      ...(values.report !== undefined ? { report: values.report } : {}),
    });
  }
  for (const flag of ['servers', 'nodes', 'report'] as const) {
    if (values[flag] !== undefined) throw new UsageError(`--${flag} needs --processes`);
  }
  const h = await SimHarness.create({
    seed,
    timing,
    ...(shardCount !== undefined ? { shardCount } : {}),
  });
  const wall0 = performance.now();
  const t0 = h.now();
  let error: Error | null = null;
  try {
    await scenario(h);
    h.assertClean();
  } catch (err) {
    error = err as Error;
  }
  const stats = h.checker.stats();
  const wall = ((performance.now() - wall0) / 1000).toFixed(1);
  console.log(
    `${file} seed ${seed}: ${error ? 'FAILED' : 'ok'} — ${((h.now() - t0) / 1000).toFixed(1)} s simulated, ${wall} s wall; ${stats.elections} elections, ${stats.rebalances} rebalances, ${stats.moves} shard moves, ${stats.commits} commits`,
  );
  if (values.verbose || error)
    console.log(
      h
        .logLines()
        .slice(error ? -25 : 0)
        .map((l) => `  ${l}`)
        .join('\n'),
    );
  if (error) {
    console.log(`  ${error.message}`);
    console.log(
      `  replay: aether chaos ${file} --seed ${seed}${values.timing ? ` --timing ${values.timing}` : ''}`,
    );
  }
  await h.close();
  return error ? 1 : 0;
}

interface ProcessRun {
  readonly file: string;
  readonly scenario: Scenario;
  readonly seed: number;
  readonly timing: Partial<TimingConfig>;
  readonly servers: 1 | 3;
  readonly shardCount?: number;
  readonly nodes?: number;
  readonly report?: string;
  readonly verbose: boolean;
}

/** `--processes`: the scenario against real processes; a timeline, a verdict and a JSON report. */
async function runOnProcesses(r: ProcessRun): Promise<number> {
  // Loaded here: the simulator mode needs neither the NATS client nor child processes.
  const { ProcessHarness, formatTimeline, formatVerdict } = await import('../chaos/index.js');
  const name = basename(r.file, extname(r.file));
  console.log(`${r.file} seed ${r.seed}: starting ${r.servers} nats-server(s) and the nodes…`);
  const h = await ProcessHarness.create({
    seed: r.seed,
    servers: r.servers,
    timing: r.timing,
    ...(r.shardCount !== undefined ? { shardCount: r.shardCount } : {}),
    ...(r.nodes !== undefined ? { nodes: r.nodes } : {}),
  });
  let error: Error | null = null;
  try {
    await r.scenario(h);
    await h.settle();
    h.assertClean();
  } catch (err) {
    error = err instanceof Error ? err : new Error(String(err));
  }
  await h.settle().catch(() => {});
  const report = h.report(name, error);
  await h.close();
  console.log(formatTimeline(report.timeline).join('\n'));
  if (r.verbose) console.log(report.log.map((l) => `  ${l}`).join('\n'));
  console.log(formatVerdict(report));
  const path = resolve(r.report ?? `chaos-report-${name}-${r.seed}.json`);
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`report: ${path}`);
  if (report.verdict !== 'ok') {
    console.log(
      `  rerun: aether chaos ${r.file} --processes --servers ${r.servers} --seed ${r.seed} (the seed fixes the scenario's choices, not real timing)`,
    );
  }
  return report.verdict === 'ok' ? 0 : 1;
}
