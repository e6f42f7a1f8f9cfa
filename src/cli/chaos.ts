/**
 * `aether chaos <scenario> --seed N`: runs one chaos scenario script against a simulated cluster
 * with the invariant checker on, and prints what it found. TypeScript scenarios need tsx (present
 * in a checkout as a development dependency); compiled `.js` scenarios run anywhere.
 */
import { parseArgs } from 'node:util';
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
  -h, --help        this help`;

export async function chaos(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      seed: { type: 'string' },
      timing: { type: 'string' },
      shards: { type: 'string' },
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
