/**
 * `aether node` processes over one real nats-server: election, a SIGKILLed leader replaced within
 * TTL + renew interval + 1 s, a SIGTERMed node leaving at once (NodeLeft, no failure timeout),
 * read back through `aether events`; and the command line's refusals (bad options, bad store).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { compareVersions, RECOMMENDED_SERVER_VERSION } from '../../src/adapters/nats/index.js';
import { node as runNode } from '../../src/cli/node.js';
import { FAST_TIMING } from '../../src/config.js';
import {
  type NatsServerHandle,
  natsServerAvailable,
  startNatsServer,
  stopAll,
} from '../support/nats-server.js';
import {
  CliProcess,
  converged,
  doubleClaims,
  doubleLeaders,
  fastNodeArgs,
  killAll,
  type NodeProcess,
  readAudit,
  spawnNodes,
} from '../support/node-process.js';

const SHARDS = 128;
// A failure timeout well above the time a graceful leave may take, so that a leave recorded
// quickly cannot be the failure detector's doing.
const FAILURE_TIMEOUT_MS = 6_000;

/** Shards spread evenly: the balanced placement leaves at most one shard of difference. */
function balanced(nodes: readonly NodeProcess[]): boolean {
  const shards = nodes.map((n) => n.status()?.shards ?? 0);
  return Math.max(...shards) - Math.min(...shards) <= 1;
}

