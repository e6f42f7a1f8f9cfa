/**
 * `aether check` against a running cluster of node processes: clean while the cluster changes, and
 * a violation named when the audit stream stores a decision twice (a plain publish of a stored
 * event's bytes, as any client without permissions could make). The checker can fail on a real
 * cluster, and says what it cannot see.
 */
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { names } from '../../src/protocol/names.js';
import {
  type NatsServerHandle,
  natsServerAvailable,
  startNatsServer,
  stopAll,
} from '../support/nats-server.js';
import {
  CliProcess,
  converged,
  fastNodeArgs,
  killAll,
  NodeProcess,
  readAudit,
  waitUntil,
} from '../support/node-process.js';

const SHARDS = 64;

describe.skipIf(!natsServerAvailable())('aether check on a running cluster', () => {
  let server: NatsServerHandle;
  const procs: CliProcess[] = [];
  const cluster = `k${Math.random().toString(36).slice(2, 8)}`;

  beforeAll(async () => {
    server = await startNatsServer();
    const nodes = ['n1', 'n2', 'n3'].map(
      (id) => new NodeProcess(id, fastNodeArgs(server.url, cluster, SHARDS)),
    );
    procs.push(...nodes);
    await nodes[0]!.waitFor(() => converged(nodes, SHARDS), 'three nodes to converge', 30_000);
  }, 40_000);

  afterAll(async () => {
    await killAll(procs);
    await stopAll();
  });

  const check = (forMs: number) =>
    new CliProcess([
      'check',
      '--nats',
      server.url,
      '--cluster',
      cluster,
      '--timing',
      'fast',
      '--for',
      `${forMs}ms`,
      '--json',
    ]);

  it('is clean while a node joins, and lists what it cannot observe', async () => {
    const p = check(5_000);
    procs.push(p);
    await p.waitFor(() => p.stderr().includes('watching'), 'aether check to start watching', 15_000);
    const n4 = new NodeProcess('n4', fastNodeArgs(server.url, cluster, SHARDS));
    procs.push(n4);
    expect(await p.exited).toEqual({ code: 0, signal: null });
    const verdict = p.lines.find((l) => l.type === 'verdict') as unknown as {
      ok: boolean;
      commits: number;
      notObservable: string[];
    };
    expect(verdict.ok).toBe(true);
    expect(verdict.commits).toBeGreaterThan(0);
    expect(verdict.notObservable).toContain('release-before-acquire');
  }, 30_000);

  it('names audit-trail when the stream stores a decision twice', async () => {
    const p = check(6_000);
    procs.push(p);
    await p.waitFor(() => p.stderr().includes('watching'), 'aether check to start watching', 15_000);
    const before = (await readAudit(server.url, cluster)).length;
    const leaving = procs.find((x) => x instanceof NodeProcess && x.id === 'n4') as NodeProcess;
    leaving.signal('SIGTERM');
    let left: Uint8Array | null = null;
    await waitUntil(
      async () => {
        const audit = await readAudit(server.url, cluster);
        const e = audit.slice(before).find((a) => a.event.type === 'NodeLeft');
        if (e) left = new TextEncoder().encode(JSON.stringify(e.event));
        return e !== undefined;
      },
      { timeoutMs: 10_000, intervalMs: 200, what: 'NodeLeft in the audit stream' },
    );
    // Stored again by a plain publish (no message id, so no de-duplication).
    const nc = await connect({ servers: server.url });
    nc.publish(names(cluster).event('NodeLeft'), left!);
    await nc.flush();
    await nc.close();
    expect((await p.exited).code).toBe(1);
    const violations = p.lines.filter((l) => l.type === 'violation') as unknown as {
      invariant: string;
      message: string;
    }[];
    expect(violations.map((v) => v.invariant)).toContain('audit-trail');
    expect(violations.find((v) => v.invariant === 'audit-trail')?.message).toMatch(/stored twice/);
  }, 40_000);
});
