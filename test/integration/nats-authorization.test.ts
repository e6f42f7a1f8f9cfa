/**
 * The NATS permission layout of `aether nats-config`, enforced by a real nats-server: nodes logged
 * in as the node role run a cluster; an observer reads its events; an operator sends commands; and
 * the server refuses an observer's, an operator's or a stranger's publish on the subjects nodes act on.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsTransport } from '../../src/adapters/nats/index.js';
import { FAST_TIMING } from '../../src/config.js';
import { names } from '../../src/protocol/names.js';
import { authorizationConf, natsPermissions } from '../../src/protocol/nats-permissions.js';
import { type ClusterNode, createClusterNode } from '../../src/runtime/cluster-node.js';
import {
  type NatsServerHandle,
  natsServerAvailable,
  startNatsServer,
  stopAll,
  waitUntil,
} from '../support/nats-server.js';
import { CliProcess } from '../support/node-process.js';

const CLUSTER = 'sec';
const SHARDS = 32;
const PASSWORDS = {
  AETHER_NODE_PASSWORD: 'node-secret',
  AETHER_OPERATOR_PASSWORD: 'operator-secret',
  AETHER_OBSERVER_PASSWORD: 'observer-secret',
};
const user = (role: string) => `aether-${CLUSTER}-${role}`;
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

/** A client connection that records the permission violations the server reports to it. */
async function client(
  server: NatsServerHandle,
  creds: { user: string; pass: string },
): Promise<{ nc: NatsConnection; refused: string[] }> {
  const nc = await connect({ servers: server.url, ...creds });
  const refused: string[] = [];
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'error' && s.error.name === 'PermissionViolationError')
        refused.push((s.error as Error & { subject: string }).subject);
    }
  })();
  return { nc, refused };
}

