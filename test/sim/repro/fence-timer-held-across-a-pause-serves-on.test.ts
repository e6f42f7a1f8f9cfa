import { expect, it } from 'vitest';
import { runSimulation } from '../../../src/sim/simulator.js';
import { FAULTS_UP_TO_FORGE } from './faults-when-found.js';

// n1 was confirmed at 1026973 (fence at 1027973) by a confirmation that moved the deadline without
// re-arming the timer, still set for 1027307, and is paused from 1027107 to 1032266. On resuming, that
// timer fires, finds the deadline "moved" to 1027973 and re-arms from its stale time (666 ms more):
// n1 does not fence. Failed meanwhile, it rejoins at 1032766 and starts serving 204 shards, six
// seconds after its membership was last confirmed, until the late timer fences it at 1032932.
// Replay: aether simulate --nodes 5 --seed 14 --duration 2m --faults crash,pause,isolate,delay,drop,churn,restart-overlap,outage,stall,forge
// Found by the serving-without-membership property. Fixed: the fence timer is re-armed from every
// confirmation's arrival, so a timer held across a pause stands for the latest deadline and fences
// the moment the process resumes.
it('a node paused past its fence window fences as it resumes (seed 14)', async () => {
  const r = await runSimulation({ nodes: 5, seed: 14, durationMs: 120_000, faults: FAULTS_UP_TO_FORGE });
  expect(r.violations).toEqual([]);
}, 60_000);
