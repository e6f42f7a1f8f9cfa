import { expect, it } from 'vitest';
import { CLASSIC_FAULT_KINDS, runSimulation } from '../../../src/sim/simulator.js';

// An old owner releases shards for a hand-off requested by a deposed leader (n2, term 19) after a
// newer term (160) has already written the topology: the owner only refuses terms older than the
// highest one *it* has seen, and its view lags. The release is later undone (the shards are served
// again once its view shows no such plan), so nothing is lost but availability; still, a hand-off of
// a deposed term was accepted after the new leader's election.
// Replay: aether simulate --nodes 5 --seed 921 --duration 2m --faults crash,pause,isolate,delay,drop,churn
// Fixed: an old owner checks the request's term and leader against the lease in the store before releasing.
it('accepts no hand-off of a deposed term after a newer term wrote the topology (seed 921)', async () => {
  const r = await runSimulation({ nodes: 5, seed: 921, durationMs: 120_000, faults: CLASSIC_FAULT_KINDS });
  expect(r.violations.filter((v) => v.invariant === 'stale-term-fenced')).toEqual([]);
}, 60_000);
