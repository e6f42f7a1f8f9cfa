/**
 * `aether simulate`: runs the deterministic simulator for one seed or a range of seeds and prints
 * what happened. A failing seed is printed with the exact command that replays it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  FAULT_KINDS,
  type FaultAction,
  type FaultKind,
  runSimulation,
  type SimulationOptions,
  type SimulationResult,
  shrinkSchedule,
} from '../sim/simulator.js';
import {
  formatDuration,
  parseDuration,
  parsePositiveDuration,
  parsePositiveInt,
  parseTimingOverrides,
  UsageError,
} from './flags.js';

const HELP = `usage: aether simulate [options]

Runs N cluster nodes in this process under a simulated clock with a seeded fault schedule and an
online invariant checker. The same seed replays the same run.

options:
  --nodes N            nodes in the cluster (default 5)
  --seed N             seed of the run (default 1)
  --seeds A..B         run every seed from A to B and report the failures
  --duration D         simulated time of the fault phase: 500ms, 30s, 10m, 1h, 1d (default 2m)
  --faults LIST        comma-separated: ${FAULT_KINDS.join(',')} (default all; "none" for none)
  --fault-every D      mean time between fault starts (default 5s)
  --timing K=D,...     timing overrides, e.g. heartbeatIntervalMs=30s,failureTimeoutMs=90s
  --shards N           shard count (default 1024)
  --schedule FILE      replay a fault schedule written by --shrink instead of drawing one
  --shrink             on failure, shrink the schedule and write it to aether-sim-<seed>.json
  --json               print results as JSON lines
  -h, --help           this help`;

function parseSeeds(text: string): [number, number] {
  const m = /^(\d+)\.\.(\d+)$/.exec(text.trim());
  if (!m || Number(m[1]) > Number(m[2]))
    throw new UsageError(`--seeds: expected A..B with A <= B, got ${JSON.stringify(text)}`);
  return [Number(m[1]), Number(m[2])];
}

function parseFaults(text: string): FaultKind[] {
  if (text === 'none') return [];
  const out: FaultKind[] = [];
  for (const f of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (!FAULT_KINDS.includes(f as FaultKind)) {
      throw new UsageError(`--faults: unknown fault ${JSON.stringify(f)} (known: ${FAULT_KINDS.join(', ')})`);
    }
    out.push(f as FaultKind);
  }
  return out;
}

function progressBar(label: string): ((done: number) => void) & { clear(): void } {
  const tty = process.stderr.isTTY === true;
  let last = -1;
  const f = ((done: number) => {
    if (!tty) return;
    const pct = Math.floor(done * 100);
    if (pct === last) return;
    last = pct;
    const width = 30;
    const fill = Math.round((pct / 100) * width);
    process.stderr.write(`\r${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${pct}%`);
  }) as ((done: number) => void) & { clear(): void };
  f.clear = () => {
    if (tty && last >= 0) process.stderr.write('\r\x1b[K');
  };
  return f;
}

function summary(r: SimulationResult): string {
  const f = r.faults;
  const lines = [
    `seed ${r.seed}: ${r.ok ? 'ok' : 'FAILED'} — ${r.nodes} nodes, ${formatDuration(r.durationMs)} simulated (+ settle), ${(r.wallMs / 1000).toFixed(1)} s wall`,
    `  faults injected: ${r.applied} (crash ${f.crash}, pause ${f.pause}, isolate ${f.isolate}, delay ${f.delay}, drop ${f.drop}, join ${f.join - r.nodes}, leave ${f.leave}; ${r.skipped} skipped as infeasible)`,
    `  elections ${r.elections}, rebalances ${r.rebalances}, shard moves ${r.moves}, topology commits ${r.commits}, events ${r.events}`,
    `  violations: ${
      Object.keys(r.violationCounts).length === 0
        ? 'none'
        : Object.entries(r.violationCounts)
            .map(([k, n]) => `${k} ×${n}`)
            .join(', ')
    }`,
    `  event log sha256 ${r.eventLogHash.slice(0, 16)}`,
  ];
  if (r.error) lines.push(`  error: ${r.error}`);
  for (const v of r.violations.slice(0, 5)) lines.push(`  - ${v.invariant} at t=${v.at}: ${v.message}`);
  return lines.join('\n');
}

/** Builds the command that replays a run. */
export function replayCommand(o: SimulationOptions, extra: string[] = []): string {
  const args = [
    'aether simulate',
    `--nodes ${o.nodes}`,
    `--seed ${o.seed}`,
    `--duration ${formatDuration(o.durationMs)}`,
    `--faults ${o.faults.length === 0 ? 'none' : o.faults.join(',')}`,
  ];
  if (o.faultEveryMs !== undefined) args.push(`--fault-every ${formatDuration(o.faultEveryMs)}`);
  if (o.timing && Object.keys(o.timing).length > 0) {
    args.push(
      `--timing ${Object.entries(o.timing)
        .map(([k, v]) => `${k}=${v}`)
        .join(',')}`,
    );
  }
  if (o.shardCount !== undefined) args.push(`--shards ${o.shardCount}`);
  return [...args, ...extra].join(' ');
}

