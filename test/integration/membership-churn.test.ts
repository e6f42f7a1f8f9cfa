/**
 * Id churn: departed members are compacted from the topology after their retention and their
 * lifecycle actors stop, so 1,000 joins and leaves of fresh ids leave the record and the actor tree
 * bounded on every node (before compaction, both grew by one member per id that ever joined).
 */
import { afterEach, expect, it } from 'vitest';
import { SimCluster } from '../support/sim-cluster.js';

const CHURN = Number(process.env.CHURN ?? 1000);
/** Fresh nodes joining at once: the churn is paced in waves to keep the test short. */
const WAVE = Number(process.env.WAVE ?? 10);

let sim: SimCluster | null = null;
afterEach(async () => {
  await sim?.stopAll();
});

it('keeps the topology record and the actor tree bounded through 1,000 joins and leaves of fresh ids', async () => {
  const s = new SimCluster({ shardCount: 64 });
  sim = s;
  await s.startAll(['a', 'b']);
  const stable = [s.node('a'), s.node('b')];
  let maxMembers = 0;
  let maxRecordBytes = 0;
  let maxActors = 0;
  const measure = () => {
    for (const n of stable) {
      const state = n.clusterState();
      if (!state) continue;
      maxMembers = Math.max(maxMembers, Object.keys(state.nodes).length);
      maxRecordBytes = Math.max(maxRecordBytes, JSON.stringify(state).length);
      maxActors = Math.max(maxActors, Object.keys(n.actor?.getSnapshot().children ?? {}).length);
    }
  };
  for (let wave = 0; wave < CHURN / WAVE; wave++) {
    const ids = Array.from({ length: WAVE }, (_, i) => `c${wave * WAVE + i}`);
    await s.startAll(ids);
    measure();
    const stopping = ids.map((id) => s.node(id).stop());
    let stopped = false;
    void Promise.all(stopping).then(() => {
      stopped = true;
    });
    await s.until(() => stopped, 30_000);
    measure();
    for (const id of ids) s.nodes.delete(id);
    // Churn at a pace: a wave every quarter of the retention, so departures come due as it goes on.
    await s.clock.advance(s.timing.departedRetentionMs / 4);
  }
  // Let the last departures pass their retention, then everything departed is gone.
  await s.until(
    () => stable.every((n) => Object.keys(n.clusterState()?.nodes ?? {}).length === 2),
    s.timing.departedRetentionMs * 3,
  );
  measure();
  // Members on record at once: the two stable nodes and the departures of about one retention (plus
  // up to a heartbeat interval before the leader notices they are due): five waves of ten.
  expect(maxMembers).toBeLessThanOrEqual(2 + 5 * WAVE + WAVE);
  expect(maxRecordBytes).toBeLessThanOrEqual(20_000);
  // Actors per node: leadership, shard host, rebalancer, and one lifecycle per member on record.
  expect(maxActors).toBeLessThanOrEqual(70);
  for (const n of stable) {
    const children = Object.keys(n.actor?.getSnapshot().children ?? {});
    expect(children.filter((c) => c.startsWith('lifecycle-')).sort()).toEqual(['lifecycle-a', 'lifecycle-b']);
  }
  s.assertInvariants();
  console.log(
    `churn: ${CHURN} ids; at most ${maxMembers} members, ${maxRecordBytes} bytes, ${maxActors} actors per node`,
  );
}, 300_000);
