/** A join or a graceful leave every few hundred ms for a simulated minute, then the cluster settles. */
import type { Harness } from '../src/sim/harness.js';

export default async function highChurn(h: Harness): Promise<void> {
  await h.start(5);
  await h.waitUntil(() => h.converged(), { within: 10_000, what: 'the cluster to settle' });
  const end = h.now() + 60_000;
  const leaving = new Set<string>();
  while (h.now() < end) {
    const running = h.running().filter((id) => !leaving.has(id));
    const leader = h.leader();
    const candidates = running.filter((id) => id !== leader);
    if (running.length < 8 && (running.length <= 3 || h.rng.chance(0.5) || candidates.length === 0)) {
      await h.add(undefined, { wait: false });
    } else {
      const id = h.rng.pick(candidates);
      leaving.add(id);
      await h.stop(id, { wait: false });
    }
    await h.sleep(h.rng.int(200, 600));
    for (const id of leaving) if (!h.running().includes(id)) leaving.delete(id);
  }
  await h.waitUntil(() => h.converged(), { within: 60_000, what: 'the cluster to settle after the churn' });
  h.assertClean();
}
