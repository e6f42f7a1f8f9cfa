import { describe, expect, it } from 'vitest';
import { checkHistory } from '../../src/checker/index.js';
import { FAST_TIMING } from '../../src/config.js';
import { SimHarness } from '../../src/sim/sim-harness.js';
import { FAULT_KINDS, generateSchedule, runSimulation, shrinkSchedule } from '../../src/sim/simulator.js';

const RUN = { nodes: 5, durationMs: 60_000, faults: FAULT_KINDS } as const;

describe('the simulator', () => {
  it('replays a seed exactly: the same seed gives the same event log', async () => {
    const a = await runSimulation({ ...RUN, seed: 7, durationMs: 30_000 });
    const b = await runSimulation({ ...RUN, seed: 7, durationMs: 30_000 });
    expect(a.events).toBeGreaterThan(100);
    expect(a.applied).toBeGreaterThan(0);
    expect(b.eventLogHash).toBe(a.eventLogHash);
    expect(b.events).toBe(a.events);
    const c = await runSimulation({ ...RUN, seed: 8, durationMs: 30_000 });
    expect(c.eventLogHash).not.toBe(a.eventLogHash);
  });

  it('draws the same fault schedule from the same seed, and another from another', () => {
    const o = { ...RUN, durationMs: 600_000 };
    expect(generateSchedule({ ...o, seed: 3 })).toEqual(generateSchedule({ ...o, seed: 3 }));
    expect(generateSchedule({ ...o, seed: 3 })).not.toEqual(generateSchedule({ ...o, seed: 4 }));
    const kinds = new Set(generateSchedule({ ...o, seed: 3 }).map((a) => a.kind));
    expect([...kinds].sort()).toEqual([
      'crash',
      'delay',
      'drop',
      'forge',
      'isolate',
      'join',
      'leave',
      'outage',
      'pause',
      'restart-overlap',
      'stall',
    ]);
  });

  it('draws forging episodes from a stream of their own: the other faults of a seed stay as they were', () => {
    const o = { ...RUN, durationMs: 600_000, seed: 3 };
    const all = generateSchedule(o);
    const without = generateSchedule({ ...o, faults: FAULT_KINDS.filter((k) => k !== 'forge') });
    expect(all.filter((a) => a.kind !== 'forge')).toEqual(without);
    expect(all.filter((a) => a.kind === 'forge').length).toBeGreaterThan(5);
  });

  // A fixed set of seeds under every kind of fault: each must keep every invariant.
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`keeps every invariant under seeded faults (seed ${seed})`, async () => {
      const r = await runSimulation({ ...RUN, seed });
      expect(r.applied).toBeGreaterThan(3);
      expect({ error: r.error, violations: r.violations.slice(0, 3) }).toEqual({
        error: null,
        violations: [],
      });
    });
  }

  it('checks the same history offline as it did online', async () => {
    const h = await SimHarness.create({ seed: 11, keepHistory: true });
    await h.start(4);
    await h.crash(h.leader()!);
    await h.waitUntil(() => h.converged(), { within: 20_000, what: 'recovery' });
    await h.close();
    const history = h.history!;
    expect(history.some((e) => e.kind === 'commit')).toBe(true);
    expect(checkHistory(history, { timing: FAST_TIMING, shardCount: 1024 })).toEqual(h.checker.finish());
  });
});

describe('the history of a simulated run', () => {
  it('records membership confirmations from each node’s topology reads, and none while a node is cut off', async () => {
    const h = await SimHarness.create({ seed: 5, shardCount: 64, keepHistory: true });
    try {
      await h.start(3);
      const victim = h.running().find((id) => id !== h.leader())!;
      await h.sleep(2_000);
      const cut = h.now();
      await h.isolate(victim);
      await h.sleep(3_000);
      const healed = h.now();
      await h.heal(victim);
      await h.waitUntil(() => h.converged(), { within: 20_000, what: 'the cluster to settle' });
      await h.sleep(1_000);
      const confirmations = h.history!.flatMap((e) => (e.kind === 'membership' ? [e] : []));
      for (const id of h.running()) {
        expect(confirmations.filter((c) => c.nodeId === id).length, id).toBeGreaterThan(5);
      }
      expect(confirmations.every((c) => c.since <= c.at)).toBe(true);
      // Cut off, its reads fail; after it is failed and readmitted, its reads confirm it again.
      const ofVictim = confirmations.filter((c) => c.nodeId === victim);
      expect(ofVictim.filter((c) => c.since > cut && c.since < healed)).toEqual([]);
      expect(ofVictim.some((c) => c.since >= healed)).toBe(true);
      h.assertClean();
    } finally {
      await h.close();
    }
  });
});

describe('shrinking a failing schedule', () => {
  it('removes actions while the run still fails with the same invariant', async () => {
    // A convergence bound of 1 ms makes any fault that needs a rebalance a violation.
    const o = { ...RUN, seed: 2, durationMs: 40_000, checker: { convergenceBoundMs: 1 } };
    const failing = await runSimulation(o);
    expect(failing.ok).toBe(false);
    expect(Object.keys(failing.violationCounts)).toContain('converges');
    const { schedule, result } = await shrinkSchedule(o, failing, 12);
    expect(schedule.length).toBeLessThan(failing.schedule.length);
    expect(result.ok).toBe(false);
    expect(Object.keys(result.violationCounts)).toContain('converges');
  }, 60_000);
});
