import { expect, it } from 'vitest';
import { runSimulation } from '../../../src/sim/simulator.js';

// n2 is cut off past the failure timeout, fences itself and is failed; it rejoins, and a shard moves
// to it while it is still fenced (its membership not yet confirmed as the new process), so its
// application never starts it. A joiner then takes that shard from n2 by a hand-off: n2 answered
// "released" without telling its application, and the new owner's acquire had no release before it.
// Replay: aether simulate --nodes 5 --seed 11 --duration 2m --faults crash,pause,isolate,delay,drop,churn,restart-overlap
// Fixed: every shard a hand-off takes is told to the application (onRelease), fenced or not.
it('tells the application of a shard a hand-off takes from a fenced owner (seed 11)', async () => {
  const r = await runSimulation({
    nodes: 5,
    seed: 11,
    durationMs: 120_000,
    faults: ['crash', 'pause', 'isolate', 'delay', 'drop', 'churn', 'restart-overlap'],
  });
  expect(r.violations.filter((v) => v.invariant === 'release-before-acquire')).toEqual([]);
}, 60_000);
