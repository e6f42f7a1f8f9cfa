/**
 * `aether node` processes on a real nats-server, and a client of that server that is no node (no
 * permissions on the server) sending hand-off requests: each names the real leader and its term, asks
 * an owner for all its shards, and carries an invented map version — no committed plan moves them.
 * No owner releases anything: every shard stays owned and served, each request is answered with a
 * typed refusal, and each node logs it.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsTransport } from '../../src/adapters/nats/index.js';
import { FAST_TIMING } from '../../src/config.js';
import { systemClock } from '../../src/ports/clock.js';
import type { Connection } from '../../src/ports/transport.js';
import { decodeHandoffReply, encode } from '../../src/protocol/codec.js';
import { names } from '../../src/protocol/names.js';
import { Forger, forgedHandoff } from '../../src/sim/forger.js';
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
  type NodeProcess,
  spawnNodes,
  waitUntil,
} from '../support/node-process.js';
import { readTopology } from '../support/topology-reader.js';

const SHARDS = 48;
const IDS = ['n1', 'n2', 'n3'];
/** Rounds of forged requests each owner gets (one every 250 ms). */
const ROUNDS = 8;

describe.skipIf(!natsServerAvailable())('forged hand-off requests', () => {
  let server: NatsServerHandle;
  let procs: NodeProcess[] = [];
  let conn: Connection | null = null;
  const forgers: Forger[] = [];
  const cluster = `h${Math.random().toString(36).slice(2, 8)}`;
  const logFile = (id: string) => join(tmpdir(), `aether-${cluster}-${id}.log`);

  beforeAll(async () => {
    server = await startNatsServer();
    procs = IDS.map(
      (id) => spawnNodes([id], [...fastNodeArgs(server.url, cluster, SHARDS), '--log-file', logFile(id)])[0]!,
    );
  });
  afterAll(async () => {
    for (const f of forgers) f.stop();
    await conn?.close().catch(() => {});
    await killAll(procs);
    await stopAll();
  });

  it('no owner releases a shard no committed plan moves: every shard stays owned and served', async () => {
    const balanced = () =>
      converged(procs, SHARDS) && procs.every((p) => p.status()?.shards === SHARDS / IDS.length);
    await waitUntil(balanced, { timeoutMs: 30_000, what: 'three nodes to converge with their shares' });
    const state = await readTopology(server.url, cluster);
    expect(state?.leader).not.toBeNull();
    const before = procs[0]!.status()!;

    const n = names(cluster);
    conn = await natsTransport({ servers: server.url }).connect('not-a-node');
    const c = conn;
    const lease = await c.kv(n.leaseBucket, { ttlMs: FAST_TIMING.leaseTtlMs });
    const since = Date.now();
    for (const id of IDS) {
      const f = new Forger({
        conn: c,
        lease,
        names: n,
        clock: systemClock,
        cluster: () => state,
        kinds: ['handoff'],
      });
      forgers.push(f);
      f.start(id);
    }
    await waitUntil(() => forgers.every((f) => f.sent.handoff >= ROUNDS), {
      timeoutMs: 10_000,
      what: `${ROUNDS} rounds of forged hand-off requests`,
    });
    for (const f of forgers) f.stop();

    // The same request once more, its answer read: a typed refusal, nothing released.
    for (const id of IDS) {
      const reply = await c.bus.request(n.handoff(id), encode(forgedHandoff(state!, id)), {
        timeoutMs: 2_000,
      });
      const r = decodeHandoffReply(reply);
      expect(r.ok, id).toBe(true);
      if (!r.ok) continue;
      expect(r.value.released, id).toEqual([]);
      expect(r.value.code, id).toBe('not-planned');
      expect(r.value.refused, id).toMatch(/map version \d+ is not committed/);
    }

    // Each node logged each refusal, with its code.
    const refusals = (id: string) =>
      readFileSync(logFile(id), 'utf8')
        .split('\n')
        .filter((l) => l.includes('refused a hand-off'))
        .map((l) => (JSON.parse(l) as { code: string }).code);
    for (const id of IDS) {
      expect(refusals(id).length, id).toBeGreaterThanOrEqual(ROUNDS + 1);
      expect(new Set(refusals(id)), id).toEqual(new Set(['not-planned']));
    }

    // Not one status line since the first forgery showed a node serving less than its share.
    for (const p of procs) {
      const lines = p.statuses().filter((s) => Date.parse(s.at) >= since);
      for (const s of lines)
        expect({ node: p.id, shards: s.shards, unowned: s.unowned }).toEqual({
          node: p.id,
          shards: SHARDS / IDS.length,
          unowned: 0,
        });
    }
    expect(balanced()).toBe(true);
    const after = procs[0]!.status()!;
    expect({ leader: after.leader, term: after.term, version: after.version }).toEqual({
      leader: before.leader,
      term: before.term,
      version: before.version,
    });

    // The leader's own hand-offs, planned in the record, are honoured: a fourth node gets its share.
    const n4 = spawnNodes(['n4'], fastNodeArgs(server.url, cluster, SHARDS))[0]!;
    procs.push(n4);
    await waitUntil(() => converged(procs, SHARDS) && procs.every((p) => p.status()?.shards === SHARDS / 4), {
      timeoutMs: 30_000,
      what: 'the rebalance after a join to hand a share to the new node',
    });
  }, 90_000);
});
