/**
 * A node restarted with the same id while its old process's leave is still on its way: the late
 * leave names the old incarnation, so the leader refuses it and the new process stays Active with
 * its shards. The overlap is forced by a proxy that holds what the old process sends: its leave
 * reaches the leader only after the new process was admitted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HoldingProxy, holdingProxy } from '../support/holding-proxy.js';
import {
  type NatsServerHandle,
  natsServerAvailable,
  startNatsServer,
  stopAll,
} from '../support/nats-server.js';
import { converged, fastNodeArgs, killAll, NodeProcess, readAudit } from '../support/node-process.js';
import { readTopology } from '../support/topology-reader.js';

const SHARDS = 64;

describe.skipIf(!natsServerAvailable())('a same-id restart overlapping the old process’s leave', () => {
  let server: NatsServerHandle;
  let proxy: HoldingProxy;
  const procs: NodeProcess[] = [];
  const cluster = `r${Math.random().toString(36).slice(2, 8)}`;
  const args = (url: string) => [
    // Well above the test's length: the old incarnation must be replaced by the join, not failed.
    ...fastNodeArgs(url, cluster, SHARDS, '--failure-timeout', '8s'),
  ];

  beforeAll(async () => {
    server = await startNatsServer();
    proxy = await holdingProxy(server.port);
  });

  afterAll(async () => {
    await killAll(procs);
    await proxy.close();
    await stopAll();
  });

  it('keeps the new incarnation Active with its shards; the old leave is refused as stale', async () => {
    // n1 first, so that it leads; n3's old process talks to NATS through the proxy.
    const n1 = new NodeProcess('n1', args(server.url));
    procs.push(n1);
    await n1.waitFor(() => n1.status()?.isLeader === true, 'n1 to lead', 15_000);
    const n2 = new NodeProcess('n2', args(server.url));
    const oldN3 = new NodeProcess('n3', args(proxy.url));
    procs.push(n2, oldN3);
    await n1.waitFor(() => converged([n1, n2, oldN3], SHARDS), 'three nodes to converge', 20_000);

    // The old process's leave is sent now and held on the wire.
    proxy.hold();
    oldN3.signal('SIGTERM');
    const newN3 = new NodeProcess('n3', args(server.url));
    procs.push(newN3);
    await newN3.waitFor(
      () => newN3.status()?.status === 'Active' && (newN3.status()?.shards ?? 0) > 0,
      'the new n3 to be admitted and own shards',
      15_000,
    );
    proxy.release();

    expect(await oldN3.exited).toEqual({ code: 0, signal: null });
    const topology = await readTopology(server.url, cluster);
    expect(topology?.nodes.n3?.status).toBe('Active');
    expect(topology?.shardMap.owners.filter((o) => o === 'n3').length).toBeGreaterThan(0);
    const audit = await readAudit(server.url, cluster);
    expect(audit.filter((a) => a.event.type === 'NodeLeft')).toEqual([]);
    // The old incarnation was replaced by the join (failed first), never the new one.
    const failed = audit.flatMap((a) => (a.event.type === 'NodeFailed' ? [a.event] : []));
    expect(failed.map((e) => e.nodeId)).toEqual(['n3']);
    expect(topology?.nodes.n3?.incarnation).toBeGreaterThan(failed[0]!.incarnation);
    // The old process waited for the leader's answer before it exited: refused, naming the stale incarnation.
    expect(oldN3.stderr()).toContain('STALE_INCARNATION');
    expect(newN3.running()).toBe(true);
    expect(newN3.status()).toMatchObject({ status: 'Active' });
  }, 60_000);
});
