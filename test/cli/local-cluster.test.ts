import { afterEach, describe, expect, it } from 'vitest';
import { LocalCluster } from '../../src/cli/local-cluster.js';
import { FAST_TIMING } from '../../src/config.js';

describe("the demo's local cluster", () => {
  let cluster: LocalCluster | null = null;
  afterEach(async () => {
    await cluster?.stopAll();
  });

  it('pausing the leader past its lease hands leadership on; on resume the old leader steps down', async () => {
    cluster = new LocalCluster({ cluster: 'pause', shardCount: 64, timing: FAST_TIMING });
    const c = cluster;
    await Promise.all([c.add(), c.add(), c.add()]);
    await c.waitFor(() => c.settled(), 10_000, 'the cluster to settle');
    const old = c.leader()!;
    const result = await c.control('pause', old.nodeId);
    expect(result.ok).toBe(true);
    await c.waitFor(
      () => c.running().some((n) => n !== old && n.isLeader()),
      FAST_TIMING.leaseTtlMs + FAST_TIMING.renewIntervalMs + 2_000,
      'a follower to take over',
    );
    await c.control('resume', old.nodeId);
    await c.waitFor(() => !old.isLeader() && c.settled(), 10_000, 'the old leader to step down');
    expect(c.running().filter((n) => n.isLeader())).toHaveLength(1);
  }, 30_000);
});
