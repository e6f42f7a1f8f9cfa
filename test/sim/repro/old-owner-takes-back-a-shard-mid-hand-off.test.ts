import { expect, it } from 'vitest';
import { CLASSIC_FAULT_KINDS, runSimulation } from '../../../src/sim/simulator.js';

// An old owner whose committed view lags the leader's (here j1 runs with a 300 ms delay) answers a
// hand-off request for a plan it has not seen yet: it releases the shards (onRelease), and on its
// next snapshot finds them still its own and "not in the plan" — of its stale view — so it serves
// them again at once (onAcquire, the restore of abandoned hand-offs). The leader, holding the
// release, commits the move: for a while the old and the new owner both serve the shards.
// Replay: aether simulate --nodes 5 --seed 641 --duration 2m --faults crash,pause,isolate,delay,drop,churn
// (also seeds 872, 136, 142, 200).
// Fixed: a release remembers the plan's shard-map version; it is undone only by a view at least that new.
it('never lets an old owner serve a shard again once it released it for a planned hand-off (seed 641)', async () => {
  const r = await runSimulation({ nodes: 5, seed: 641, durationMs: 120_000, faults: CLASSIC_FAULT_KINDS });
  expect(r.violations.filter((v) => v.invariant === 'release-before-acquire')).toEqual([]);
}, 60_000);