describe.skipIf(!natsServerAvailable())('aether node processes on one nats-server', () => {
  let server: NatsServerHandle;
  let nodes: NodeProcess[] = [];
  const others: CliProcess[] = [];
  const cluster = `p${Math.random().toString(36).slice(2, 8)}`;
  const nodeArgs = () =>
    fastNodeArgs(server.url, cluster, SHARDS, '--failure-timeout', String(FAILURE_TIMEOUT_MS));

  beforeAll(async () => {
    server = await startNatsServer();
    nodes = spawnNodes(['n1', 'n2', 'n3'], nodeArgs());
  });

  afterAll(async () => {
    await killAll([...nodes, ...others]);
    await stopAll();
  });

  it('elects one leader and places every shard on the three nodes, warning about the old server', async () => {
    await nodes[0]!
      .waitFor(
        () => converged(nodes, SHARDS) && balanced(nodes),
        'three nodes to converge and balance',
        20_000,
      )
      .catch((err: Error) => {
        throw new Error(`${err.message}\n${nodes.map((n) => JSON.stringify(n.status())).join('\n')}`);
      });
    // A server below the recommended 2.10.23 (Debian ships 2.9): every node says so at start.
    const version = /Version:\s+(\S+)/.exec(server.log())?.[1] ?? '0.0.0';
    const old = compareVersions(version, RECOMMENDED_SERVER_VERSION) < 0;
    for (const n of nodes) {
      expect(n.status()).toMatchObject({ status: 'Active', unowned: 0 });
      expect(n.lines.filter((l) => l.type === 'warning').map((l) => l.code)).toEqual(
        old ? ['SERVER_VERSION'] : [],
      );
    }
    expect(nodes.filter((n) => n.status()!.isLeader)).toHaveLength(1);
    const shards = nodes.map((n) => n.status()!.shards);
    expect(Math.max(...shards) - Math.min(...shards)).toBeLessThanOrEqual(1);
  });

  it('leaves at once on SIGTERM: exit 0, NodeLeft followed live by aether events, shards moved before the failure timeout', async () => {
    const follower = nodes.find((n) => !n.status()!.isLeader)!;
    const rest = nodes.filter((n) => n !== follower);
    const events = new CliProcess([
      'events',
      '--nats',
      server.url,
      '--cluster',
      cluster,
      '--follow',
      '--json',
      '--type',
      'NodeLeft',
    ]);
    others.push(events);
    await events.waitFor(() => events.stderr().includes('following'), 'aether events to follow');
    const sentAt = Date.now();
    follower.signal('SIGTERM');
    expect(await follower.exited).toEqual({ code: 0, signal: null });
    expect(follower.lines.at(-1)).toMatchObject({ type: 'stopped', signal: 'SIGTERM' });

    await events.waitFor(
      () => events.lines.some((l) => (l.event as { nodeId?: string } | undefined)?.nodeId === follower.id),
      'aether events to print the NodeLeft',
      FAILURE_TIMEOUT_MS,
    );
    const left = events.lines.find((l) => (l.event as { nodeId?: string }).nodeId === follower.id)!;
    expect(left.event).toMatchObject({ type: 'NodeLeft', reason: 'graceful' });
    await rest[0]!.waitFor(
      () => converged(rest, SHARDS),
      'the two others to own every shard',
      FAILURE_TIMEOUT_MS,
    );
    const tookMs = Date.now() - sentAt;
    expect(tookMs).toBeLessThan(FAILURE_TIMEOUT_MS);
    events.signal('SIGINT');
    expect((await events.exited).code).toBe(0);

    // The audit stream agrees, and nobody declared the leaver Failed.
    const audit = await readAudit(server.url, cluster);
    expect(audit.some((a) => a.event.type === 'NodeLeft' && a.event.nodeId === follower.id)).toBe(true);
    expect(audit.some((a) => a.event.type === 'NodeFailed' && a.event.nodeId === follower.id)).toBe(false);
    nodes = rest;
  });

  it('replaces a SIGKILLed leader within TTL + renew interval + 1 s, with never two leaders in one term', async () => {
    const leader = nodes.find((n) => n.status()!.isLeader)!;
    const survivor = nodes.find((n) => n !== leader)!;
    const oldTerm = leader.status()!.term!;
    const killedAt = Date.now();
    leader.signal('SIGKILL');
    await survivor.waitFor(
      () => {
        const s = survivor.status()!;
        return s.isLeader && s.leader === survivor.id && (s.term ?? 0) > oldTerm;
      },
      'the survivor to take over',
      10_000,
    );
    const tookOverAt = survivor.statuses().find((s) => s.isLeader && (s.term ?? 0) > oldTerm)!;
    const takeoverMs = Date.parse(tookOverAt.at) - killedAt;
    const bound = FAST_TIMING.leaseTtlMs + FAST_TIMING.renewIntervalMs + 1_000;
    expect(takeoverMs).toBeLessThanOrEqual(bound);
    console.info(`leader takeover after SIGKILL: ${takeoverMs} ms (bound ${bound} ms)`);

    // The killed node is failed by the failure detector and its shards recovered.
    await survivor.waitFor(
      () => {
        const s = survivor.status()!;
        return s.nodes[leader.id] === 'Failed' && s.unowned === 0 && s.shards === SHARDS;
      },
      'the dead node to be failed and its shards recovered',
      FAILURE_TIMEOUT_MS + 5_000,
    );
    const audit = await readAudit(server.url, cluster);
    expect(doubleLeaders(audit)).toEqual(new Map());
    expect(doubleClaims([leader, survivor])).toEqual(new Map());
    expect(audit.some((a) => a.event.type === 'LeaderElected' && a.event.nodeId === survivor.id)).toBe(true);
    await killAll([survivor]);
  });

  it('replays the history with aether events: from a sequence, by type, as text', async () => {
    const all = await readAudit(server.url, cluster);
    const from = all[Math.floor(all.length / 2)]!.seq;
    const bySeq = new CliProcess([
      'events',
      '--nats',
      server.url,
      '--cluster',
      cluster,
      '--since',
      String(from),
      '--json',
    ]);
    const text = new CliProcess([
      'events',
      '--nats',
      server.url,
      '--cluster',
      cluster,
      '--type',
      'LeaderElected',
    ]);
    others.push(bySeq, text);
    expect((await bySeq.exited).code).toBe(0);
    expect((await text.exited).code).toBe(0);
    expect(bySeq.lines.map((l) => l.seq)).toEqual(all.filter((a) => a.seq >= from).map((a) => a.seq));
    const elected = all.filter((a) => a.event.type === 'LeaderElected');
    expect(text.text).toHaveLength(elected.length);
    for (const [i, a] of elected.entries()) {
      expect(text.text[i]).toContain(`#${a.seq} LeaderElected`);
      expect(text.text[i]).toContain(
        `${(a.event as { nodeId: string }).nodeId} elected in term ${a.event.term}`,
      );
    }
  });

  it('refuses a lease TTL that differs from the existing bucket: exit 1 naming the bucket and both TTLs', async () => {
    const p = new CliProcess([
      'node',
      '--id',
      'n9',
      '--nats',
      server.url,
      '--cluster',
      cluster,
      '--shards',
      String(SHARDS),
      '--lease-ttl',
      '9000',
      '--renew',
      '1000',
      '--renew-deadline',
      '5000',
      '--log-level',
      'silent',
    ]);
    others.push(p);
    expect((await p.exited).code).toBe(1);
    expect(p.stderr()).toMatch(/aether_\w+_lease.*ttl 2000 ms but 9000 ms/);
  });

  it('refuses a server without JetStream: exit 1 saying how to enable it', async () => {
    const plain = await startNatsServer({ jetstream: false });
    const p = new CliProcess([
      'node',
      '--id',
      'n1',
      '--nats',
      plain.url,
      '--cluster',
      cluster,
      '--log-level',
      'silent',
    ]);
    others.push(p);
    expect((await p.exited).code).toBe(1);
    expect(p.stderr()).toMatch(/JetStream is not enabled.*-js/);
  });

  it('rejects invalid options with exit 2 and a message naming the option', async () => {
    const cases: [string[], RegExp][] = [
      [['--cluster', 'c'], /--id is required/],
      [['--cluster', 'c', '--id', 'bad id'], /--id: /],
      [['--cluster', 'c', '--id', 'n1', '--timing', 'slow'], /--timing: expected fast or default/],
      [['--cluster', 'c', '--id', 'n1', '--lease-ttl', '1000'], /--renew: must be below --lease-ttl/],
      [['--cluster', 'c', '--id', 'n1', '--shards', 'many'], /--shards: expected a positive integer/],
      [['--cluster', 'c', '--id', 'n1', '--replicas', '7'], /--replicas: at most 5/],
      [['--cluster', 'c', '--id', 'n1', '--user', 'u'], /--user needs --pass/],
      [['--cluster', 'c', '--id', 'n1', '--user', 'u', '--pass', 'p', '--token', 't'], /exclude each other/],
      [['--cluster', 'c', '--id', 'n1', '--creds', '/nonexistent.creds'], /--creds: file not found/],
      [['--cluster', 'c', '--id', 'n1', '--tls-cert', '/x.pem'], /--tls-cert and --tls-key go together/],
      [['--cluster', 'c', '--id', 'n1', '--nats', 'http://x:1'], /--nats: expected nats:\/\//],
      [['--cluster', 'c', '--id', 'n1', '--frobnicate'], /--frobnicate/],
    ];
    // In this process: every case fails before any connection is made.
    const errors: string[] = [];
    const spy = vi
      .spyOn(console, 'error')
      .mockImplementation((msg: unknown) => void errors.push(String(msg)));
    try {
      for (const [args, message] of cases) {
        errors.length = 0;
        expect({ args, code: await runNode(args) }).toEqual({ args, code: 2 });
        expect(errors.join('\n')).toMatch(message);
      }
    } finally {
      spy.mockRestore();
    }
    // And once as a process, for the exit code itself.
    const p = new CliProcess(['node', '--cluster', 'c', '--id', 'n1', '--renew', 'soon']);
    others.push(p);
    expect((await p.exited).code).toBe(2);
    expect(p.stderr()).toMatch(/--renew: expected a duration/);
  });
});
