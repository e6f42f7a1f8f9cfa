/**
 * Weighted placement: every node's weight reaches the leader, not only the bootstrap leader's. Three
 * nodes of weights 1, 1 and 2 hold 256, 256 and 512 of 1024 shards (within one shard), whichever of
 * them leads — embedded, as library nodes over a real nats-server, and as `aether node --weight`.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { natsTransport } from '../../src/adapters/nats/index.js';
import { FAST_TIMING } from '../../src/config.js';
import { type ClusterNode, createClusterNode } from '../../src/runtime/cluster-node.js';
import { natsServerAvailable, startNatsServer, stopAll, waitUntil } from '../support/nats-server.js';
import { converged, fastNodeArgs, killAll, NodeProcess } from '../support/node-process.js';
import { SimCluster } from '../support/sim-cluster.js';

const SHARDS = 1024;
const WEIGHTS: Record<string, number> = { w1: 1, w2: 1, w3: 2 };
const IDS = Object.keys(WEIGHTS);

/** Whether each node holds its weighted share of the shards, within one shard. */
function weighted(counts: Record<string, number>): boolean {
  const total = Object.values(WEIGHTS).reduce((a, b) => a + b, 0);
  return IDS.every((id) => Math.abs((counts[id] ?? 0) - (SHARDS * (WEIGHTS[id] ?? 0)) / total) <= 1);
}

/** Each node's count against its weighted share of the shards, within one shard. */
function expectWeighted(counts: Record<string, number>): void {
  const total = Object.values(WEIGHTS).reduce((a, b) => a + b, 0);
  expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(SHARDS);
  for (const id of IDS) {
    expect(
      Math.abs((counts[id] ?? 0) - (SHARDS * (WEIGHTS[id] ?? 0)) / total),
      `${id}: ${JSON.stringify(counts)}`,
    ).toBeLessThanOrEqual(1);
  }
}

function countsOf(owners: readonly (string | null)[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of owners) if (o !== null) counts[o] = (counts[o] ?? 0) + 1;
  return counts;
}

describe('weighted placement', () => {
  let sim: SimCluster | null = null;
  afterEach(async () => {
    await sim?.stopAll();
    sim = null;
  });

  it('places shards by weight in an embedded cluster, for every leader (each node bootstraps once)', async () => {
    for (const first of IDS) {
      sim = new SimCluster({ shardCount: SHARDS });
      // The first node starts alone and leads; the others join it.
      await sim.startAll([first], WEIGHTS);
      await sim.startAll(
        IDS.filter((id) => id !== first),
        WEIGHTS,
      );
      const placed = () => countsOf(sim?.leader()?.clusterState()?.shardMap.owners ?? []);
      await sim
        .until(() => sim?.converged() === true && weighted(placed()), 20_000)
        .catch((err: Error) => {
          throw new Error(`${err.message}: ${JSON.stringify(placed())}`);
        });
      expect(sim.leader()?.nodeId).toBe(first);
      expectWeighted(countsOf(sim.leader()?.clusterState()?.shardMap.owners ?? []));
      await sim.stopAll();
      sim = null;
    }
  });
});

describe.skipIf(!natsServerAvailable())('weighted placement over a real nats-server', () => {
  const nodes: ClusterNode[] = [];
  const procs: NodeProcess[] = [];
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.crash()));
    await killAll(procs);
    await stopAll();
  });

  it('library nodes: the joiners weights reach the leader', async () => {
    const server = await startNatsServer();
    const cluster = `w${Math.random().toString(36).slice(2, 8)}`;
    for (const id of IDS) {
      const node = createClusterNode({
        nodeId: id,
        cluster,
        transport: natsTransport({ servers: server.url }),
        timing: FAST_TIMING,
        shardCount: SHARDS,
        weight: WEIGHTS[id] ?? 1,
      });
      nodes.push(node);
      await node.start();
    }
    const leader = () => nodes.find((n) => n.isLeader());
    const placed = () => countsOf(leader()?.clusterState()?.shardMap.owners ?? []);
    // Weights ignored would settle on an even 341/341/342 and never satisfy this.
    await waitUntil(() => weighted(placed()), { timeoutMs: 20_000, what: 'shards placed by weight' }).catch(
      (err: Error) => {
        throw new Error(`${err.message}: ${JSON.stringify(placed())}`);
      },
    );
    expect(leader()?.nodeId).toBe('w1');
    expectWeighted(countsOf(leader()?.clusterState()?.shardMap.owners ?? []));
  });

  it('aether node --weight: the weights of processes that join reach the leader', async () => {
    const server = await startNatsServer();
    const cluster = `w${Math.random().toString(36).slice(2, 8)}`;
    const args = (id: string) => fastNodeArgs(server.url, cluster, SHARDS, '--weight', String(WEIGHTS[id]));
    const first = new NodeProcess('w1', args('w1'));
    procs.push(first);
    await first.waitFor(() => first.status()?.isLeader === true, 'w1 to lead', 20_000);
    for (const id of ['w2', 'w3']) procs.push(new NodeProcess(id, args(id)));
    const counts = () => Object.fromEntries(procs.map((p) => [p.id, p.status()?.shards ?? 0]));
    await first
      .waitFor(
        () => converged(procs, SHARDS) && weighted(counts()),
        'three processes placed by weight',
        30_000,
      )
      .catch((err: Error) => {
        throw new Error(`${err.message}: ${JSON.stringify(counts())}`);
      });
    expectWeighted(counts());
  });
});
