/**
 * Serves the visualizer with a synthetic cluster (no NATS, no runtime): a few nodes, a leader, a
 * shard map with hand-offs, domain events and two inspected XState machines per node. For working
 * on the page.
 *
 *   npx tsx scripts/visualizer-preview.ts [--port 4800] [--screenshot out.png] [--width 1600]
 *
 * With --screenshot it renders the page in headless Chromium (/usr/bin/chromium), saves a PNG and exits.
 */
import { assign, createActor, fromCallback, setup } from 'xstate';
import type { DomainEvent } from '../src/domain/events.js';
import type { NodeId, NodeInfo, NodeStatus } from '../src/domain/values.js';
import { createInspector } from '../src/observe/inspection-bridge.js';
import type { ClusterView, HandoffView, Observation } from '../src/observe/observation.js';
import { startRelay } from '../src/visualizer/relay.js';
import { CHROMIUM_FLAGS, CHROMIUM_PATH } from '../test/support/chromium.js';

const args = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};

const heartbeat = fromCallback(() => () => {});

const leadership = setup({
  types: {
    events: {} as { type: 'LEASE_WON' } | { type: 'LEASE_LOST' } | { type: 'RENEWED' } | { type: 'TICK' },
  },
  guards: { withinDeadline: () => true },
  actions: { publishElected: () => {}, publishLost: () => {}, publishRenewed: () => {} },
  delays: { renewInterval: 1000, leaseTtl: 3000 },
}).createMachine({
  id: 'leadership',
  initial: 'follower',
  states: {
    follower: {
      initial: 'watching',
      states: {
        watching: { after: { leaseTtl: 'campaigning' } },
        campaigning: { on: { LEASE_LOST: 'watching' } },
      },
      on: { LEASE_WON: { target: 'leader', actions: 'publishElected' } },
    },
    leader: {
      initial: 'renewing',
      states: {
        renewing: { on: { RENEWED: { target: 'idle', actions: 'publishRenewed' } } },
        idle: { after: { renewInterval: 'renewing' } },
      },
      on: {
        LEASE_LOST: { target: 'follower', actions: 'publishLost' },
        TICK: { guard: 'withinDeadline', target: '.renewing' },
      },
    },
    stopped: { type: 'final' },
  },
});

const lifecycle = setup({
  types: {
    context: {} as { beats: number },
    events: {} as
      | { type: 'ADMITTED' }
      | { type: 'DRAIN' }
      | { type: 'HANDED_OFF' }
      | { type: 'BEAT' }
      | { type: 'STOP' },
  },
  actors: { heartbeat },
  actions: { countBeat: assign({ beats: ({ context }) => context.beats + 1 }) },
}).createMachine({
  id: 'node-lifecycle',
  context: { beats: 0 },
  initial: 'joining',
  states: {
    joining: { on: { ADMITTED: 'member' } },
    member: {
      type: 'parallel',
      invoke: { src: 'heartbeat', id: 'heartbeat' },
      states: {
        role: {
          initial: 'active',
          states: {
            active: { on: { DRAIN: 'draining' } },
            draining: { on: { HANDED_OFF: '#node-lifecycle.left' } },
          },
        },
        health: {
          initial: 'healthy',
          states: {
            healthy: { on: { BEAT: { actions: 'countBeat' } } },
          },
        },
      },
      on: { STOP: 'left' },
    },
    left: { type: 'final' },
  },
});

const relay = await startRelay({
  port: Number(arg('port') ?? 0),
  onControl: (c) => ({ ok: true, message: `pretended to ${c.action}${c.nodeId ? ` ${c.nodeId}` : ''}` }),
});
const publish = (o: Observation): void => relay.publish(o);

const ids: NodeId[] = ['n1', 'n2', 'n3', 'n4', 'n5'];
const t0 = Date.now();
let seq = 0;
const ev = (origin: NodeId, draft: Record<string, unknown>): DomainEvent =>
  ({ id: `${origin}-1-${++seq}`, origin, version: 1, at: Date.now(), ...draft }) as unknown as DomainEvent;

const actors = ids.map((id) => {
  const inspect = createInspector(id, (event) => publish({ kind: 'inspection', nodeId: id, event }));
  const lead = createActor(leadership, { inspect }).start();
  const life = createActor(lifecycle, { inspect }).start();
  life.send({ type: 'ADMITTED' });
  return { id, lead, life };
});
actors[2]!.lead.send({ type: 'LEASE_WON' });
actors[2]!.lead.send({ type: 'RENEWED' });

// Shard map: a balanced spread over n1..n4, n5 draining, a few hand-offs in flight.
const owners: (NodeId | null)[] = Array.from({ length: 1024 }, (_, i) => ids[(i * 7 + (i >> 5)) % 5]!);
for (let i = 0; i < 1024; i += 37) owners[i] = 'n4';
owners[900] = null;
owners[901] = null;
const handoffs: HandoffView[] = [
  { shardId: 5, from: 'n5', to: 'n1' },
  { shardId: 44, from: 'n5', to: 'n2' },
  { shardId: 300, from: 'n5', to: 'n4' },
];
const status: Record<NodeId, NodeStatus> = {
  n1: 'Active',
  n2: 'Active',
  n3: 'Active',
  n4: 'Failed',
  n5: 'Draining',
};
actors[4]!.life.send({ type: 'DRAIN' });

