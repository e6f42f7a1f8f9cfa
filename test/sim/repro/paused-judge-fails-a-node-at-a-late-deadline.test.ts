import { expect, it } from 'vitest';
import { runSimulation } from '../../../src/sim/simulator.js';

// n3 crashes at 1029606; the leader n1 is paused at 1031095, 143 ms before n3's deadline
// (1031238), and resumes at 1032642. On resuming, its deadline timer fires before its inbox is
// read: it had heard something 143 ms before the deadline, so it judged n3 failed at 1031238 —
// a verdict reached while it could not hear.
// Replay: aether simulate --nodes 5 --seed 2 --duration 40s --shards 64 --faults outage,stall,crash
// Fixed: a failure proposed at a deadline is held until a heartbeat heard without a gap confirms
// the judge could hear then; the gap after the pause drops it and restarts every deadline.
it('a judge paused across a deadline fails nobody for it (seed 2)', async () => {
  const r = await runSimulation({
    nodes: 5,
    seed: 2,
    durationMs: 40_000,
    shardCount: 64,
    faults: ['outage', 'stall', 'crash'],
  });
  expect(r.faults.stall).toBeGreaterThan(0);
  expect(r.violations).toEqual([]);
}, 60_000);

// Every node, the leader included, cut off the store for longer than the failure timeout: nobody
// could hear anybody, so nobody may be judged failed for it, and the cluster settles as it was.
it('a store outage for all nodes at once fails nobody', async () => {
  const r = await runSimulation({
    nodes: 5,
    seed: 1,
    durationMs: 12_000,
    shardCount: 64,
    faults: [],
    schedule: [{ at: 2_000, kind: 'outage', node: 'n1', forMs: 3_000 }],
  });
  expect(r.faults.outage).toBe(1);
  expect(r.violations).toEqual([]);
}, 60_000);
