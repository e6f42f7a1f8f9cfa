import { expect, it } from 'vitest';
import { CLASSIC_FAULT_KINDS, runSimulation } from '../../../src/sim/simulator.js';

// A leader paused for longer than its lease (n3, term 11, paused 1033063 → 1037047) is replaced by
// n4 (term 62), which commits revision 34. On resuming, n3 writes revision 35 stamped with its old
// term 11: the store accepts a write of a deposed term after a newer term has written. The content
// is n4's state (the batch decided against it was empty), so nothing moves, but the fencing rule —
// no write of an old term once a newer one has written — is broken; a non-empty batch decided on a
// stale state would not be stopped by the store. The leader apparently adopts the newer topology from
// the watch (its CAS revision moves to 34) while still in its leader role, then commits on top of it.
// Replay: aether simulate --nodes 5 --seed 181 --duration 2m --faults crash,pause,isolate,delay,drop,churn
// Fixed: a leader that sees a newer term's topology steps down, and never commits over a newer term.
it('accepts no topology write of a deposed term (seed 181)', async () => {
  const r = await runSimulation({ nodes: 5, seed: 181, durationMs: 120_000, faults: CLASSIC_FAULT_KINDS });
  expect(r.violations.filter((v) => v.invariant === 'stale-term-fenced')).toEqual([]);
}, 60_000);
