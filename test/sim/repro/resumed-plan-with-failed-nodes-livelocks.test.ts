import { expect, it } from 'vitest';
import { CLASSIC_FAULT_KINDS, runSimulation } from '../../../src/sim/simulator.js';

// n1 leads a rebalance (plan n1-…-1973) when n2 and then n1 itself are marked Failed (t=1006913,
// 1007000). n3 takes over and resumes the persisted plan, whose remaining moves now come from or go
// to failed nodes. Each round: n1 (gone) releases nothing, n5 confirms shards it had already
// released, completeMigration skips every move whose source or target is no longer Active, the
// plan never shrinks and is never closed (the node-failed re-plan was queued on n1's rebalancer,
// not n3's), and the next round starts at once. On a zero-latency transport the loop never lets
// time pass: thousands of commits at t=1007000, and the process stops making progress.
// Fixed: a resumed plan older than the topology is finished and planned anew; a round that commits
// nothing pauses before the next.
// Replay: aether simulate --nodes 5 --seed 1003 --duration 2m --faults crash,pause,isolate,delay,drop,churn
it('a new leader closes or re-plans a resumed plan whose nodes failed meanwhile (seed 1003)', async () => {
  const r = await runSimulation({ nodes: 5, seed: 1003, durationMs: 120_000, faults: CLASSIC_FAULT_KINDS });
  expect({ error: r.error, converges: r.violationCounts.converges ?? 0 }).toEqual({
    error: null,
    converges: 0,
  });
}, 60_000);
