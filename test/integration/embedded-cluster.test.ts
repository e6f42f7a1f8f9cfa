import { afterEach, describe, expect, it } from 'vitest';
import { SimCluster } from '../support/sim-cluster.js';

const FIVE = ['n1', 'n2', 'n3', 'n4', 'n5'];

describe('an embedded cluster under a simulated clock', () => {
  let sim: SimCluster;
  afterEach(async () => {
    await sim?.stopAll();
  });

  it('elects exactly one leader and owns all 1024 shards evenly', async () => {
    sim = new SimCluster();
    await sim.startAll(FIVE);
    await sim.until(() => sim.converged() && sim.loads().size === 5, 10_000);
    expect(sim.leaders()).toHaveLength(1);
    const loads = [...sim.loads().values()];
    expect(loads.reduce((a, b) => a + b, 0)).toBe(1024);
    expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(1);
    for (const n of sim.nodes.values()) expect(n.status()).toBe('Active');
    sim.assertInvariants();
  });

  it('replaces a crashed leader with exactly one new leader within TTL + renew interval', async () => {
    sim = new SimCluster();
    await sim.startAll(FIVE);
    await sim.until(() => sim.converged() && sim.loads().size === 5, 10_000);
    const old = sim.leader()!;
    const lastRenewal = sim.eventsOf('LeadershipRenewed').at(-1)?.event.at ?? 0;
    const crashedAt = sim.clock.now();
    await sim.crash(old.nodeId);
    await sim.until(() => sim.leader() !== undefined && sim.leader() !== old, 20_000);
    const elected = sim.eventsOf('LeaderElected', crashedAt);
    expect(elected).toHaveLength(1);
    const at = elected[0]!.at;
    // Not before the old lease could lapse; not later than TTL + one renew interval after the crash.
    expect(at).toBeGreaterThanOrEqual(lastRenewal + sim.timing.leaseTtlMs);
    expect(at - crashedAt).toBeLessThanOrEqual(sim.timing.leaseTtlMs + sim.timing.renewIntervalMs);
    sim.assertInvariants();
  });

  it('marks a crashed node Failed only after the failure timeout, and only then moves its shards to Active nodes', async () => {
    sim = new SimCluster();
    await sim.startAll(FIVE);
    await sim.until(() => sim.converged() && sim.loads().size === 5, 10_000);
    const victim = [...sim.nodes.values()].find((n) => !n.isLeader())!;
    const itsShards = new Set(
      sim
        .leader()!
        .clusterState()!
        .shardMap.owners.flatMap((o, s) => (o === victim.nodeId ? [s] : [])),
    );
    const crashedAt = sim.clock.now();
    await sim.crash(victim.nodeId);
    await sim.until(() => sim.eventsOf('NodeFailed', crashedAt).length > 0, 10_000);
    const failed = sim.eventsOf('NodeFailed', crashedAt)[0]!;
    expect(failed.event.nodeId).toBe(victim.nodeId);
    expect(failed.at - crashedAt).toBeGreaterThanOrEqual(
      sim.timing.failureTimeoutMs - sim.timing.heartbeatIntervalMs,
    );
    const movedBefore = sim.events.filter(
      (e) =>
        e.at >= crashedAt &&
        e.at < failed.at &&
        (e.event.type === 'ShardAssigned' || e.event.type === 'ShardMigrated') &&
        itsShards.has(e.event.shardId),
    );
    expect(movedBefore).toEqual([]);
    await sim.until(
      () =>
        sim
          .leader()!
          .clusterState()!
          .shardMap.owners.every((o) => o !== victim.nodeId && o !== null),
      5_000,
    );
    const recovered = sim.eventsOf('ShardAssigned', failed.at).filter((e) => itsShards.has(e.event.shardId));
    expect(recovered).toHaveLength(itsShards.size);
    const state = sim.leader()!.clusterState()!;
    for (const e of recovered) expect(state.nodes[e.event.nodeId]?.status).toBe('Active');
    sim.assertInvariants();
  });

  it('drains a node: its shards move off before NodeLeft', async () => {
    sim = new SimCluster();
    await sim.startAll(FIVE);
    await sim.until(() => sim.converged() && sim.loads().size === 5, 10_000);
    const target = [...sim.nodes.values()].find((n) => !n.isLeader())!;
    const drainedAt = sim.clock.now();
    let done = false;
    target.drain().then(() => {
      done = true;
    });
    await sim.until(() => done, 20_000);
    const left = sim.eventsOf('NodeLeft', drainedAt);
    expect(left.map((e) => e.event.nodeId)).toEqual([target.nodeId]);
    expect(left[0]!.event.reason).toBe('drained');
    const migrated = sim.eventsOf('ShardMigrated', drainedAt).filter((e) => e.event.from === target.nodeId);
    expect(migrated.length).toBeGreaterThan(0);
    for (const m of migrated) expect(m.at).toBeLessThanOrEqual(left[0]!.at);
    expect(sim.eventsOf('NodeFailed', drainedAt)).toEqual([]);
    await sim.until(() => sim.converged(), 5_000);
    expect(sim.loads().has(target.nodeId)).toBe(false);
    sim.assertInvariants();
  });

  it('records NodeLeft at once on a graceful stop, with no failure timeout', async () => {
    sim = new SimCluster();
    await sim.startAll(FIVE);
    await sim.until(() => sim.converged() && sim.loads().size === 5, 10_000);
    const target = [...sim.nodes.values()].find((n) => !n.isLeader())!;
    const stoppedAt = sim.clock.now();
    let done = false;
    target.stop().then(() => {
      done = true;
    });
    await sim.until(() => done && sim.eventsOf('NodeLeft', stoppedAt).length > 0, 5_000);
    const left = sim.eventsOf('NodeLeft', stoppedAt)[0]!;
    expect(left.event.reason).toBe('graceful');
    expect(left.at - stoppedAt).toBeLessThan(sim.timing.failureTimeoutMs);
    await sim.until(() => sim.converged() && !sim.loads().has(target.nodeId), 5_000);
    expect(sim.eventsOf('NodeFailed', stoppedAt)).toEqual([]);
    sim.assertInvariants();
  });

  it('gives a joining node shards, moving only the placement minimum', async () => {
    sim = new SimCluster();
    await sim.startAll(FIVE.slice(0, 4));
    await sim.until(() => sim.converged() && sim.loads().size === 4, 10_000);
    const joinedAt = sim.clock.now();
    await sim.startAll(['n5']);
    await sim.until(
      () => sim.converged() && sim.loads().size === 5 && sim.leader()!.clusterState()!.rebalance === null,
      10_000,
    );
    const moved = sim.eventsOf('ShardMigrated', joinedAt);
    expect(moved.every((e) => e.event.to === 'n5')).toBe(true);
    expect(moved.length).toBe(sim.loads().get('n5'));
    expect([Math.floor(1024 / 5), Math.ceil(1024 / 5)]).toContain(moved.length);
    sim.assertInvariants();
  });

  it('a leader cut off from the store steps down by its renew deadline; after healing there is one leader and one map', async () => {
    sim = new SimCluster();
    await sim.startAll(FIVE);
    await sim.until(() => sim.converged() && sim.loads().size === 5, 10_000);
    const old = sim.leader()!;
    const oldTerm = old.leader()!.term;
    const cutAt = sim.clock.now();
    sim.transport.faults.isolate(old.nodeId);
    await sim.until(() => !old.isLeader(), sim.timing.renewDeadlineMs + 100);
    const lost = sim.eventsOf('LeadershipLost', cutAt);
    expect(lost.map((e) => e.event.nodeId)).toContain(old.nodeId);
    await sim.until(() => sim.leaders().length === 1 && sim.leader() !== old, 10_000);
    const newTerm = sim.leader()!.leader()!.term;
    expect(newTerm).toBeGreaterThan(oldTerm);
    sim.transport.faults.heal(old.nodeId);
    await sim.until(() => sim.leaders().length === 1 && sim.converged(), 15_000);
    // The old leader's term is fenced: a topology write stamped with it is refused by compare-and-set.
    const topology = await sim.transport.connect('probe');
    const bucket = await topology.kv('aether_sim_topology');
    const current = await bucket.get('topology');
    expect(current).not.toBeNull();
    await expect(bucket.update('topology', current!.value, current!.revision - 1)).rejects.toThrow(
      /revision/,
    );
    sim.assertInvariants();
  });

  it('elects a leader again when every node restarts within the failure timeout', async () => {
    sim = new SimCluster();
    await sim.startAll(['n1', 'n2', 'n3']);
    await sim.until(() => sim.converged() && sim.loads().size === 3, 10_000);
    for (const id of ['n1', 'n2', 'n3']) await sim.crash(id);
    await sim.clock.advance(100);
    // New processes, same ids, while the store still records the old incarnations as Active.
    await sim.startAll(['n1', 'n2', 'n3']);
    await sim.until(() => sim.converged() && sim.loads().size === 3, 20_000);
    sim.assertInvariants();
  });

  it('carries the load a node reports in its heartbeats to every node, the leader included', async () => {
    sim = new SimCluster();
    await sim.startAll(['n1', 'n2', 'n3']);
    await sim.until(() => sim.converged() && sim.loads().size === 3, 10_000);
    const reporter = [...sim.nodes.values()].find((n) => !n.isLeader())!;
    reporter.reportLoad(42);
    const seenBy = (viewer: { state: () => { nodes: readonly { id: string; load: number }[] } }) =>
      viewer.state().nodes.find((n) => n.id === reporter.nodeId)?.load;
    expect(seenBy(reporter)).toBe(42);
    await sim.until(
      () => [...sim.nodes.values()].every((n) => seenBy(n) === 42),
      sim.timing.heartbeatIntervalMs * 3,
    );
    expect(seenBy(sim.leader()!)).toBe(42);
    expect(() => reporter.reportLoad(-1)).toThrow(/load/);
  });
});
