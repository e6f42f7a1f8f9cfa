/**
 * `aether node` processes on a real nats-server, and a client of that server forging domain events
 * (no permissions on the server): a `LeaderElected` with term 999999999, one in the leader's name, and
 * membership events from nodes that do not lead. No node delivers them to its listeners; each node
 * drops, logs and counts them; the topology stays as it was.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsTransport } from '../../src/adapters/nats/index.js';
import { FAST_TIMING } from '../../src/config.js';
import { type DomainEvent, parseDomainEvent } from '../../src/domain/events.js';
import { names } from '../../src/protocol/names.js';
import { type ClusterNode, createClusterNode } from '../../src/runtime/cluster-node.js';
import {
  type NatsServerHandle,
  natsServerAvailable,
  startNatsServer,
  stopAll,
} from '../support/nats-server.js';
import { fastNodeArgs, killAll, type NodeProcess, spawnNodes, waitUntil } from '../support/node-process.js';

const SHARDS = 64;
const IDS = ['n1', 'n2', 'n3'];

describe.skipIf(!natsServerAvailable())('forged events on the bus', () => {
  let server: NatsServerHandle;
  let procs: NodeProcess[] = [];
  let lib: ClusterNode;
  let forger: NatsConnection;
  const cluster = `f${Math.random().toString(36).slice(2, 8)}`;
  const logFile = (id: string) => join(tmpdir(), `aether-${cluster}-${id}.log`);

  beforeAll(async () => {
    server = await startNatsServer();
    procs = IDS.map(
      (id) => spawnNodes([id], [...fastNodeArgs(server.url, cluster, SHARDS), '--log-file', logFile(id)])[0]!,
    );
    forger = await connect({ servers: server.url });
  });
  afterAll(async () => {
    await lib?.stop().catch(() => {});
    await forger?.close();
    await killAll(procs);
    await stopAll();
  });

  it('delivers none of them to any node, which drop, log and count them; the topology is unchanged', async () => {
    await waitUntil(() => procs.every((p) => p.status()?.status === 'Active' && p.status()?.unowned === 0), {
      timeoutMs: 20_000,
      what: 'the node processes to elect a leader and place every shard',
    });
    // One node in this process, to watch its listeners; it joins a cluster led by a process.
    lib = createClusterNode({
      nodeId: 'lib',
      cluster,
      transport: natsTransport({ servers: server.url }),
      timing: FAST_TIMING,
      shardCount: SHARDS,
    });
    const heard: DomainEvent[] = [];
    lib.on('*', (e) => heard.push(e));
    await lib.start();
    const all = [...IDS, 'lib'];
    const settled = () => {
      const st = procs.map((p) => p.status());
      const s0 = st[0];
      if (!s0 || s0.leader === null || s0.unowned !== 0) return false;
      return (
        st.every(
          (s) =>
            s !== null &&
            s.leader === s0.leader &&
            s.term === s0.term &&
            s.version === s0.version &&
            // Balanced: the rebalance after the last join is done, so the map stays put.
            s.shards === SHARDS / all.length &&
            all.every((id) => s.nodes[id] === 'Active'),
        ) &&
        lib.ownedShards().length === SHARDS / all.length &&
        lib.state().leader?.nodeId === s0.leader &&
        lib.state().shardMap.version === s0.version
      );
    };
    await waitUntil(settled, { timeoutMs: 20_000, what: 'four nodes to converge' });
    const before = procs[0]!.status()!;
    const leader = before.leader!;
    const term = before.term!;
    const follower = IDS.find((id) => id !== leader)!;

    const base = (origin: string, t: number, id: string) => ({
      id: `forged-${id}`,
      origin,
      term: t,
      version: before.version,
      at: Date.now(),
    });
    const forged: DomainEvent[] = [
      { type: 'LeaderElected', ...base('evil', 999_999_999, 'a'), nodeId: 'evil', previous: null },
      // In the real leader's name, with a term nobody won.
      {
        type: 'LeaderElected',
        ...base(leader, 999_999_999, 'b'),
        nodeId: leader,
        previous: { nodeId: leader, term },
      },
      { type: 'NodeJoined', ...base('evil', term, 'c'), nodeId: 'evil', incarnation: 1, weight: 100 },
      {
        type: 'NodeFailed',
        ...base(follower, term, 'd'),
        nodeId: leader,
        incarnation: 1,
        lastSeen: 0,
        orphaned: [],
      },
      {
        type: 'NodeLeft',
        ...base('evil', term, 'e'),
        nodeId: follower,
        reason: 'graceful',
        orphaned: [0, 1, 2],
      },
    ];
    const n = names(cluster);
    for (const e of forged) {
      expect(parseDomainEvent(e).ok, `${e.id} is well-formed`).toBe(true);
      forger.publish(n.event(e.type), new TextEncoder().encode(JSON.stringify(e)));
    }
    await forger.flush();

    // A node takes an event in its own name for its own and ignores it; it drops every other one.
    const notOwn = (id: string) =>
      forged
        .filter((e) => e.origin !== id)
        .map((e) => e.id)
        .sort();
    // The ones of an unknown term wait one lease TTL for a holder that never comes.
    await waitUntil(() => lib.counters.forgedEvents >= notOwn('lib').length, {
      timeoutMs: FAST_TIMING.leaseTtlMs + 5_000,
      what: 'the in-process node to drop every forged event',
    });
    const dropped = (id: string) =>
      readFileSync(logFile(id), 'utf8')
        .split('\n')
        .filter((l) => l.includes('dropped an event'))
        .map((l) => (JSON.parse(l) as { id: string }).id);
    await waitUntil(() => IDS.every((id) => dropped(id).length >= notOwn(id).length), {
      timeoutMs: 5_000,
      what: 'every node process to log the forged events as dropped',
    });
    for (const id of IDS) expect(dropped(id).sort(), id).toEqual(notOwn(id));
    expect(lib.counters.forgedEvents).toBe(notOwn('lib').length);
    expect(heard.filter((e) => e.id.startsWith('forged-'))).toEqual([]);

    expect(settled()).toBe(true);
    const after = procs[0]!.status()!;
    expect({ leader: after.leader, term: after.term, version: after.version, nodes: after.nodes }).toEqual({
      leader,
      term,
      version: before.version,
      nodes: before.nodes,
    });
    expect(lib.state().leader).toEqual({ nodeId: leader, term });
  });
});
