/**
 * Self-fencing of real processes: an `aether node` cut off from nats-server by a TCP proxy for
 * longer than the failure timeout says it serves nothing (fenced, 0 shards) before the leader
 * records it Failed and gives its shards away, and serves again once it is back and rejoined.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { natsServerAvailable, startNatsServer, stopAll } from '../support/nats-server.js';
import { converged, fastNodeArgs, killAll, NodeProcess, readAudit } from '../support/node-process.js';
import { type NatsProxy, natsProxy } from '../support/tcp-proxy.js';

const SHARDS = 64;
const HEARTBEAT_MS = 500;

describe.skipIf(!natsServerAvailable())('self-fencing of node processes over a real nats-server', () => {
  const procs: NodeProcess[] = [];
  let proxy: NatsProxy | null = null;
  afterAll(async () => {
    await killAll(procs);
    await proxy?.close();
    await stopAll();
  });

  it('a node cut off from NATS stops serving before the leader reassigns its shards, and serves again once back', async () => {
    const server = await startNatsServer();
    const cluster = `f${Math.random().toString(36).slice(2, 8)}`;
    proxy = await natsProxy(server.port);
    const args = (url: string) => fastNodeArgs(url, cluster, SHARDS);
    const leader = new NodeProcess('a', args(server.url));
    procs.push(leader);
    await leader.waitFor(() => leader.status()?.isLeader === true, 'a to lead', 20_000);
    const other = new NodeProcess('b', args(server.url));
    const victim = new NodeProcess('v', args(proxy.url));
    procs.push(other, victim);
    const all = [leader, other, victim];
    await leader.waitFor(
      () => converged(all, SHARDS) && all.every((p) => (p.status()?.shards ?? 0) > 0),
      'three processes to converge, each serving shards',
      20_000,
    );

    const cutAt = Date.now();
    proxy.cut();
    await victim.waitFor(
      () => victim.status()?.fenced === true && victim.status()?.shards === 0,
      'the cut-off node to fence itself',
      10_000,
    );
    const fencedLine = victim.statuses().find((s) => Date.parse(s.at) >= cutAt && s.fenced)!;
    const fencedAt = Date.parse(fencedLine.at);

    await leader.waitFor(() => leader.status()?.nodes.v === 'Failed', 'the leader to fail v', 10_000);
    const failed = (await readAudit(server.url, cluster)).find(
      (e) => e.event.type === 'NodeFailed' && e.event.nodeId === 'v' && e.event.at >= cutAt,
    );
    expect(failed).toBeDefined();
    // One clock (this host): the node had stopped serving at least a heartbeat interval before.
    expect(failed!.event.at - fencedAt).toBeGreaterThanOrEqual(HEARTBEAT_MS);

    proxy.heal();
    await victim.waitFor(
      () => converged(all, SHARDS) && victim.status()?.fenced === false && (victim.status()?.shards ?? 0) > 0,
      'the node to rejoin and serve again',
      30_000,
    );
  });
});
