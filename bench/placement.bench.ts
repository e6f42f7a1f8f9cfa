/**
 * Placement benchmark: load spread, moves on a join and a leave, and time to place 1024 shards, for
 * both strategies over cluster sizes from 3 to 500 nodes.
 *
 * Run: npx tsx bench/placement.bench.ts
 */
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { DEFAULT_SHARD_COUNT, type NodeId } from '../src/domain/values.js';
import {
  BalancedPlacement,
  ConsistentHashPlacement,
  HashRing,
  type PlacementInput,
  type PlacementNode,
  type PlacementStrategy,
} from '../src/placement/index.js';

const SHARDS = DEFAULT_SHARD_COUNT;
const SIZES = [3, 5, 10, 20, 50, 100, 500];
const STRATEGIES: PlacementStrategy[] = [new ConsistentHashPlacement(), new BalancedPlacement()];

const nodes = (n: number): PlacementNode[] => Array.from({ length: n }, (_, i) => ({ id: `node-${i}` }));

/** Median wall time of `fn` in milliseconds, after warm-up runs that let the JIT settle. */
function medianMs(fn: () => void, runs: number, warmup: number): number {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

function loadsOf(owners: readonly NodeId[], members: readonly PlacementNode[]): number[] {
  const counts = new Map<NodeId, number>();
  for (const o of owners) counts.set(o, (counts.get(o) ?? 0) + 1);
  return members.map((m) => counts.get(m.id) ?? 0);
}

interface Row {
  readonly strategy: string;
  readonly n: number;
  readonly maxOverMean: number;
  readonly spread: number;
  readonly onRingOwner: number;
  readonly joinMoved: number;
  readonly joinMin: number;
  readonly leaveMoved: number;
  readonly leaveMin: number;
  readonly bootstrapMs: number;
  readonly joinMs: number;
}

function measure(strategy: PlacementStrategy, n: number): Row {
  const members = nodes(n);
  const bootstrapInput: PlacementInput = {
    shardCount: SHARDS,
    previous: new Array<NodeId | null>(SHARDS).fill(null),
    nodes: members,
  };
  const owners = strategy.place(bootstrapInput).owners;
  const loads = loadsOf(owners, members);
  const max = Math.max(...loads);
  const ring = new HashRing(members);
  const onRingOwner = owners.filter((o, s) => o === ring.ownerOfShard(s)).length / SHARDS;

  const joinInput: PlacementInput = {
    shardCount: SHARDS,
    previous: owners,
    nodes: [...members, { id: 'joiner' }],
  };
  const join = strategy.place(joinInput);
  const leaver = members[0]!.id;
  const leave = strategy.place({ shardCount: SHARDS, previous: owners, nodes: members.slice(1) });

  const runs = n >= 500 ? 200 : 1000;
  const warmup = n >= 500 ? 50 : 200;
  return {
    strategy: strategy.name,
    n,
    maxOverMean: max / (SHARDS / n),
    spread: max - Math.min(...loads),
    onRingOwner,
    joinMoved: join.moves.length,
    // The newcomer's fair share: fewer moves leave it under-loaded.
    joinMin: Math.floor(SHARDS / (n + 1)),
    leaveMoved: leave.moves.length,
    // The leaver's shards must all move.
    leaveMin: owners.filter((o) => o === leaver).length,
    bootstrapMs: medianMs(() => strategy.place(bootstrapInput), runs, warmup),
    joinMs: medianMs(() => strategy.place(joinInput), runs, warmup),
  };
}

const header =
  '| strategy | nodes | max/mean load | max − min load | on ring owner | join: moved / min | leave: moved / min | place 1024 (bootstrap) | place 1024 (join) |';
const rule = '|---|---:|---:|---:|---:|---:|---:|---:|---:|';
console.log(
  `node ${process.version}, ${cpus()[0]?.model ?? 'unknown cpu'} (${cpus().length} cores), ${SHARDS} shards`,
);
console.log();
console.log(header);
console.log(rule);
for (const strategy of STRATEGIES) {
  for (const n of SIZES) {
    const r = measure(strategy, n);
    console.log(
      `| ${r.strategy} | ${r.n} | ${r.maxOverMean.toFixed(3)} | ${r.spread} | ${(r.onRingOwner * 100).toFixed(1)}% | ${r.joinMoved} / ${r.joinMin} | ${r.leaveMoved} / ${r.leaveMin} | ${r.bootstrapMs.toFixed(3)} ms | ${r.joinMs.toFixed(3)} ms |`,
    );
  }
}
