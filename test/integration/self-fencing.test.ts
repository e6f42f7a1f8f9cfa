/**
 * Self-fencing: a node cut off from the store stops serving its shards (its `onRelease` runs,
 * `ownedShards()` is empty, its view says fenced) before the leader may reassign them, and serves
 * again only once a read shows it a member of the current map.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ShardId } from '../../src/domain/values.js';
import { SimCluster } from '../support/sim-cluster.js';

describe('self-fencing in an embedded cluster', () => {
  let sim: SimCluster | null = null;
  afterEach(async () => {
    await sim?.stopAll();
    sim = null;
  });

  it('a node cut off longer than the failure timeout stops serving before the leader reassigns its shards, and serves again after rejoining', async () => {
    const s = new SimCluster({ shardCount: 64 });
    sim = s;
    const released: { at: number; shards: readonly ShardId[] }[] = [];
    const acquired: { at: number; shards: readonly ShardId[] }[] = [];
    await s.startAll(['a', 'b']);
    const { node: victim, started } = s.add('v', {
      onRelease: (shards) => {
        released.push({ at: s.clock.now(), shards });
      },
      onAcquire: (shards) => {
        acquired.push({ at: s.clock.now(), shards });
      },
    });
    await s.until(() => s.converged() && victim.ownedShards().length > 0, 10_000);
    await started;
    const served = victim.ownedShards();
    expect(victim.state().fenced).toBe(false);

    const cutAt = s.clock.now();
    s.transport.faults.isolate('v');
    const fencedAfter = await s.until(() => victim.ownedShards().length === 0, s.timing.failureTimeoutMs);
    const fencedAt = s.clock.now();
    expect(victim.state().fenced).toBe(true);
    // Its application was told to stop serving every shard it served.
    expect(released.at(-1)?.shards).toEqual(served);
    // Not before the fence window: one lost read does not fence.
    expect(fencedAfter).toBeGreaterThanOrEqual(s.timing.failureTimeoutMs - 3 * s.timing.heartbeatIntervalMs);

    await s.until(() => s.eventsOf('NodeFailed', cutAt).length > 0, s.timing.failureTimeoutMs * 3);
    const failedAt = s.eventsOf('NodeFailed', cutAt)[0]!.at;
    // Stopped serving a full heartbeat interval before its shards could go elsewhere.
    expect(failedAt - fencedAt).toBeGreaterThanOrEqual(s.timing.heartbeatIntervalMs);

    s.transport.faults.heal('v');
    const acquiredBefore = acquired.length;
    await s.until(() => s.converged() && victim.ownedShards().length > 0, 20_000);
    expect(victim.state().fenced).toBe(false);
    expect(acquired.length).toBeGreaterThan(acquiredBefore);
    expect(victim.ownedShards()).toEqual(
      victim.clusterState()!.shardMap.owners.flatMap((o, shard) => (o === 'v' ? [shard] : [])),
    );
    s.assertInvariants();
  });

  it('a node whose reads keep succeeding never fences', async () => {
    const s = new SimCluster({ shardCount: 64 });
    sim = s;
    await s.startAll(['a', 'b', 'c']);
    await s.until(() => s.converged(), 10_000);
    const fenced = () => [...s.nodes.values()].some((n) => n.state().fenced);
    const start = s.clock.now();
    while (s.clock.now() - start < s.timing.failureTimeoutMs * 5) {
      await s.clock.advance(s.timing.heartbeatIntervalMs / 5);
      expect(fenced()).toBe(false);
    }
  });
});
