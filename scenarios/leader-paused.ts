/**
 * The leader's process freezes for longer than its lease, then resumes. A follower takes over while
 * it is frozen; on resuming, the old leader must not act on its stale term: no topology write and no
 * hand-off of its old term is accepted after the new leader's election (the checker's
 * `stale-term-fenced` and `single-leader-per-term`), and it steps down.
 */
import type { Harness } from '../src/sim/harness.js';

export default async function leaderPaused(h: Harness): Promise<void> {
  const t = h.timing;
  await h.start(5);
  await h.waitUntil(() => h.converged(), { within: 10_000, what: 'the cluster to settle' });
  // Make the leader busy with a rebalance so it has hand-offs in flight when it freezes.
  await h.add(undefined, { wait: false });
  await h.sleep(t.requestTimeoutMs);
  const old = h.leader();
  if (old === null) throw new Error('no leader');
  const oldTerm = h.clusterState(old)?.leader?.term ?? 0;
  await h.pause(old);
  await h.waitUntil(() => h.leaders().some((id) => id !== old), {
    within: t.leaseTtlMs * 3,
    what: 'a follower to take over from the frozen leader',
  });
  await h.sleep(t.leaseTtlMs);
  await h.resume(old);
  await h.waitUntil(() => h.converged(), { within: 30_000, what: 'the cluster to settle after the resume' });
  const lost = h
    .events()
    .some((e) => e.event.type === 'LeadershipLost' && e.event.nodeId === old && e.event.term === oldTerm);
  if (!lost) h.log(`note: ${old} recorded no LeadershipLost for term ${oldTerm}`);
  if (h.leader() === old)
    throw new Error(`${old} still leads after resuming; its term ${oldTerm} was superseded`);
  h.assertClean();
}