export async function simulate(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      nodes: { type: 'string' },
      seed: { type: 'string' },
      seeds: { type: 'string' },
      duration: { type: 'string' },
      faults: { type: 'string' },
      'fault-every': { type: 'string' },
      timing: { type: 'string' },
      shards: { type: 'string' },
      schedule: { type: 'string' },
      shrink: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const nodes = parsePositiveInt('--nodes', values.nodes) ?? 5;
  const [first, last] = values.seeds
    ? parseSeeds(values.seeds)
    : [Number(values.seed ?? 1), Number(values.seed ?? 1)];
  if (!Number.isInteger(first))
    throw new UsageError(`--seed: expected an integer, got ${JSON.stringify(values.seed)}`);
  const base: Omit<SimulationOptions, 'seed'> = {
    nodes,
    durationMs: parseDuration('--duration', values.duration ?? '2m'),
    faults: parseFaults(values.faults ?? FAULT_KINDS.join(',')),
    ...(values['fault-every']
      ? { faultEveryMs: parsePositiveDuration('--fault-every', values['fault-every']) }
      : {}),
    ...(values.timing ? { timing: parseTimingOverrides('--timing', values.timing) } : {}),
    ...(values.shards ? { shardCount: parsePositiveInt('--shards', values.shards) } : {}),
    ...(values.schedule
      ? { schedule: JSON.parse(readFileSync(values.schedule, 'utf8')) as readonly FaultAction[] }
      : {}),
  };
  const many = last > first;
  const failed: number[] = [];
  const wall0 = performance.now();
  const seedBar = progressBar(`seeds ${first}..${last}`);
  for (let seed = first; seed <= last; seed++) {
    const o: SimulationOptions = { ...base, seed };
    const bar = many ? null : progressBar(`seed ${seed}`);
    const r = await runSimulation(bar ? { ...o, onProgress: bar } : o);
    bar?.clear();
    if (many) seedBar((seed - first + 1) / (last - first + 1));
    if (values.json) {
      const { schedule: _s, log: _l, ...rest } = r;
      console.log(JSON.stringify(rest));
    } else if (!many || !r.ok) {
      if (many) seedBar.clear();
      console.log(summary(r));
    }
    if (!r.ok) {
      failed.push(seed);
      const schedArg = values.schedule ? [`--schedule ${values.schedule}`] : [];
      console.log(`  replay: ${replayCommand(o, schedArg)}`);
      if (!values.json && r.log.length > 0)
        console.log(`  last log lines:\n    ${r.log.slice(-15).join('\n    ')}`);
      if (values.shrink) {
        const s = await shrinkSchedule(o, r);
        const file = `aether-sim-${seed}.json`;
        writeFileSync(file, `${JSON.stringify(s.schedule, null, 1)}\n`);
        console.log(
          `  shrunk the schedule from ${r.schedule.length} to ${s.schedule.length} action(s) in ${s.runs} replays: ${file}`,
        );
        console.log(`  replay the minimal run: ${replayCommand(o, [`--schedule ${file}`])}`);
      }
    }
  }
  seedBar.clear();
  if (many) {
    const n = last - first + 1;
    console.log(
      `${n} seeds, ${failed.length} failed${failed.length > 0 ? `: ${failed.join(', ')}` : ''} — ${((performance.now() - wall0) / 1000).toFixed(1)} s wall`,
    );
  }
  return failed.length === 0 ? 0 : 1;
}
