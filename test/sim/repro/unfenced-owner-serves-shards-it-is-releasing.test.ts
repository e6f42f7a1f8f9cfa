import { expect, it } from 'vitest';
import { runSimulation } from '../../../src/sim/simulator.js';
import { FAULTS_UP_TO_FORGE } from './faults-when-found.js';

// j1, its messages delayed, fences itself (no confirmation within the window) and a hand-off request
// of shards it owns arrives: it releases them (onRelease) for j2. A late confirmation unfences it while
// that release runs, and it starts serving everything it owns and has not yet marked released —
// the shards being handed off included. j2 then gets them while j1 still serves them.
// Replay: aether simulate --nodes 5 --seed 644 --duration 2m --faults crash,pause,isolate,delay,drop,churn,restart-overlap,outage,stall,forge
// Fixed: unfencing serves again everything but the shards a hand-off is releasing; those are served
// again only if the release fails.
it('does not serve again the shards a hand-off is releasing when it unfences (seed 644)', async () => {
  const r = await runSimulation({ nodes: 5, seed: 644, durationMs: 120_000, faults: FAULTS_UP_TO_FORGE });
  expect(r.violations).toEqual([]);
}, 60_000);
