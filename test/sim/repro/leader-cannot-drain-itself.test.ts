import { expect, it } from 'vitest';
import { SimHarness } from '../../../src/sim/sim-harness.js';

// `node.drain()` on the leader sends drainNode for itself, which the domain rejects with
// NODE_IS_LEADER ("it must resign before draining"); unlike `stop()`, `drain()` does not resign first.
// Reproduce: `aether chaos` with a scenario calling `h.drain(h.leader())`, any seed.
// Fixed: drain() on the leader resigns first.
it('drains the leader like any other node: it hands leadership on first', async () => {
  const h = await SimHarness.create({ seed: 1, shardCount: 64 });
  try {
    await h.start(3);
    const leader = h.leader()!;
    await h.drain(leader);
    expect(h.running()).not.toContain(leader);
    await h.waitUntil(() => h.converged(), { within: 20_000, what: 'the cluster to settle' });
    h.assertClean();
  } finally {
    await h.close();
  }
});
