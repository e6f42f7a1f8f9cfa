import { expect, it } from 'vitest';
import { FAULT_KINDS, runSimulation } from '../../../src/sim/simulator.js';

// An old owner releases shards for a hand-off (its onRelease runs, it stops serving them) whose
// commit never happens (the leader changes or the plan is closed by a newer topology change). The
// node keeps the shards in its released set while the committed map still names it as owner, and
// no later plan moves them: they stay owned but unserved after every fault has healed.
// Replay: aether simulate --nodes 5 --seed 258 --duration 2m --faults crash,pause,isolate,delay,drop,churn
it('moves or restores shards whose hand-off was abandoned (seed 258)', async () => {
  const r = await runSimulation({ nodes: 5, seed: 258, durationMs: 120_000, faults: FAULT_KINDS });
  expect(r.violations.filter((v) => v.invariant === 'released-shards-move')).toEqual([]);
}, 60_000);
