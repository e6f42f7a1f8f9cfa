/**
 * `aether node` processes on a real nats-server, and a client of that server that is no node (no
 * permissions on the server) writing the lease with term 999999999 in the name of a node that does not
 * exist. The leader loses its lease (anyone may write that key without permissions), but the forged
 * term is no committed term: once the forged lease lapses a node is elected again, every node follows
 * its topology, a node that joins afterwards is adopted by all, and no term has two leaders.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsTransport } from '../../src/adapters/nats/index.js';
import { FAST_TIMING } from '../../src/config.js';
import { systemClock } from '../../src/ports/clock.js';
import type { Connection } from '../../src/ports/transport.js';
import { decodeLease } from '../../src/protocol/codec.js';
import { names } from '../../src/protocol/names.js';
import { LEASE_KEY } from '../../src/runtime/lease-store.js';
import { FORGED_NODE, FORGED_TERM, Forger } from '../../src/sim/forger.js';
import {
  type NatsServerHandle,
  natsServerAvailable,
  startNatsServer,
  stopAll,
} from '../support/nats-server.js';
import {
  converged,
  doubleClaims,
  doubleLeaders,
  fastNodeArgs,
  killAll,
  NodeProcess,
  readAudit,
  waitUntil,
} from '../support/node-process.js';
import { readTopology } from '../support/topology-reader.js';

const SHARDS = 48;
const IDS = ['n1', 'n2', 'n3'];

describe.skipIf(!natsServerAvailable())('a forged lease write', () => {
  let server: NatsServerHandle;
  const procs: NodeProcess[] = [];
  let conn: Connection | null = null;
  let forger: Forger | null = null;
  const cluster = `l${Math.random().toString(36).slice(2, 8)}`;
  const args = () => fastNodeArgs(server.url, cluster, SHARDS);

  beforeAll(async () => {
    server = await startNatsServer();
    for (const id of IDS) procs.push(new NodeProcess(id, args()));
  });
  afterAll(async () => {
    forger?.stop();
    await conn?.close().catch(() => {});
    await killAll(procs);
    await stopAll();
  });

  it('does not wedge the cluster: a later join is adopted by every node, one leader per term', async () => {
    await waitUntil(() => converged(procs, SHARDS), { timeoutMs: 30_000, what: 'three nodes to converge' });
    const before = procs[0]!.status()!;
    const state = await readTopology(server.url, cluster);

    const n = names(cluster);
    conn = await natsTransport({ servers: server.url }).connect('not-a-node');
    const lease = await conn.kv(n.leaseBucket, { ttlMs: FAST_TIMING.leaseTtlMs });
    forger = new Forger({
      conn,
      lease,
      names: n,
      clock: systemClock,
      cluster: () => state,
      kinds: ['lease'],
    });
    forger.start(IDS[0]!);
    const forgedLease = async () => {
      const e = await lease.get(LEASE_KEY);
      const d = e === null ? null : decodeLease(e.value, e.revision);
      return d?.ok === true && d.value.holder === FORGED_NODE && d.value.term === FORGED_TERM;
    };
    await waitUntil(forgedLease, { timeoutMs: 5_000, what: 'the forged lease to be written' });
    // Every node has seen it: the leader lost its lease to it.
    await waitUntil(() => procs.every((p) => p.status()?.isLeader === false), {
      timeoutMs: 5_000,
      what: 'the leader to lose its lease to the forged one',
    });
    forger.stop();

    // The forged lease lapses; a node is elected in a term the store hands out, far below the forged one.
    await waitUntil(() => converged(procs, SHARDS) && procs[0]!.status()!.term !== before.term, {
      timeoutMs: 20_000,
      what: 'every node to follow a newly elected leader',
    });
    const term = procs[0]!.status()!.term!;
    expect(term).toBeLessThan(FORGED_TERM);

    // A topology change after the forgery: every node adopts it.
    const n4 = new NodeProcess('n4', args());
    procs.push(n4);
    await waitUntil(() => converged(procs, SHARDS), {
      timeoutMs: 20_000,
      what: 'every node, the new one included, to adopt the join',
    });
    const topology = await readTopology(server.url, cluster);
    expect(topology?.nodes.n4?.status).toBe('Active');
    expect(topology?.highestTerm).toBeLessThan(FORGED_TERM);
    for (const p of procs) expect(p.status()?.nodes.n4, p.id).toBe('Active');

    expect(doubleClaims(procs)).toEqual(new Map());
    const audit = await readAudit(server.url, cluster);
    expect(doubleLeaders(audit)).toEqual(new Map());
    expect(audit.some((a) => a.event.term === FORGED_TERM)).toBe(false);
  }, 90_000);
});