const viewOf = (self: NodeId, version: number): ClusterView => {
  const now = Date.now();
  const nodes: (NodeInfo & { shards: number; load: number })[] = ids.map((id) => ({
    id,
    status: status[id]!,
    incarnation: id === 'n2' ? 2 : 1,
    lastSeen: status[id] === 'Failed' ? t0 - 4200 : now - Math.round(Math.random() * 400),
    load: 0,
    weight: 1,
    shards: owners.filter((o) => o === id).length,
  }));
  return {
    nodeId: self,
    cluster: 'demo',
    status: status[self]!,
    incarnation: 1,
    leader: { nodeId: 'n3', term: 41 },
    isLeader: self === 'n3',
    nodes,
    shardMap: { version, term: 41, owners: [...owners] },
    handoffs: self === 'n3' ? handoffs : [],
    fenced: false,
    at: now,
  };
};

const history: [NodeId, Record<string, unknown>][] = [
  ['n1', { type: 'LeaderElected', nodeId: 'n1', term: 12, previous: null }],
  [
    'n1',
    { type: 'RebalancingTriggered', term: 12, rebalanceId: 'r1', reason: 'bootstrap', epoch: 1, plan: [] },
  ],
  ...owners.map(
    (o, shardId) =>
      [
        'n1',
        { type: 'ShardAssigned', term: 12, shardId, nodeId: o ?? 'n1', reason: 'initial', previous: null },
      ] as [NodeId, Record<string, unknown>],
  ),
  [
    'n1',
    { type: 'RebalancingCompleted', term: 12, rebalanceId: 'r1', moved: 1024, skipped: 0, durationMs: 84 },
  ],
  ['n1', { type: 'LeadershipLost', nodeId: 'n1', term: 12, reason: 'renew-deadline' }],
  ['n3', { type: 'LeaderElected', nodeId: 'n3', term: 41, previous: { nodeId: 'n1', term: 12 } }],
  ['n3', { type: 'NodeJoined', term: 41, nodeId: 'n5', incarnation: 1, weight: 1 }],
  [
    'n3',
    { type: 'NodeFailed', term: 41, nodeId: 'n4', incarnation: 1, lastSeen: t0 - 4200, orphaned: [900, 901] },
  ],
  ['n3', { type: 'ShardAssigned', term: 41, shardId: 17, nodeId: 'n2', reason: 'recovery', previous: 'n4' }],
  ['n3', { type: 'NodeDraining', term: 41, nodeId: 'n5' }],
  [
    'n3',
    {
      type: 'RebalancingTriggered',
      term: 41,
      rebalanceId: 'r2',
      reason: 'node-draining',
      epoch: 7,
      plan: [{ shardId: 5, from: 'n5', to: 'n1', reason: 'drain' }],
    },
  ],
  ['n3', { type: 'ShardMigrated', term: 41, shardId: 5, from: 'n5', to: 'n1', reason: 'drain' }],
  ['n3', { type: 'ShardMigrated', term: 41, shardId: 44, from: 'n5', to: 'n2', reason: 'drain' }],
];
for (const [origin, draft] of history) publish({ kind: 'domain', nodeId: origin, event: ev(origin, draft) });

let version = 37;
const tick = (): void => {
  version++;
  for (const id of ids)
    if (status[id] !== 'Failed') publish({ kind: 'view', nodeId: id, view: viewOf(id, version) });
  publish({
    kind: 'domain',
    nodeId: 'n3',
    event: ev('n3', { type: 'LeadershipRenewed', term: 41, nodeId: 'n3', expiresAt: Date.now() + 3000 }),
  });
  const leader = actors[2]!;
  leader.lead.send({ type: 'TICK' });
  leader.lead.send({ type: 'RENEWED' });
  for (const a of actors) a.life.send({ type: 'BEAT' });
};
tick();
const timer = setInterval(tick, 1000);

console.log(`visualizer preview at ${relay.url}`);

const shot = arg('screenshot');
if (shot) {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_FLAGS] });
  const page = await browser.newPage({ viewport: { width: Number(arg('width') ?? 1600), height: 1000 } });
  page.on('console', (m) => console.log(`[page] ${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
  await page.goto(relay.url);
  await page
    .waitForSelector('[data-testid^="statechart-"] svg', { timeout: 10_000 })
    .catch((e: unknown) => console.log(`[preview] no chart drawn: ${String(e).split('\n')[0]}`));
  await page.waitForTimeout(Number(arg('wait') ?? 1200));
  if (args.includes('--hover')) await page.hover('[data-shard="300"]');
  await page.screenshot({ path: shot, fullPage: true });
  await browser.close();
  clearInterval(timer);
  for (const a of actors) {
    a.lead.stop();
    a.life.stop();
  }
  await relay.close();
  console.log(`saved ${shot}`);
}
