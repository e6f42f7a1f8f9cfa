import { expect, it } from 'vitest';
import { runSimulation } from '../../../src/sim/simulator.js';
import { FAULTS_UP_TO_FORGE } from './faults-when-found.js';

// n3 fences and unfences (releases and takes back all its shards), then releases shard 107 for j1's
// hand-off; n1, resuming from a pause on a stale map, lets go of 107 too. The checker kept one
// release per shard: first the take-back stood, then n1's release hid n3's, and j1's commit looked
// like a move before the owner released — a false release-before-acquire, no double serving.
// Replay: aether simulate --nodes 5 --seed 688 --duration 2m --faults crash,pause,isolate,delay,drop,churn,restart-overlap,outage,stall,forge
// Fixed (checker): a release ends an earlier take-back by the same node; only the owner's release counts.
it('judges the owner’s hand-off release, not a fence’s take-back or a stale node’s release (seed 688)', async () => {
  const r = await runSimulation({ nodes: 5, seed: 688, durationMs: 120_000, faults: FAULTS_UP_TO_FORGE });
  expect(r.violations).toEqual([]);
}, 60_000);
