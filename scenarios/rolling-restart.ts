/** Every node is stopped gracefully and started again, one at a time, the leader last. */
import type { Harness } from '../src/sim/harness.js';

export default async function rollingRestart(h: Harness): Promise<void> {
  const nodes = await h.start(5);
  await h.waitUntil(() => h.converged(), { within: 10_000, what: 'the cluster to settle' });
  const leader = h.leader();
  const order = [...nodes.filter((id) => id !== leader), ...(leader ? [leader] : [])];
  for (const id of order) {
    await h.stop(id);
    await h.waitUntil(() => h.converged(), { within: 30_000, what: `the cluster to settle without ${id}` });
    await h.restart(id);
    await h.waitUntil(() => h.converged(), { within: 30_000, what: `${id} to rejoin` });
  }
  h.assertClean();
}
