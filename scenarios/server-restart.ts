/**
 * The nats-server dies (SIGKILL) for a few seconds, longer than the failure timeout and the lease,
 * and comes back on the same port and store. Every node is cut off at once, the leader included:
 * nobody could hear anybody, so nobody may be judged failed for the silence (`failure-judged-blind`),
 * and the cluster converges again under one leader. A server fault exists only on real processes
 * (`--processes`); in the simulator, which models no server, the scenario only checks the settled
 * cluster.
 */
import { type Harness, hasServerFaults } from '../src/sim/harness.js';

export default async function serverRestart(h: Harness): Promise<void> {
  const t = h.timing;
  await h.start(3);
  await h.waitUntil(() => h.converged(), { within: 10_000, what: 'the cluster to settle' });
  if (!hasServerFaults(h)) {
    h.log('this harness has no server faults: nothing to kill');
    h.assertClean();
    return;
  }
  await h.killServer(0);
  await h.sleep(t.failureTimeoutMs + t.leaseTtlMs / 2);
  await h.restartServer(0);
  await h.waitUntil(() => h.converged(), { within: 30_000, what: 'the cluster to settle after the restart' });
  // A failure judged late, on silence from the outage, would show within one more failure timeout.
  await h.sleep(t.failureTimeoutMs + t.heartbeatIntervalMs);
  const failed = h.events().filter((e) => e.event.type === 'NodeFailed');
  if (failed.length > 0)
    throw new Error(`${failed.length} node(s) judged failed across the server restart, none crashed`);
  h.assertClean();
}
