import { expect, it } from 'vitest';
import { SimHarness } from '../../../src/sim/sim-harness.js';
import { runSimulation } from '../../../src/sim/simulator.js';
import { ORIGINAL_FAULTS } from './faults-when-found.js';

// n4 (started as incarnation 1000003) is cut off past the failure timeout, judged failed, and comes
// back as incarnation 1022069 while n2 is paused: n2 reads Active#1000003, then Active#1022069, and
// its lifecycle actor for n4 — moved to joining by the new process's heartbeat — is never told of the
// admission (only a change of status was). n2 takes over as leader; n4 then stops gracefully, but its
// leave names the incarnation the process started as, which the leader refuses as stale, and n2's
// actor, waiting for an admission, never judges the silent n4: it stays Active for good.
// Replay: aether simulate --nodes 5 --seed 848 --duration 2m --faults crash,pause,isolate,delay,drop,churn
// Fixed: a leave names the incarnation the process is on record as; lifecycle actors are told a new
// incarnation of a member as a change, from a watched topology or one read at a term's start.
it('records the leave of a node that rejoined after being judged failed (seed 848)', async () => {
  const r = await runSimulation({ nodes: 5, seed: 848, durationMs: 120_000, faults: ORIGINAL_FAULTS });
  expect(r.violations.filter((v) => v.invariant === 'converges')).toEqual([]);
}, 60_000);

it('a node judged failed while it ran and readmitted leaves gracefully as its new incarnation', async () => {
  const h = await SimHarness.create({ seed: 1, shardCount: 64 });
  try {
    await h.start(3);
    const victim = h.running().find((id) => id !== h.leader())!;
    await h.isolate(victim);
    await h.sleep(h.timing.failureTimeoutMs * 2);
    await h.heal(victim);
    const failed = () => h.events().some((o) => o.event.type === 'NodeFailed' && o.event.nodeId === victim);
    await h.waitUntil(() => failed() && h.statusOf(victim) === 'Active', {
      within: 20_000,
      what: `${victim} to be failed and readmitted`,
    });
    await h.stop(victim);
    const left = h.events().filter((o) => o.event.type === 'NodeLeft' && o.event.nodeId === victim);
    expect(left.map((o) => o.event.type === 'NodeLeft' && o.event.reason)).toEqual(['graceful']);
    await h.waitUntil(() => h.converged(), { within: 20_000, what: 'the cluster to settle' });
    h.assertClean();
  } finally {
    await h.close();
  }
}, 60_000);
