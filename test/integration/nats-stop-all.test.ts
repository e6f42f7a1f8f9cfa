/**
 * Every node of a five-process cluster SIGTERMed at once: each exits 0 promptly, no stopping node is
 * elected, and the final topology has no Active node, because the leader records the leaves of the
 * nodes stopping with it before its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type NatsServerHandle,
  natsServerAvailable,
  startNatsServer,
  stopAll,
} from '../support/nats-server.js';
import { converged, fastNodeArgs, killAll, NodeProcess, readAudit } from '../support/node-process.js';
import { readTopology } from '../support/topology-reader.js';

const SHARDS = 64;
const IDS = ['n1', 'n2', 'n3', 'n4', 'n5'];

describe.skipIf(!natsServerAvailable())('stopping every node at once', () => {
  let server: NatsServerHandle;
  let nodes: NodeProcess[] = [];
  const cluster = `s${Math.random().toString(36).slice(2, 8)}`;

  beforeAll(async () => {
    server = await startNatsServer();
    nodes = IDS.map(
      (id) =>
        new NodeProcess(id, [
          // Far above the stop: a node shown Failed in the end was judged, not left.
          ...fastNodeArgs(server.url, cluster, SHARDS, '--failure-timeout', '8s'),
        ]),
    );
    await nodes[0]!.waitFor(() => converged(nodes, SHARDS), 'five nodes to converge', 30_000);
  });

  afterAll(async () => {
    await killAll(nodes);
    await stopAll();
  });

  it('every process exits 0 promptly, no stopping node is elected, and no node stays Active', async () => {
    const before = await readAudit(server.url, cluster);
    const termBefore = Math.max(
      ...before.filter((a) => a.event.type === 'LeaderElected').map((a) => a.event.term),
    );
    const sentAt = Date.now();
    for (const n of nodes) n.signal('SIGTERM');
    const exits = await Promise.all(nodes.map((n) => n.exited));
    const tookMs = Date.now() - sentAt;
    expect(exits).toEqual(nodes.map(() => ({ code: 0, signal: null })));
    // Well within the leave budget (2 × the 2 s lease TTL) that a node waits for a leader's answer.
    expect(tookMs).toBeLessThan(3_000);

    const audit = await readAudit(server.url, cluster);
    const electedSince = audit.flatMap((a) =>
      a.event.type === 'LeaderElected' && a.event.term > termBefore ? [a.event.nodeId] : [],
    );
    expect(electedSince).toEqual([]);
    const topology = await readTopology(server.url, cluster);
    expect(topology).not.toBeNull();
    const statuses = Object.fromEntries(Object.values(topology!.nodes).map((n) => [n.id, n.status]));
    expect(statuses).toEqual(Object.fromEntries(IDS.map((id) => [id, 'Left'])));
    console.info(`five nodes stopped at once in ${tookMs} ms`);
  }, 60_000);
});
