import { describe, expect, it } from 'vitest';
import { FORGED_TERM } from '../../src/sim/forger.js';
import { SimHarness } from '../../src/sim/sim-harness.js';

describe('a forging client in the simulator', () => {
  it('sends forged heartbeats, hand-offs, commands, events and lease writes that the cluster withstands', async () => {
    const h = await SimHarness.create({ seed: 7, shardCount: 64 });
    await h.start(['n1', 'n2', 'n3']);
    const follower = h.running().find((id) => id !== h.leader())!;
    await h.forge(follower);
    // One round at once, then one every 250 ms.
    await h.sleep(3_000);
    await h.stopForging();
    await h.waitUntil(() => h.converged(), { within: 30_000, what: 'the cluster to converge after forging' });
    // The lease once per episode (rewriting it without pause is a denial of service no runtime prevents).
    expect(h.forgeries).toEqual({ heartbeat: 13, handoff: 13, command: 13, event: 13, lease: 1 });
    // No forged event is delivered, no term is fenced by the forged lease, no forged hand-off honoured.
    expect(h.events().filter((o) => o.event.id.startsWith('forged-'))).toEqual([]);
    expect(h.events().some((o) => o.event.term === FORGED_TERM)).toBe(false);
    for (const id of h.running()) expect(h.node(id)!.counters.forgedEvents, id).toBeGreaterThan(0);
    for (const id of h.running()) expect(h.node(id)!.state().leader?.term, id).toBeLessThan(FORGED_TERM);
    const refused = h.node(follower)!.counters;
    expect(refused.forgedHandoffs + refused.staleHandoffs).toBeGreaterThan(0);
    h.assertClean();
    await h.close();
  });

  it('sends every kind it is told to, hand-off requests and lease writes included', async () => {
    const h = await SimHarness.create({
      seed: 7,
      shardCount: 64,
      forgeries: ['heartbeat', 'handoff', 'command', 'event', 'lease'],
    });
    await h.start(['n1', 'n2', 'n3']);
    await h.forge('n2');
    await h.sleep(1_000);
    await h.stopForging();
    expect(h.forgeries).toEqual({ heartbeat: 5, handoff: 5, command: 5, event: 5, lease: 1 });
    await h.close();
  });
});