describe.skipIf(!natsServerAvailable())('NATS permissions per role', () => {
  let server: NatsServerHandle;
  const nodes: ClusterNode[] = [];
  const conns: NatsConnection[] = [];

  beforeAll(async () => {
    // The generated block, plus a user someone added without permissions.
    const conf = authorizationConf(CLUSTER).replace(
      '  users = [\n',
      '  users = [\n    { user = "stranger", password = "stranger-secret" }\n',
    );
    const file = join(tmpdir(), `aether-auth-${process.pid}.conf`);
    writeFileSync(file, conf);
    Object.assign(process.env, PASSWORDS);
    server = await startNatsServer({ args: ['-c', file] });
    for (const id of ['n1', 'n2']) {
      const node = createClusterNode({
        nodeId: id,
        cluster: CLUSTER,
        transport: natsTransport({
          servers: server.url,
          user: user('node'),
          pass: PASSWORDS.AETHER_NODE_PASSWORD,
        }),
        timing: FAST_TIMING,
        shardCount: SHARDS,
      });
      nodes.push(node);
      await node.start();
    }
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop().catch(() => {})));
    await Promise.all(conns.map((c) => c.close().catch(() => {})));
    await stopAll();
  });

  it('lets nodes logged in as the node role run a cluster', async () => {
    await waitUntil(
      () =>
        nodes.every((n) => {
          const s = n.state();
          return (
            s.leader !== null &&
            s.nodes.length === 2 &&
            s.nodes.every((x) => x.status === 'Active') &&
            s.shardMap.owners.every((o) => o !== null)
          );
        }) && nodes.reduce((sum, n) => sum + n.ownedShards().length, 0) === SHARDS,
      { timeoutMs: 15_000, what: 'two nodes to converge with every shard owned' },
    );
    // Nothing a node does was refused: the node role lacks no subject.
    expect(server.log()).not.toMatch(/Violation/i);
    expect(nodes.map((n) => n.counters.malformed)).toEqual(
      nodes.map(() => ({ heartbeat: 0, event: 0, command: 0, handoff: 0, lease: 0, topology: 0 })),
    );
  });

  it('lets an observer read the audit stream with `aether events`', async () => {
    const events = new CliProcess([
      'events',
      '--cluster',
      CLUSTER,
      '--nats',
      server.url,
      '--user',
      user('observer'),
      '--pass',
      PASSWORDS.AETHER_OBSERVER_PASSWORD,
    ]);
    const exit = await events.exited;
    expect(exit.code, events.stderr()).toBe(0);
    expect(events.text.join('\n')).toMatch(/elected in term \d+/);
    expect(events.text.join('\n')).toMatch(/n2 joined/);
  });

  it("refuses an observer's, an operator's and a stranger's publish on every subject nodes act on", async () => {
    const n = names(CLUSTER);
    const forged = [
      n.heartbeats,
      n.handoff('n1'),
      n.leader,
      n.event('LeaderElected'),
      n.renewals,
      `$KV.${n.leaseBucket}.leader`,
      `$KV.${n.topologyBucket}.topology`,
      `$JS.API.STREAM.CREATE.${n.auditStream}`,
    ];
    const roles = [
      {
        who: 'observer',
        creds: { user: user('observer'), pass: PASSWORDS.AETHER_OBSERVER_PASSWORD },
        allowed: [] as string[],
      },
      {
        who: 'operator',
        creds: { user: user('operator'), pass: PASSWORDS.AETHER_OPERATOR_PASSWORD },
        allowed: [n.leader],
      },
      { who: 'stranger', creds: { user: 'stranger', pass: 'stranger-secret' }, allowed: [] as string[] },
    ];
    const before = nodes[0]!.state();
    for (const r of roles) {
      const c = await client(server, r.creds);
      conns.push(c.nc);
      const expected = forged.filter((s) => !r.allowed.includes(s));
      for (const subject of expected) c.nc.publish(subject, enc({ nodeId: 'evil', term: 999_999_999 }));
      await c.nc.flush();
      await waitUntil(() => c.refused.length >= expected.length, {
        timeoutMs: 5_000,
        what: `the server to refuse the ${r.who}'s publishes`,
      });
      expect(c.refused.sort(), r.who).toEqual([...expected].sort());
    }
    // The server logs each refusal too (and none for a node: see the first test).
    expect(server.log()).toMatch(/Violation/i);
    const after = nodes[0]!.state();
    expect(after.leader).toEqual(before.leader);
    expect(after.nodes.map((x) => x.id).sort()).toEqual(['n1', 'n2']);
    for (const node of nodes) expect(node.counters.malformed.heartbeat + node.counters.forgedEvents).toBe(0);
  });

  it("answers an operator's command but refuses its subscription to hand-off requests", async () => {
    const c = await client(server, { user: user('operator'), pass: PASSWORDS.AETHER_OPERATOR_PASSWORD });
    conns.push(c.nc);
    const reply = await c.nc.request(
      names(CLUSTER).leader,
      enc({ requestId: 'op-1', from: 'operator', command: { type: 'drainNode', nodeId: 'nobody' } }),
      { timeout: 5_000 },
    );
    expect(JSON.parse(new TextDecoder().decode(reply.data))).toMatchObject({ ok: false });
    const sub = c.nc.subscribe(names(CLUSTER).handoff('n1'));
    await c.nc.flush();
    await waitUntil(() => c.refused.includes(names(CLUSTER).handoff('n1')), {
      timeoutMs: 5_000,
      what: 'the server to refuse the subscription',
    });
    sub.unsubscribe();
  });

  it('refuses a client without credentials', async () => {
    await expect(connect({ servers: server.url, reconnect: false })).rejects.toThrow(/authorization/i);
  });

  it('grants an observer nothing it could publish on the subjects nodes act on', () => {
    const p = natsPermissions(CLUSTER);
    for (const role of ['observer', 'operator'] as const) {
      expect(
        p[role].publish.filter((s) => s.startsWith(`aether.${CLUSTER}.`) && s !== names(CLUSTER).leader),
      ).toEqual([]);
      expect(p[role].publish.some((s) => s.startsWith('$KV.') || s === '_INBOX.>')).toBe(false);
    }
  });
});
