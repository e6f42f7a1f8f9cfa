import { expect, it } from 'vitest';
import { runSimulation } from '../../../src/sim/simulator.js';
import { FAULTS_UP_TO_FORGE } from './faults-when-found.js';

// n2 serves 205 shards and is paused at 1007545 for 5 s; the leader fails it at 1009500, orphaning
// its shards, and gives them to others. On resuming, n2 reads the commits that took them before its
// fence timer fires: its shard host drops them from what it owns without telling the application,
// then fences with nothing left to release. The application serves the 205 shards on, for good (and
// the 17 of them n2 is not given back when it rejoins). Also seen with heartbeats lost and reads
// getting through (seed 19): a member failed while still confirming itself lost its shards silently.
// Replay: aether simulate --nodes 5 --seed 1 --duration 2m --faults crash,pause,isolate,delay,drop,churn,restart-overlap,outage,stall,forge
// Found by the serving-without-membership property. Fixed: shards a committed map takes away with no
// hand-off are released to the application (onRelease) at once.
it('tells the application to stop serving shards a failure took away (seed 1)', async () => {
  const r = await runSimulation({ nodes: 5, seed: 1, durationMs: 120_000, faults: FAULTS_UP_TO_FORGE });
  expect(r.violations).toEqual([]);
}, 60_000);
