/**
 * The audit trail survives a leader killed mid-rebalance: five `aether node` processes at 1024
 * shards, a sixth joins, the leader is SIGKILLed as soon as the map version has moved. Whatever
 * the dead leader committed but had not yet stored is in the topology record's outbox; its
 * successor appends it. Replaying the stream then reproduces the committed topology, every event
 * is stored once, and no event of a term follows one of a newer term.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replay } from '../../src/domain/apply.js';
import type { DomainEvent } from '../../src/domain/events.js';
import {
  type NatsServerHandle,
  natsServerAvailable,
  startNatsServer,
  stopAll,
} from '../support/nats-server.js';
import {
  converged,
  fastNodeArgs,
  killAll,
  NodeProcess,
  readAudit,
  waitUntil,
} from '../support/node-process.js';
import { readTopology } from '../support/topology-reader.js';

const SHARDS = 1024;

/** Stored events out of term order: each names the event and the newer one it follows. */
function termRegressions(events: readonly DomainEvent[]): string[] {
  let highest = 0;
  let highestId = '';
  const out: string[] = [];
  for (const e of events) {
    if (e.term < highest) out.push(`${e.id} (term ${e.term}) after ${highestId} (term ${highest})`);
    else if (e.term > highest) {
      highest = e.term;
      highestId = e.id;
    }
  }
  return out;
}

describe.skipIf(!natsServerAvailable())('the audit trail across a leader SIGKILLed mid-rebalance', () => {
  let server: NatsServerHandle;
  const procs: NodeProcess[] = [];
  const cluster = `o${Math.random().toString(36).slice(2, 8)}`;

  beforeAll(async () => {
    server = await startNatsServer();
  });

  afterAll(async () => {
    await killAll(procs);
    await stopAll();
  });

  it('replays to the committed topology, each event once, terms in order', async () => {
    const args = fastNodeArgs(server.url, cluster, SHARDS);
    const first = new NodeProcess('n1', args);
    procs.push(first);
    await first.waitFor(() => first.status()?.isLeader === true, 'n1 to lead', 20_000);
    const others = ['n2', 'n3', 'n4', 'n5'].map((id) => new NodeProcess(id, args));
    procs.push(...others);
    const five = [first, ...others];
    await first.waitFor(() => converged(five, SHARDS), 'five nodes to converge', 40_000);

    const leader = five.find((p) => p.status()?.isLeader === true)!;
    const before = leader.status()!.version;
    const sixth = new NodeProcess('n6', args);
    procs.push(sixth);
    await leader.waitFor(
      () => (leader.status()?.version ?? 0) > before + 2,
      'the rebalance to start',
      20_000,
    );
    leader.signal('SIGKILL');
    await leader.exited;

    const alive = [...five.filter((p) => p !== leader), sixth];
    await sixth.waitFor(() => converged(alive, SHARDS), 'the survivors and n6 to converge', 40_000);

    // Compared at one map version: the successor appends the backlog right after its election, and
    // the cluster may commit again (a compaction) while we read, so read both until they agree on it.
    let topology = await readTopology(server.url, cluster);
    let events: DomainEvent[] = [];
    await waitUntil(
      async () => {
        topology = await readTopology(server.url, cluster);
        events = (await readAudit(server.url, cluster)).map((a) => a.event);
        return replay(events, SHARDS).shardMap.version === topology?.shardMap.version;
      },
      { timeoutMs: 15_000, intervalMs: 250, what: 'the audit stream to reach the committed version' },
    );
    expect(topology).not.toBeNull();
    const replayed = replay(events, SHARDS);
    expect(replayed.shardMap.owners).toEqual(topology!.shardMap.owners);
    expect(replayed.shardMap.version).toBe(topology!.shardMap.version);
    expect(Object.fromEntries(Object.values(replayed.nodes).map((n) => [n.id, n.status]))).toEqual(
      Object.fromEntries(Object.values(topology!.nodes).map((n) => [n.id, n.status])),
    );
    const ids = events.map((e) => e.id);
    expect(ids.length - new Set(ids).size).toBe(0);
    expect(termRegressions(events)).toEqual([]);
  }, 150_000);
});
