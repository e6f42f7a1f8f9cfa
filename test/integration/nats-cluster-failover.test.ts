/**
 * `aether node` processes on a three-server NATS cluster with R3 buckets and audit stream:
 * killing the server that leads the lease stream stalls the store for seconds; the cluster must
 * come back with never two leaders in one term and no shard left without an owner for longer
 * than the recovery takes.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { names } from '../../src/protocol/names.js';
import { type NatsCluster, natsServerAvailable, startNatsCluster, stopAll } from '../support/nats-server.js';
import {
  converged,
  doubleClaims,
  doubleLeaders,
  killAll,
  type NodeProcess,
  readAudit,
  spawnNodes,
} from '../support/node-process.js';

const SHARDS = 64;
/** From the server's death to a converged cluster again (measured: well under half of this). */
const RECOVERY_WINDOW_MS = 25_000;

/** Longest stretch, in ms, during which a node's status lines showed unowned shards. */
function longestOrphaned(n: NodeProcess, until: number): number {
  let since: number | null = null;
  let longest = 0;
  for (const s of n.statuses()) {
    const at = Date.parse(s.at);
    if (s.unowned > 0 && since === null) since = at;
    if (s.unowned === 0 && since !== null) {
      longest = Math.max(longest, at - since);
      since = null;
    }
  }
  return since === null ? longest : Math.max(longest, until - since);
}

describe.skipIf(!natsServerAvailable())('aether node processes on a three-server NATS cluster', () => {
  let nats: NatsCluster;
  let nodes: NodeProcess[] = [];
  const cluster = `f${Math.random().toString(36).slice(2, 8)}`;

  beforeAll(async () => {
    nats = await startNatsCluster(3);
    nodes = spawnNodes(
      ['n1', 'n2', 'n3'],
      [
        '--nats',
        nats.urls.join(','),
        '--cluster',
        cluster,
        '--replicas',
        '3',
        '--shards',
        String(SHARDS),
        '--timing',
        'fast',
        '--log-level',
        'warn',
      ],
    );
    await nodes[0]!
      .waitFor(() => converged(nodes, SHARDS), 'three nodes to converge', 30_000)
      .catch((err: Error) => {
        const each = nodes.map((n) => `${n.id}: ${JSON.stringify(n.status())}\n${n.stderr().slice(-1500)}`);
        throw new Error(`${err.message}\n${each.join('\n')}`);
      });
  }, 60_000);

  afterAll(async () => {
    await killAll(nodes);
    await stopAll();
  });

  it('keeps three replicas, reads through the stream leader and warns about nothing but the server version', async () => {
    const nc = await connect({ servers: [...nats.urls] });
    try {
      const jsm = await jetstreamManager(nc);
      const n = names(cluster);
      for (const stream of [`KV_${n.leaseBucket}`, `KV_${n.topologyBucket}`, n.auditStream]) {
        const info = await jsm.streams.info(stream);
        expect({ stream, replicas: info.config.num_replicas }).toEqual({ stream, replicas: 3 });
      }
      // Direct gets may be served by a lagging replica; leases and maps must not be.
      for (const bucket of [n.leaseBucket, n.topologyBucket]) {
        expect((await jsm.streams.info(`KV_${bucket}`)).config.allow_direct).toBe(false);
      }
    } finally {
      await nc.close();
    }
    for (const node of nodes) {
      expect(node.lines.filter((l) => l.type === 'warning' && l.code === 'REPLICAS')).toEqual([]);
    }
  });

  it('recovers after the lease stream leader server is killed: one leader per term, no shard orphaned past the window', async () => {
    const nc = await connect({ servers: [...nats.urls] });
    let leaderServer: string | undefined;
    try {
      const jsm = await jetstreamManager(nc);
      leaderServer = (await jsm.streams.info(`KV_${names(cluster).leaseBucket}`)).cluster?.leader;
    } finally {
      await nc.close();
    }
    const victim = nats.servers.find((s) => s.name === leaderServer);
    expect(victim, `lease stream leader ${leaderServer} among the servers`).toBeDefined();
    const oldTerm = nodes[0]!.status()!.term!;
    const killedAt = Date.now();
    await victim!.kill();

    // A new term, then a converged cluster again.
    await nodes[0]!.waitFor(
      () => nodes.some((n) => (n.status()?.term ?? 0) > oldTerm) && converged(nodes, SHARDS),
      'the cluster to elect again and converge',
      RECOVERY_WINDOW_MS,
    );
    const recoveredMs = Date.now() - killedAt;
    console.info(`recovered from the loss of the lease stream leader in ${recoveredMs} ms`);

    const audit = await readAudit(
      nats.servers.filter((s) => s !== victim).map((s) => s.url),
      cluster,
    );
    expect(doubleLeaders(audit)).toEqual(new Map());
    expect(doubleClaims(nodes)).toEqual(new Map());
    const elected = audit.filter((a) => a.event.type === 'LeaderElected' && a.event.term > oldTerm);
    expect(elected.length).toBeGreaterThanOrEqual(1);
    // Nobody was declared failed: the nodes kept heartbeating through the surviving servers.
    const failed = audit.filter((a) => a.event.type === 'NodeFailed');
    expect(failed).toEqual([]);
    const now = Date.now();
    for (const n of nodes) {
      expect(n.running()).toBe(true);
      expect(longestOrphaned(n, now)).toBeLessThan(RECOVERY_WINDOW_MS);
      expect(n.status()).toMatchObject({ status: 'Active', unowned: 0 });
    }
  });
});
