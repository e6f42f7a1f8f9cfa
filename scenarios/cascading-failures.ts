/** Two of five nodes crash one after the other (the leader among them); the other three carry on. */
import type { Harness } from '../src/sim/harness.js';

export default async function cascadingFailures(h: Harness): Promise<void> {
  const t = h.timing;
  await h.start(5);
  await h.waitUntil(() => h.converged(), { within: 10_000, what: 'the cluster to settle' });
  const first = h.running().find((id) => id !== h.leader())!;
  await h.crash(first);
  await h.sleep(t.failureTimeoutMs / 2);
  const second = h.leader()!;
  await h.crash(second);
  await h.waitUntil(() => h.converged(), { within: 30_000, what: 'three survivors to own every shard' });
  const owners = new Set(h.clusterState()!.shardMap.owners);
  if (owners.has(first) || owners.has(second)) throw new Error('a crashed node still owns shards');
  await h.restart(first);
  await h.restart(second);
  await h.waitUntil(() => h.converged(), { within: 30_000, what: 'both to rejoin' });
  h.assertClean();
}
