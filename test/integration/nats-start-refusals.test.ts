/**
 * `aether node` refuses, at start and before its first heartbeat, a shard count other than the
 * stored topology's and an id that a running process uses: exit 2 with a message naming the problem,
 * the running cluster unchanged. A restart after a crash (the old process dead) is still admitted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type NatsServerHandle,
  natsServerAvailable,
  startNatsServer,
  stopAll,
} from '../support/nats-server.js';
import { converged, killAll, NodeProcess } from '../support/node-process.js';
import { readTopology } from '../support/topology-reader.js';

const SHARDS = 64;

describe.skipIf(!natsServerAvailable())('aether node refuses a misconfigured start', () => {
  let server: NatsServerHandle;
  let nodes: NodeProcess[] = [];
  const refused: NodeProcess[] = [];
  const cluster = `m${Math.random().toString(36).slice(2, 8)}`;
  const args = (shards = SHARDS) => [
    '--nats',
    server.url,
    '--cluster',
    cluster,
    '--shards',
    String(shards),
    '--timing',
    'fast',
    '--log-level',
    'warn',
  ];

  beforeAll(async () => {
    server = await startNatsServer();
    nodes = [new NodeProcess('n1', args())];
    await nodes[0]!.waitFor(() => nodes[0]!.status()?.isLeader === true, 'n1 to lead', 15_000);
    nodes.push(new NodeProcess('n2', args()));
    await nodes[0]!.waitFor(() => converged(nodes, SHARDS), 'two nodes to converge', 20_000);
  });

  afterAll(async () => {
    await killAll([...nodes, ...refused]);
    await stopAll();
  });

  /** The cluster as the store holds it, without the fields a running cluster changes on its own. */
  async function snapshot() {
    const s = await readTopology(server.url, cluster);
    return { nodes: s?.nodes, owners: s?.shardMap.owners, version: s?.shardMap.version };
  }

  it('refuses a node with another shard count: exit 2, the cluster unchanged', async () => {
    const before = await snapshot();
    const odd = new NodeProcess('n9', args(SHARDS / 2));
    refused.push(odd);
    expect(await odd.exited).toEqual({ code: 2, signal: null });
    expect(odd.stderr()).toContain(
      `refused to start: invalid config: shardCount: cluster "${cluster}" has ${SHARDS} shards in its stored topology; this node was started with ${SHARDS / 2}`,
    );
    expect(odd.statuses().filter((s) => s.status === 'Active')).toEqual([]);
    expect(await snapshot()).toEqual(before);
    expect(converged(nodes, SHARDS)).toBe(true);
  }, 30_000);

  it('refuses a second process with a running node’s id: exit 2, the running one untouched', async () => {
    const before = await snapshot();
    const twin = new NodeProcess('n2', args());
    refused.push(twin);
    expect(await twin.exited).toEqual({ code: 2, signal: null });
    expect(twin.stderr()).toMatch(
      new RegExp(
        `refused to start: invalid config: nodeId: node "n2" already runs in cluster "${cluster}" \\(incarnation \\d+, running\\)`,
      ),
    );
    expect(await snapshot()).toEqual(before);
    expect(nodes[1]!.running()).toBe(true);
    expect(converged(nodes, SHARDS)).toBe(true);
  }, 30_000);

  it('admits a restart after a crash: the old process of the id is dead', async () => {
    const dead = nodes[1]!;
    dead.signal('SIGKILL');
    await dead.exited;
    const restarted = new NodeProcess('n2', args());
    nodes = [nodes[0]!, restarted];
    await restarted.waitFor(() => converged(nodes, SHARDS), 'the restarted n2 to be admitted', 15_000);
  }, 30_000);
});
