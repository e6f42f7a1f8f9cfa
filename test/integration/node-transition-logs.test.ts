/**
 * `aether node` at `--log-level info` logs each membership and leadership transition it sees,
 * one line each on stderr, while its `--json` status lines on stdout stay pure JSON.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type NatsServerHandle,
  natsServerAvailable,
  startNatsServer,
  stopAll,
} from '../support/nats-server.js';
import { converged, killAll, NodeProcess } from '../support/node-process.js';

const SHARDS = 16;

interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly event?: string;
  readonly nodeId?: string;
  readonly term?: number;
}

/** The pino lines a process wrote on stderr. */
function logs(p: NodeProcess): LogLine[] {
  return p
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

const saw = (p: NodeProcess, event: string, nodeId: string) =>
  logs(p).some((l) => l.level === 30 && l.event === event && l.nodeId === nodeId);

describe.skipIf(!natsServerAvailable())('aether node logs transitions at info', () => {
  let server: NatsServerHandle;
  const procs: NodeProcess[] = [];
  const cluster = `t${Math.random().toString(36).slice(2, 8)}`;
  const start = (id: string) => {
    const p = new NodeProcess(id, [
      '--nats',
      server.url,
      '--cluster',
      cluster,
      '--shards',
      String(SHARDS),
      '--timing',
      'fast',
      '--log-level',
      'info',
    ]);
    procs.push(p);
    return p;
  };

  beforeAll(async () => {
    server = await startNatsServer();
  });

  afterAll(async () => {
    await killAll(procs);
    await stopAll();
  });

  it('one info line per join, election and leave; no renewals; stdout stays JSON status', async () => {
    const n1 = start('n1');
    await n1.waitFor(() => converged([n1], SHARDS), 'n1 to lead alone', 20_000);
    await n1.waitFor(
      () => saw(n1, 'LeaderElected', 'n1') && saw(n1, 'NodeJoined', 'n1'),
      'n1 to log its election and join',
    );

    const n2 = start('n2');
    await n1.waitFor(() => converged([n1, n2], SHARDS), 'n1 and n2 to converge', 20_000);
    await n1.waitFor(() => saw(n1, 'NodeJoined', 'n2'), "n1 to log n2's join");
    await n2.waitFor(() => saw(n2, 'NodeJoined', 'n2'), 'n2 to log its own join');

    n2.signal('SIGTERM');
    expect((await n2.exited).code).toBe(0);
    await n1.waitFor(() => saw(n1, 'NodeLeft', 'n2'), "n1 to log n2's leave");

    const lines = logs(n1).filter((l) => l.event !== undefined);
    const elected = lines.filter((l) => l.event === 'LeaderElected');
    expect(elected).toHaveLength(1);
    expect(elected[0]).toMatchObject({ msg: 'n1 elected leader in term 1', nodeId: 'n1', term: 1 });
    expect(lines.map((l) => l.event)).not.toContain('LeadershipRenewed');
    expect(lines.map((l) => l.event)).not.toContain('ShardAssigned');
    // Each joined once, however many nodes relayed the event.
    expect(lines.filter((l) => l.event === 'NodeJoined' && l.nodeId === 'n2')).toHaveLength(1);
    // Logs never reach stdout: every stdout line is a JSON status (or warning) line.
    for (const p of [n1, n2]) {
      expect(p.text.length).toBeGreaterThan(0);
      for (const t of p.text)
        expect(['status', 'warning', 'stopped']).toContain((JSON.parse(t) as { type: string }).type);
    }
  }, 60_000);
});
