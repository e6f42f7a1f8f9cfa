/**
 * One server of a three-server NATS cluster is cut off from the other two (its routes dropped) for
 * longer than the failure timeout and the lease, then heals. The nodes connected to it stay
 * connected to it, cut off from the majority: they may be judged failed, but the cluster must keep
 * one leader per term, fence what the cut-off side tries, and converge once the routes are back. A
 * route partition exists only on real processes with three servers (`--processes --servers 3`);
 * elsewhere the scenario only checks the settled cluster.
 */
import { type Harness, hasServerFaults } from '../src/sim/harness.js';

export default async function serverPartition(h: Harness): Promise<void> {
  const t = h.timing;
  await h.start(5);
  await h.waitUntil(() => h.converged(), { within: 15_000, what: 'the cluster to settle' });
  if (!hasServerFaults(h) || h.serverCount() < 3) {
    h.log('this harness has no three-server cluster: nothing to partition');
    h.assertClean();
    return;
  }
  await h.partitionServer(2);
  // Long enough for JetStream to move its stream leaders to the majority and for a failure judgement.
  await h.sleep(2 * (t.failureTimeoutMs + t.leaseTtlMs));
  await h.healServer(2);
  await h.waitUntil(() => h.converged(), { within: 40_000, what: 'the cluster to settle after the heal' });
  h.assertClean();
}
