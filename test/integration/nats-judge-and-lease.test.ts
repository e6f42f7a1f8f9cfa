/**
 * `aether node` processes over a real nats-server, through the two faults that fooled the failure
 * detector and the lease: a nats-server restart that cuts every node off at once, the leader included
 * (nobody may be judged failed for silence nobody could hear), and a leader paused past its renew
 * deadline (it must not renew on resuming, and must give the lease up so that a follower takes over
 * at once instead of a TTL later).
 */
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAST_TIMING } from '../../src/config.js';
import { decodeLease } from '../../src/protocol/codec.js';
import { names } from '../../src/protocol/names.js';
import { LEASE_KEY } from '../../src/runtime/lease-store.js';
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
  type NodeProcess,
  readAudit,
  spawnNodes,
  waitUntil,
} from '../support/node-process.js';

const SHARDS = 64;
const clusterName = (p: string) => `${p}${Math.random().toString(36).slice(2, 8)}`;
const nodeArgs = (url: string, cluster: string) => fastNodeArgs(url, cluster, SHARDS);

/** The lease key's changes as a watcher on the server sees them, stamped with the local receive time. */
interface LeaseChange {
  readonly at: number;
  readonly holder: string | null;
  readonly term: number | null;
}

async function watchLease(url: string, cluster: string) {
  const nc = await connect({ servers: url });
  const kv = await new Kvm(jetstream(nc)).open(names(cluster).leaseBucket);
  const changes: LeaseChange[] = [];
  const iter = await kv.watch({ key: LEASE_KEY });
  void (async () => {
    for await (const e of iter) {
      if (e.operation !== 'PUT') {
        changes.push({ at: Date.now(), holder: null, term: null });
        continue;
      }
      const d = decodeLease(e.value, e.revision);
      changes.push({ at: Date.now(), holder: d.ok ? d.value.holder : '?', term: d.ok ? d.value.term : null });
    }
  })();
  return {
    changes,
    async close() {
      iter.stop();
      await nc.close();
    },
  };
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!natsServerAvailable())(
  'a nats-server restart cuts every node off at once, the leader included',
  () => {
    let server: NatsServerHandle;
    let nodes: NodeProcess[] = [];
    const cluster = clusterName('r');

    beforeAll(async () => {
      server = await startNatsServer();
      nodes = spawnNodes(['n1', 'n2', 'n3', 'n4', 'n5'], nodeArgs(server.url, cluster));
    });

    afterAll(async () => {
      await killAll(nodes);
      await stopAll();
    });

    it('marks nobody Failed, keeps one leader per term and every shard owned', async () => {
      await nodes[0]!.waitFor(() => converged(nodes, SHARDS), 'the cluster to converge', 20_000);
      const before = nodes.map((n) => n.statuses().length);
      await server.stop();
      // The outage: longer than the failure timeout and the lease TTL, as in a real restart.
      await wait(FAST_TIMING.failureTimeoutMs + 1_000);
      await server.restart();
      await nodes[0]!.waitFor(
        () => converged(nodes, SHARDS) && nodes.every((n, i) => n.statuses().length > before[i]!),
        'the cluster to converge again',
        20_000,
      );
      // Settle: a failure judged late would show within one more failure timeout.
      await wait(FAST_TIMING.failureTimeoutMs + 500);
      expect(converged(nodes, SHARDS)).toBe(true);

      const audit = await readAudit(server.url, cluster);
      const failed = audit.filter((a) => a.event.type === 'NodeFailed').map((a) => a.event);
      expect(failed).toEqual([]);
      const seenFailed = nodes.flatMap((n) =>
        n.statuses().flatMap((s) => Object.entries(s.nodes).filter(([, st]) => st === 'Failed')),
      );
      expect(seenFailed).toEqual([]);
      const unowned = nodes.flatMap((n, i) =>
        n
          .statuses()
          .slice(before[i])
          .filter((s) => s.unowned > 0),
      );
      expect(unowned).toEqual([]);
      expect(doubleLeaders(audit)).toEqual(new Map());
      expect(doubleClaims(nodes)).toEqual(new Map());
    });
  },
);

describe.skipIf(!natsServerAvailable())('a leader paused past its renew deadline', () => {
  let server: NatsServerHandle;
  let nodes: NodeProcess[] = [];
  const cluster = clusterName('s');

  beforeAll(async () => {
    server = await startNatsServer();
    nodes = spawnNodes(['n1', 'n2', 'n3'], nodeArgs(server.url, cluster));
  });

  afterAll(async () => {
    await killAll(nodes);
    await stopAll();
  });

  it('sends no renewal after resuming and gives the lease up: a newer term leads within one TTL of the pause', async () => {
    await nodes[0]!.waitFor(() => converged(nodes, SHARDS), 'the cluster to converge', 20_000);
    const leader = nodes.find((n) => n.status()!.isLeader)!;
    const oldTerm = leader.status()!.term!;
    const lease = await watchLease(server.url, cluster);
    try {
      // Pause right after a renewal: resuming past the renew deadline, before the followers' lapse.
      const seen = lease.changes.length;
      await waitUntil(() => lease.changes.length > seen + 1, {
        timeoutMs: 5_000,
        intervalMs: 1,
        what: 'a renewal',
      });
      leader.signal('SIGSTOP');
      const pausedAt = Date.now();
      const pauseMs = FAST_TIMING.renewDeadlineMs + 100;
      await wait(pauseMs);
      leader.signal('SIGCONT');
      const resumedAt = Date.now();

      // Any node may win the new term, the resumed one too: it gave its lease up, and all campaign.
      const newLeader = () =>
        nodes
          .flatMap((n) => n.statuses())
          .find((s) => s.isLeader && (s.term ?? 0) > oldTerm && Date.parse(s.at) >= pausedAt);
      await leader.waitFor(() => newLeader() !== undefined, 'a new leader', 10_000);
      const electedAfterMs = Date.parse(newLeader()!.at) - pausedAt;
      console.info(`new leader ${electedAfterMs} ms after the leader was paused for ${pauseMs} ms`);
      // A renewal on resuming would have kept the followers waiting a full TTL from then.
      expect(electedAfterMs).toBeLessThanOrEqual(FAST_TIMING.leaseTtlMs + FAST_TIMING.renewIntervalMs);

      // No write of the old term reached the lease after the old leader resumed (past its deadline).
      const late = lease.changes.filter((c) => c.at >= resumedAt && c.term === oldTerm);
      expect(late).toEqual([]);
      // It gave the lease up (deleted it) rather than leave it to lapse — when its lease was still
      // there on resuming: a resume delayed past the TTL (a loaded machine) finds a successor's.
      const next = lease.changes.findIndex((c) => c.term !== null && c.term > oldTerm);
      const successorBeforeResume = next >= 0 && (lease.changes[next]?.at ?? 0) < resumedAt;
      if (!successorBeforeResume) {
        const released = lease.changes.findIndex((c) => c.at >= resumedAt && c.holder === null);
        expect(released).toBeGreaterThanOrEqual(0);
        expect(released).toBeLessThan(next);
      }
      await leader.waitFor(() => converged(nodes, SHARDS), 'the cluster to converge again', 15_000);
      const audit = await readAudit(server.url, cluster);
      expect(audit.filter((a) => a.event.type === 'NodeFailed')).toEqual([]);
      expect(doubleLeaders(audit)).toEqual(new Map());
      expect(doubleClaims(nodes)).toEqual(new Map());
    } finally {
      await lease.close();
    }
  });
});
