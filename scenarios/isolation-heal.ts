/**
 * A follower and then the leader are cut off the network for longer than the failure timeout, then
 * healed: each is failed and replaced meanwhile, and rejoins after the heal.
 */
import type { Harness } from '../src/sim/harness.js';

export default async function isolationHeal(h: Harness): Promise<void> {
  const t = h.timing;
  await h.start(5);
  await h.waitUntil(() => h.converged(), { within: 10_000, what: 'the cluster to settle' });
  const follower = h.running().find((id) => id !== h.leader())!;
  await h.isolate(follower);
  await h.sleep(t.failureTimeoutMs * 2);
  await h.heal(follower);
  await h.waitUntil(() => h.converged(), { within: 30_000, what: 'the follower to rejoin' });
  const leader = h.leader()!;
  await h.isolate(leader);
  await h.waitUntil(() => h.leaders().some((id) => id !== leader), {
    within: t.leaseTtlMs * 3,
    what: 'a new leader while the old one is cut off',
  });
  await h.sleep(t.failureTimeoutMs * 2);
  await h.heal();
  await h.waitUntil(() => h.converged(), { within: 30_000, what: 'the old leader to rejoin' });
  h.assertClean();
}
