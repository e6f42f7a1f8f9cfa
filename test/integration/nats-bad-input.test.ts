/**
 * In-process nodes over a real nats-server, facing hostile or broken input and a lost connection:
 * garbage, wrong-schema, oversized and stale messages on every subject a node listens to are
 * dropped, logged and counted while the cluster keeps coordinating; a leader cut off from NATS
 * steps down by its renew deadline, before anyone else takes over, and re-sends what it could not
 * publish once it is back.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { natsTransport } from '../../src/adapters/nats/index.js';
import { FAST_TIMING } from '../../src/config.js';
import { checkInvariants } from '../../src/domain/invariants.js';
import { names } from '../../src/protocol/names.js';
import { type ClusterNode, createClusterNode } from '../../src/runtime/cluster-node.js';
import {
  type NatsServerHandle,
  natsServerAvailable,
  startNatsServer,
  stopAll,
  waitUntil,
} from '../support/nats-server.js';
import { readAudit } from '../support/node-process.js';
import { natsProxy } from '../support/tcp-proxy.js';

const SHARDS = 64;
const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));

/** Log lines of every node, to check that drops are logged and not only counted. */
const logged: { node?: string; msg?: string; kind?: string }[] = [];
const logger = pino(
  { level: 'warn' },
  {
    write: (line: string) => {
      logged.push(JSON.parse(line) as (typeof logged)[number]);
    },
  },
);

function sameView(nodes: readonly ClusterNode[]): boolean {
  const states = nodes.map((n) => n.clusterState());
  const s0 = states[0];
  if (!s0?.leader) return false;
  return states.every(
    (s) =>
      s !== null &&
      s.leader?.nodeId === s0.leader?.nodeId &&
      s.shardMap.version === s0.shardMap.version &&
      s.shardMap.owners.every((o) => o !== null) &&
      nodes.every((n) => s.nodes[n.nodeId]?.status === 'Active'),
  );
}

