import { expect, it } from 'vitest';
import { CLASSIC_FAULT_KINDS, runSimulation } from '../../../src/sim/simulator.js';

// An old owner releases shards for a hand-off (its onRelease runs, it stops serving them) whose
// commit never happens (the leader changes or the plan is closed by a newer topology change). The
// node keeps the shards in its released set while the committed map still names it as owner, and
// no later plan moves them: they stay owned but unserved after every fault has healed.
// Replay: aether simulate --nodes 5 --seed 258 --duration 2m --faults crash,pause,isolate,delay,drop,churn
// Fixed: abandoned releases are re-checked on every state change, heartbeats included, not only on a new map.
it('moves or restores shards whose hand-off was abandoned (seed 258)', async () => {
  const r = await runSimulation({ nodes: 5, seed: 258, durationMs: 120_000, faults: CLASSIC_FAULT_KINDS });
  expect(r.violations.filter((v) => v.invariant === 'released-shards-move')).toEqual([]);
}, 60_000);

// Still so when the abandoned hand-off is the last thing that happens: n1 releases shards at
// 1117871 for a round that is never committed, and with no later topology change nothing makes it
// look at its released shards again. Replay: aether simulate --nodes 5 --seed 82 --duration 2m --faults crash,pause,isolate,delay,drop,churn
it('moves or restores shards whose hand-off was abandoned with no later commit (seed 82)', async () => {
  const r = await runSimulation({ nodes: 5, seed: 82, durationMs: 120_000, faults: CLASSIC_FAULT_KINDS });
  expect(r.violations.filter((v) => v.invariant === 'released-shards-move')).toEqual([]);
}, 60_000);
