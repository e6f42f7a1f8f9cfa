/**
 * The visualizer across processes: nodes over a real nats-server publish their observations
 * (`inspection: { publish: true }`); a relay started later (`startVisualizer`, what `aether
 * visualize` runs) catches up through a sync request and follows the cluster from the bus alone.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsTransport } from '../../src/adapters/nats/nats-transport.js';
import { startVisualizer, type Visualizer } from '../../src/cli/visualize.js';
import { FAST_TIMING } from '../../src/config.js';
import { inspectSubject } from '../../src/observe/wire.js';
import type { Connection } from '../../src/ports/transport.js';
import { encode } from '../../src/protocol/codec.js';
import { type ClusterNode, createClusterNode } from '../../src/runtime/cluster-node.js';
import type { RelayState } from '../../src/visualizer/relay.js';
import { type NatsServerHandle, startNatsServer, stopAll, waitUntil } from '../support/nats-server.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLUSTER = 'viz';
const IDS = ['n1', 'n2', 'n3'];

async function stateOf(url: string): Promise<RelayState> {
  const res = await fetch(new URL('/state.json', url));
  expect(res.status).toBe(200);
  return (await res.json()) as RelayState;
}

/** Node ids with a root actor (a `clusterNode` registration) and a leadership actor in the relay. */
function nodesWithActors(s: RelayState): string[] {
  const roots = new Set(
    s.actors.filter((a) => a.actor.sessionId === a.actor.rootId && a.actor.definition).map((a) => a.nodeId),
  );
  const leadership = new Set(s.actors.filter((a) => a.actor.name === 'leadership').map((a) => a.nodeId));
  return [...roots].filter((id) => leadership.has(id)).sort();
}

describe('aether visualize over NATS', () => {
  let server: NatsServerHandle;
  const nodes = new Map<string, ClusterNode>();
  let viz: Visualizer;
  let probe: Connection;

  beforeAll(async () => {
    server = await startNatsServer();
    const transport = natsTransport({ servers: server.url });
    await Promise.all(
      IDS.map((nodeId) => {
        const node = createClusterNode({
          nodeId,
          cluster: CLUSTER,
          transport,
          timing: FAST_TIMING,
          shardCount: 64,
          inspection: { publish: true, maxEventsPerSecond: 200 },
        });
        nodes.set(nodeId, node);
        return node.start();
      }),
    );
    probe = await transport.connect('probe');
    // Started after the nodes: it has missed every actor's registration and must ask for them.
    viz = await startVisualizer({ transport, cluster: CLUSTER, port: 0 });
  });

  afterAll(async () => {
    await Promise.all([...nodes.values()].map((n) => n.crash().catch(() => {})));
    await viz?.close();
    await probe?.close();
    await stopAll();
  });

  it('a relay started after the nodes shows every node: actors with their charts, views, domain events', async () => {
    await waitUntil(async () => nodesWithActors(await stateOf(viz.url)).join() === IDS.join(), {
      timeoutMs: 10_000,
      what: 'actors of every node in /state.json',
    });
    await waitUntil(
      async () =>
        (await stateOf(viz.url)).views
          .map((v) => v.nodeId)
          .sort()
          .join() === IDS.join(),
      { timeoutMs: 5_000, what: 'a view of every node' },
    );
    const s = await stateOf(viz.url);
    expect(s.controls).toBe(false);
    const leader = [...nodes.values()].find((n) => n.isLeader())!;
    const leaderView = s.views.find((v) => v.nodeId === leader.nodeId)!;
    expect(leaderView.isLeader).toBe(true);
    expect(leaderView.shardMap.owners.filter((o) => o !== null)).toHaveLength(64);
    // Every node's lifecycle actors: one per known node.
    for (const id of IDS) {
      expect(s.actors.filter((a) => a.nodeId === id && a.actor.name === 'nodeLifecycle')).toHaveLength(3);
    }
    expect(viz.stats().syncRequests).toBeGreaterThanOrEqual(1);
    expect(viz.stats().malformed).toEqual({ inspect: 0, events: 0 });

    // Domain events from now on arrive live from the events subject.
    const follower = [...nodes.values()].find((n) => !n.isLeader())!;
    await follower.drain();
    await waitUntil(
      async () =>
        (await stateOf(viz.url)).events.some(
          (e) => e.event.type === 'NodeLeft' && e.event.nodeId === follower.nodeId,
        ),
      { timeoutMs: 10_000, what: `NodeLeft ${follower.nodeId} in /state.json` },
    );
    // A node that left sends no goodbye over the bus; its actors are forgotten on NodeLeft.
    await waitUntil(async () => !nodesWithActors(await stateOf(viz.url)).includes(follower.nodeId), {
      timeoutMs: 5_000,
      what: `${follower.nodeId}'s actors to be forgotten`,
    });
  });

  it('drops and counts malformed or forged observations, keeping the picture intact', async () => {
    const before = await stateOf(viz.url);
    const victim = [...nodes.values()].find((n) => n.isLeader())!.nodeId;
    const root = before.actors.find((a) => a.nodeId === victim && a.actor.sessionId === a.actor.rootId)!;
    const base = viz.stats().malformed.inspect;
    const forged = {
      type: '@xstate.stopped',
      sessionId: root.actor.sessionId,
      rootId: root.actor.rootId,
      createdAt: '0',
      id: 'x',
      _version: '0.0.1',
    };
    const bad: [string, Uint8Array][] = [
      [inspectSubject(CLUSTER, 'n9'), new TextEncoder().encode('{not json')],
      // Another node's session id: would stop the leader's actors if believed.
      [inspectSubject(CLUSTER, 'n9'), encode({ kind: 'inspection', nodeId: 'n9', event: forged })],
      // The right prefix but sent under another node's subject.
      [inspectSubject(CLUSTER, 'n9'), encode({ kind: 'inspection', nodeId: victim, event: forged })],
      [inspectSubject(CLUSTER, victim), encode({ kind: 'view', nodeId: victim, view: { nodeId: victim } })],
      [inspectSubject(CLUSTER, victim), encode({ kind: 'gossip', nodeId: victim })],
    ];
    for (const [subject, data] of bad) probe.bus.publish(subject, data);
    await waitUntil(() => viz.stats().malformed.inspect - base === bad.length, {
      timeoutMs: 5_000,
      what: `${bad.length} malformed messages counted`,
    });
    const after = await stateOf(viz.url);
    expect(after.actors.some((a) => a.actor.sessionId === root.actor.sessionId)).toBe(true);
    expect(after.views.find((v) => v.nodeId === victim)?.shardMap).toBeDefined();
  });

  it('aether visualize serves the same picture from its own process', async () => {
    const child: ChildProcess = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(ROOT, 'src/cli/bin.ts'),
        'visualize',
        '--nats',
        server.url,
        '--cluster',
        CLUSTER,
        '--port',
        '0',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitUntil(() => /visualizer: (http:\S+)/.test(out), {
        timeoutMs: 15_000,
        what: `the visualizer URL on stdout (stdout ${JSON.stringify(out)}, stderr ${JSON.stringify(err)})`,
      });
      const url = /visualizer: (http:\S+)/.exec(out)![1]!;
      const alive = [...nodes.values()].filter((n) => n.status() === 'Active').map((n) => n.nodeId);
      await waitUntil(async () => nodesWithActors(await stateOf(url)).join() === alive.sort().join(), {
        timeoutMs: 10_000,
        what: `actors of ${alive.join(', ')} from the CLI's relay`,
      });
      expect((await stateOf(url)).controls).toBe(false);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(out).toMatch(/received \d+ observations; dropped 0 malformed/);
  });
});
