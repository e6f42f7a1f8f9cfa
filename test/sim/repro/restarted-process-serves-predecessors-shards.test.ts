import { expect, it } from 'vitest';
import { runSimulation } from '../../../src/sim/simulator.js';

// n1 is restarted while its old process is still leaving (restart-overlap, at 1084225). The old
// process had just released shards 970 and 984 for a hand-off to n5; the new process, not yet
// admitted, read a map that still named "n1" as their owner and served them again, so n5 received
// them while n1 served them. Replay: aether simulate --nodes 5 --seed 41 --duration 2m --faults crash,pause,isolate,delay,drop,churn,restart-overlap
// Fixed: a process serves the shards of its id only when its incarnation is the one on record.
it('a restarted process does not serve its predecessor’s shards before it is admitted (seed 41)', async () => {
  const r = await runSimulation({
    nodes: 5,
    seed: 41,
    durationMs: 120_000,
    faults: ['crash', 'pause', 'isolate', 'delay', 'drop', 'churn', 'restart-overlap'],
  });
  expect(r.faults.overlap).toBeGreaterThan(0);
  expect(r.violations.filter((v) => v.invariant === 'release-before-acquire')).toEqual([]);
}, 60_000);
