/**
 * The leader crashes: exactly one new leader takes over within a lease TTL plus a renewal, the
 * crashed leader's shards are recovered, and it rejoins when restarted.
 */
import type { Harness } from '../src/sim/harness.js';

export default async function leaderCrash(h: Harness): Promise<void> {
  const t = h.timing;
  await h.start(5);
  await h.waitUntil(() => h.converged(), { within: 10_000, what: 'the cluster to settle' });
  const old = h.leader();
  if (old === null) throw new Error('no leader after start');
  await h.crash(old);
  const took = await h.waitUntil(() => h.leader() !== null, {
    within: t.leaseTtlMs + t.renewIntervalMs + t.retryIntervalMs + t.requestTimeoutMs,
    what: 'a new leader',
  });
  h.log(`new leader ${h.leader()} after ${took} ms`);
  await h.waitUntil(() => h.converged(), { within: 30_000, what: 'recovery of the old leader’s shards' });
  await h.restart(old);
  await h.waitUntil(() => h.converged(), { within: 30_000, what: 'the old leader to rejoin' });
  h.assertClean();
}
