/**
 * `aether events --follow` across a nats-server restart (same port, same store): it goes on from
 * the last event it printed — every stream sequence exactly once, in order — and says on stderr
 * that it reconnected.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type NatsServerHandle,
  natsServerAvailable,
  startNatsServer,
  stopAll,
} from '../support/nats-server.js';
import {
  CliProcess,
  converged,
  killAll,
  NodeProcess,
  readAudit,
  waitUntil,
} from '../support/node-process.js';

const SHARDS = 16;

describe.skipIf(!natsServerAvailable())('aether events --follow across a nats-server restart', () => {
  let server: NatsServerHandle;
  const procs: CliProcess[] = [];
  const cluster = `f${Math.random().toString(36).slice(2, 8)}`;
  const nodeArgs = () => ['--nats', server.url, '--cluster', cluster, '--shards', String(SHARDS)];
  const startNode = (id: string) => {
    const n = new NodeProcess(id, [...nodeArgs(), '--timing', 'fast', '--log-level', 'warn']);
    procs.push(n);
    return n;
  };

  beforeAll(async () => {
    server = await startNatsServer();
  });

  afterAll(async () => {
    await killAll(procs);
    await stopAll();
  });

  it('prints every sequence once, in order, and says it reconnected', async () => {
    const n1 = startNode('n1');
    await n1.waitFor(() => converged([n1], SHARDS), 'n1 to lead alone', 20_000);

    const follower = new CliProcess([
      'events',
      '--nats',
      server.url,
      '--cluster',
      cluster,
      '--follow',
      '--since',
      'all',
      '--json',
    ]);
    procs.push(follower);
    const seqs = () => follower.lines.map((l) => l.seq as number);
    const before = (await readAudit(server.url, cluster)).at(-1)?.seq ?? 0;
    await follower.waitFor(() => (seqs().at(-1) ?? 0) >= before, 'the follower to print the history');

    // A crash, not a shutdown: the server's consumers are gone when it comes back.
    await server.kill();
    await server.restart();
    const n2 = startNode('n2');
    await n2.waitFor(() => converged([n1, n2], SHARDS), 'n1 and n2 to converge after the restart', 30_000);
    const joined = () =>
      follower.lines.some(
        (l) =>
          (l.event as { type?: string; nodeId?: string }).type === 'NodeJoined' &&
          (l.event as { nodeId?: string }).nodeId === 'n2',
      );
    await follower.waitFor(joined, "the follower to print n2's NodeJoined", 20_000);

    // Everything stored by now is printed, however many events the join produced.
    let last = 0;
    await waitUntil(
      async () => {
        last = (await readAudit(server.url, cluster)).at(-1)?.seq ?? 0;
        return seqs().at(-1) === last;
      },
      { timeoutMs: 10_000, what: 'the follower to catch up with the stream' },
    );
    expect(last).toBeGreaterThan(before);
    expect(seqs()).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    expect(follower.stderr()).toMatch(/reconnected/);
    expect(follower.running()).toBe(true);
    follower.signal('SIGINT');
    expect(await follower.exited).toEqual({ code: 0, signal: null });
  }, 90_000);
});
