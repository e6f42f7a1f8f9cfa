/**
 * The simulator's same-id restart overlapping the old process's leave: the late leave names the old
 * incarnation and is refused, so the new process stays Active; and seeds drawing only this fault keep
 * every invariant.
 */
import { describe, expect, it } from 'vitest';
import { SimHarness } from '../../src/sim/sim-harness.js';
import { runSimulation } from '../../src/sim/simulator.js';

describe('a same-id restart overlapping the old process’s leave (simulated)', () => {
  it('keeps the new process Active and owning shards when the old leave arrives after its admission', async () => {
    const h = await SimHarness.create({ seed: 5, shardCount: 64, keepHistory: true });
    try {
      await h.start(['n1', 'n2', 'n3']);
      const target = h.running().find((id) => id !== h.leader())!;
      const before = h.clusterState()!.nodes[target]!.incarnation;
      await h.restartDuringLeave(target, 1_500);
      await h.waitUntil(() => h.converged(), { within: 20_000, what: 'the cluster to converge again' });
      // Past the lag: the old leave has reached the leader by now.
      await h.sleep(3_000);
      const state = h.clusterState()!;
      expect(state.nodes[target]).toMatchObject({ status: 'Active' });
      expect(state.nodes[target]!.incarnation).toBeGreaterThan(before);
      expect(state.shardMap.owners.filter((o) => o === target).length).toBeGreaterThan(0);
      expect(h.events().filter((e) => e.event.type === 'NodeLeft')).toEqual([]);
      expect(h.faults.overlap).toBe(1);
      h.assertClean();
    } finally {
      await h.close();
    }
  });

  for (const seed of [1, 2, 3]) {
    it(`keeps every invariant with only this fault drawn (seed ${seed})`, async () => {
      const r = await runSimulation({
        nodes: 5,
        seed,
        durationMs: 30_000,
        faults: ['restart-overlap'],
        faultEveryMs: 3_000,
      });
      expect(r.faults.overlap).toBeGreaterThan(2);
      expect({ error: r.error, violations: r.violations.slice(0, 3) }).toEqual({
        error: null,
        violations: [],
      });
    });
  }
});