describe.skipIf(!natsServerAvailable())('nodes over NATS facing bad input and a lost connection', () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;
  const started: ClusterNode[] = [];
  const proxies: Awaited<ReturnType<typeof natsProxy>>[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  afterEach(async () => {
    await Promise.allSettled(started.splice(0).map((n) => n.crash()));
    await Promise.allSettled(proxies.splice(0).map((p) => p.close()));
  });
  afterAll(async () => {
    await nc?.close();
    await stopAll();
  });

  async function startNode(nodeId: string, cluster: string, url = server.url): Promise<ClusterNode> {
    const node = createClusterNode({
      nodeId,
      cluster,
      transport: natsTransport({ servers: url }),
      timing: FAST_TIMING,
      shardCount: SHARDS,
      logger,
    });
    started.push(node);
    await node.start();
    return node;
  }

  it('drops, logs and counts garbage, wrong-schema, oversized and stale messages on every subject, and keeps coordinating', async () => {
    const cluster = `b${Math.random().toString(36).slice(2, 8)}`;
    const n = names(cluster);
    // Move the lease bucket's revisions on, so the first term is above 1 and a lower one exists.
    const warm = await natsTransport({ servers: server.url }).connect('warm-up');
    const leaseBucket = await warm.kv(n.leaseBucket, { ttlMs: FAST_TIMING.leaseTtlMs });
    for (let i = 0; i < 3; i++) await leaseBucket.create(`warm-up-${i}`, enc('x'));
    await warm.close();
    const [n1, n2, n3] = [
      await startNode('n1', cluster),
      await startNode('n2', cluster),
      await startNode('n3', cluster),
    ];
    const nodes = [n1!, n2!, n3!];
    await waitUntil(() => sameView(nodes), { timeoutMs: 15_000, what: 'three nodes to converge' });
    // Let the placement settle (all three admitted and owning shards, no rebalance running), so the
    // map must stay as it is.
    await waitUntil(
      () =>
        sameView(nodes) &&
        nodes.every(
          (x) =>
            x.status() === 'Active' &&
            x.ownedShards().length > 0 &&
            x.state().handoffs.length === 0 &&
            x.clusterState()?.rebalance === null,
        ),
      {
        timeoutMs: 15_000,
        what: 'rebalancing to finish',
      },
    );
    const before = n1!.clusterState()!;
    const leader = nodes.find((x) => x.isLeader())!;
    const victim = nodes.find((x) => !x.isLeader())!;
    const victimShards = victim.ownedShards();
    const term = before.leader!.term;
    expect(term).toBeGreaterThan(0);

    const garbage = new Uint8Array([0xff, 0xfe, 0x00, 0x9c, 0x42]);
    const oversized = enc({ type: 'NodeJoined', pad: 'x'.repeat(300 * 1024) });
    const validEvent = {
      type: 'NodeJoined',
      id: 'forged-1',
      origin: 'mallory',
      term: term - 1,
      version: before.shardMap.version,
      at: Date.now(),
      nodeId: 'mallory',
      incarnation: 1,
      weight: 1,
    };
    // Events: garbage, wrong schema, oversized, a type that does not match its subject, a lower term.
    nc.publish(n.event('NodeJoined'), garbage);
    nc.publish(n.event('NodeJoined'), enc({ type: 'NodeJoined', nodeId: 42 }));
    nc.publish(n.event('NodeJoined'), oversized);
    nc.publish(n.event('NodeFailed'), enc({ ...validEvent, term }));
    nc.publish(n.event('NodeJoined'), enc(validEvent));
    // Heartbeats: garbage, wrong schema, oversized, an older incarnation of a live node.
    const victimInfo = before.nodes[victim.nodeId]!;
    nc.publish(n.heartbeats, garbage);
    nc.publish(n.heartbeats, enc({ nodeId: 'n9', status: 'Bogus' }));
    nc.publish(n.heartbeats, oversized);
    nc.publish(
      n.heartbeats,
      enc({
        nodeId: victim.nodeId,
        incarnation: victimInfo.incarnation - 1,
        weight: 1,
        status: 'Active',
        version: 0,
        load: 0,
      }),
    );
    // Commands to the leader and hand-offs to a follower: malformed ones are answered and counted.
    const replies: string[] = [];
    for (const data of [garbage, enc({ requestId: 'r', command: { type: 'nuke' } }), oversized]) {
      replies.push(new TextDecoder().decode((await nc.request(n.leader, data, { timeout: 2_000 })).data));
    }
    for (const data of [garbage, enc({ term, shards: 'all' }), oversized]) {
      replies.push(
        new TextDecoder().decode((await nc.request(n.handoff(victim.nodeId), data, { timeout: 2_000 })).data),
      );
    }
    // Requests in the current format: each shard to a target under an incarnation.
    const toN0 = (shards: readonly number[]) =>
      shards.map((shardId) => ({ shardId, to: 'n0', incarnation: 1 }));
    // A hand-off from a deposed leader (lower term) asking for every shard the follower owns.
    const stale = JSON.parse(
      new TextDecoder().decode(
        (
          await nc.request(
            n.handoff(victim.nodeId),
            enc({ term: term - 1, leader: 'n0', moves: toN0(victimShards), version: 0 }),
            {
              timeout: 2_000,
            },
          )
        ).data,
      ),
    ) as { released: number[]; refused?: string };
    // A forged hand-off in the current term from a node that does not hold the lease.
    const forged = JSON.parse(
      new TextDecoder().decode(
        (
          await nc.request(
            n.handoff(victim.nodeId),
            enc({ term, leader: 'n0', moves: toN0(victimShards), version: 0 }),
            { timeout: 2_000 },
          )
        ).data,
      ),
    ) as { released: number[]; refused?: string };
    await nc.flush();

    expect(replies.slice(0, 3).map((r) => JSON.parse(r).code)).toEqual([
      'MALFORMED',
      'MALFORMED',
      'MALFORMED',
    ]);
    expect(replies.slice(3).map((r) => JSON.parse(r).refused)).toEqual([
      'malformed request',
      'malformed request',
      'malformed request',
    ]);
    expect(stale.released).toEqual([]);
    expect(stale.refused).toMatch(/older/);
    expect(forged.released).toEqual([]);
    expect(forged.refused).toMatch(/does not hold the lease/);

    await waitUntil(
      () => nodes.every((x) => x.counters.malformed.event >= 4 && x.counters.malformed.heartbeat >= 3),
      { timeoutMs: 5_000, what: 'every node to count the bad events and heartbeats' },
    );
    for (const x of nodes) {
      expect(x.counters.malformed.event).toBe(4);
      expect(x.counters.staleEvents).toBe(1);
      expect(x.counters.malformed.heartbeat).toBe(3);
      expect(x.counters.staleHeartbeats).toBe(1);
    }
    expect(leader.counters.malformed.command).toBe(3);
    expect(victim.counters.malformed.handoff).toBe(3);
    expect(victim.counters.staleHandoffs).toBe(2);
    // Logged, with the node that dropped them.
    expect(logged.filter((l) => l.msg === 'dropped a malformed message').length).toBeGreaterThanOrEqual(
      3 * 4 + 3 * 3 + 3 + 3,
    );
    expect(logged.some((l) => l.msg === 'dropped an event from a lower term')).toBe(true);

    // Nothing changed: same leader and term, same map, nobody forged into the cluster, shards kept.
    const after = n1!.clusterState()!;
    expect(after.leader).toEqual(before.leader);
    expect(after.shardMap.owners).toEqual(before.shardMap.owners);
    expect(Object.keys(after.nodes).sort()).toEqual(['n1', 'n2', 'n3']);
    expect(checkInvariants(after)).toEqual([]);
    expect(victim.ownedShards()).toEqual(victimShards);

    // And the cluster still coordinates: a graceful leave moves the leaver's shards at once.
    await victim.stop();
    const rest = nodes.filter((x) => x !== victim);
    await waitUntil(
      () => sameView(rest) && rest.every((x) => x.clusterState()!.nodes[victim.nodeId]?.status === 'Left'),
      {
        timeoutMs: 10_000,
        what: "the others to take over the leaver's shards",
      },
    );
    expect(rest.find((x) => x.isLeader())?.nodeId).toBe(leader.nodeId);
  });

  it('steps a leader cut off from NATS down by its renew deadline, before another node takes over, and stores nothing of its term after the successor’s', async () => {
    const cluster = `d${Math.random().toString(36).slice(2, 8)}`;
    const proxy = await natsProxy(server.port);
    proxies.push(proxy);
    // n1 alone first, through the proxy, so that it is the leader.
    const n1 = await startNode('n1', cluster, proxy.url);
    const others = [await startNode('n2', cluster), await startNode('n3', cluster)];
    const nodes = [n1, ...others];
    await waitUntil(() => sameView(nodes) && n1.isLeader(), {
      timeoutMs: 15_000,
      what: 'n1 to lead a converged cluster',
    });
    const oldTerm = n1.leader()!.term;

    let steppedDownAt = 0;
    let electedAt = 0;
    n1.on('LeadershipLost', (e) => {
      if (e.nodeId === 'n1') steppedDownAt ||= Date.now();
    });
    for (const o of others) {
      o.on('LeaderElected', (e) => {
        if (e.term > oldTerm) electedAt ||= Date.now();
      });
    }
    const cutAt = Date.now();
    proxy.cut();
    await waitUntil(() => !n1.isLeader(), { timeoutMs: 5_000, intervalMs: 10, what: 'n1 to step down' });
    const stepDownMs = Date.now() - cutAt;
    // The deadline runs from the start of the last successful renewal, at most one interval before the cut.
    expect(stepDownMs).toBeLessThanOrEqual(FAST_TIMING.renewDeadlineMs + 300);
    await waitUntil(() => electedAt > 0, { timeoutMs: 10_000, what: 'another node to be elected' });
    expect(steppedDownAt).toBeGreaterThan(0);
    expect(steppedDownAt).toBeLessThan(electedAt);
    expect(n1.connectionStatus).not.toBe('connected');
    console.info(
      `cut-off leader stepped down after ${stepDownMs} ms; successor elected ${electedAt - steppedDownAt} ms later`,
    );

    // Back on the network it rejoins; what it could not append while cut off belongs to the old term,
    // and nothing of a deposed term is stored after a newer term has written: its step-down is dropped
    // (the successor appended the committed backlog from the record's outbox).
    proxy.heal();
    await waitUntil(() => n1.connectionStatus === 'connected', {
      timeoutMs: 10_000,
      what: 'n1 to reconnect',
    });
    await waitUntil(() => sameView(nodes), {
      timeoutMs: 20_000,
      what: 'the cluster to converge with n1 back',
    });
    const audit = await readAudit(server.url, cluster);
    let newest = 0;
    for (const a of audit) {
      expect(a.event.term, `${a.event.type} ${a.event.id} after term ${newest}`).toBeGreaterThanOrEqual(
        newest,
      );
      newest = Math.max(newest, a.event.term);
    }
    expect(newest).toBeGreaterThan(oldTerm);
    const byTerm = new Map<number, string>();
    for (const a of audit) {
      if (a.event.type !== 'LeaderElected') continue;
      expect(byTerm.get(a.event.term) ?? a.event.nodeId).toBe(a.event.nodeId);
      byTerm.set(a.event.term, a.event.nodeId);
    }
  });
});
