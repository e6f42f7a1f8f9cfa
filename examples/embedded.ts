/**
 * Three nodes in one process: who leads, where a key lives, what happens when a node drains.
 * Run with `npx tsx examples/embedded.ts`.
 */
import { createClusterNode, FAST_TIMING, memoryTransport } from '../src/index.js';

const transport = memoryTransport();
const nodes = ['a', 'b', 'c'].map((nodeId) =>
  createClusterNode({ nodeId, cluster: 'example', transport, timing: FAST_TIMING, shardCount: 64 }),
);
nodes[0]!.on('*', (e) => {
  if (e.type === 'ShardAssigned' || e.type === 'ShardMigrated' || e.type === 'LeadershipRenewed') return;
  console.log(`event: ${e.type}${'nodeId' in e ? ` ${e.nodeId}` : ''} (term ${e.term})`);
});

await Promise.all(nodes.map((n) => n.start()));
const until = async (cond: () => boolean) => {
  while (!cond()) await new Promise((r) => setTimeout(r, 20));
};
await until(() => nodes.every((n) => n.state().shardMap.owners.every((o) => o !== null)));

const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
const shard = a.shardForKey('user-42');
console.log(`leader: ${a.leader()?.nodeId} (term ${a.leader()?.term})`);
console.log(`user-42 → shard ${shard} → owned by ${a.ownerOf(shard)}`);

const follower = nodes.find((n) => !n.isLeader())!;
await follower.drain(); // its shards are handed off, then it leaves
await until(() => a.state().nodes.find((n) => n.id === follower.nodeId)?.status === 'Left' || follower === a);
console.log(`after draining ${follower.nodeId}: user-42 → ${b.ownerOf(shard) ?? a.ownerOf(shard)}`);

for (const n of nodes) await n.stop(); // graceful: each leaves with NodeLeft
