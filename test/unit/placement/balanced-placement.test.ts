import { describe, expect, it } from 'vitest';
import { type NodeId, shardCounts } from '../../../src/domain/values.js';
import { BalancedPlacement, HashRing, type PlacementNode } from '../../../src/placement/index.js';

const SHARDS = 1024;
const nodes = (n: number): PlacementNode[] => Array.from({ length: n }, (_, i) => ({ id: `node-${i}` }));
const unowned = (): (NodeId | null)[] => new Array<NodeId | null>(SHARDS).fill(null);

function loads(owners: readonly NodeId[], members: readonly PlacementNode[]): number[] {
  const counts = shardCounts(owners);
  return members.map((n) => counts.get(n.id) ?? 0);
}

describe('BalancedPlacement', () => {
  const strategy = new BalancedPlacement();

  it.each([1, 2, 3, 5, 7, 10, 50, 100, 500, 1500])('spreads 1024 shards evenly over %i nodes', (n) => {
    const members = nodes(n);
    const { owners } = strategy.place({ shardCount: SHARDS, previous: unowned(), nodes: members });
    const l = loads(owners, members);
    expect(Math.max(...l) - Math.min(...l)).toBeLessThanOrEqual(1);
    expect(l.reduce((a, b) => a + b, 0)).toBe(SHARDS);
  });

  it.each([3, 5, 10, 20])('moves exactly the quota of a node joining %i evenly loaded nodes', (n) => {
    const members = nodes(n);
    const before = strategy.place({ shardCount: SHARDS, previous: unowned(), nodes: members }).owners;
    const after = strategy.place({
      shardCount: SHARDS,
      previous: before,
      nodes: [...members, { id: 'joiner' }],
    });
    const joinerLoad = after.owners.filter((o) => o === 'joiner').length;
    expect([Math.floor(SHARDS / (n + 1)), Math.ceil(SHARDS / (n + 1))]).toContain(joinerLoad);
    expect(after.moves).toHaveLength(joinerLoad);
    const l = loads(after.owners, [...members, { id: 'joiner' }]);
    expect(Math.max(...l) - Math.min(...l)).toBeLessThanOrEqual(1);
  });

  it.each([3, 5, 10, 20])('moves exactly the shards of a node leaving %i evenly loaded nodes', (n) => {
    const members = nodes(n);
    const before = strategy.place({ shardCount: SHARDS, previous: unowned(), nodes: members }).owners;
    const leaver = before.filter((o) => o === 'node-1').length;
    const remaining = members.filter((m) => m.id !== 'node-1');
    const after = strategy.place({ shardCount: SHARDS, previous: before, nodes: remaining });
    expect(after.moves).toHaveLength(leaver);
    const l = loads(after.owners, remaining);
    expect(Math.max(...l) - Math.min(...l)).toBeLessThanOrEqual(1);
  });

  it('never moves a shard whose Active owner is within its quota, and gives the ceiling to the fuller node', () => {
    // node-0 holds 600, node-1 holds 424; with node-2 joining the quotas are 342/341/341.
    const previous: NodeId[] = Array.from({ length: SHARDS }, (_, s) => (s < 600 ? 'node-0' : 'node-1'));
    const result = strategy.place({ shardCount: SHARDS, previous, nodes: nodes(3) });
    expect(loads(result.owners, nodes(3))).toEqual([342, 341, 341]);
    expect(result.moves).toHaveLength(600 - 342 + (424 - 341));
    expect(result.moves.every((m) => m.to === 'node-2' && m.reason === 'balance')).toBe(true);
  });

  it('keeps most shards on the node the ring prefers', () => {
    const members = nodes(10);
    const ring = new HashRing(members);
    const { owners } = strategy.place({ shardCount: SHARDS, previous: unowned(), nodes: members });
    const onRingOwner = owners.filter((o, s) => o === ring.ownerOfShard(s)).length;
    expect(onRingOwner / SHARDS).toBeGreaterThan(0.85);
  });

  it('gives a node that leaves and rejoins most of its old shards back', () => {
    const members = nodes(10);
    const first = strategy.place({ shardCount: SHARDS, previous: unowned(), nodes: members }).owners;
    const without = strategy.place({ shardCount: SHARDS, previous: first, nodes: members.slice(1) }).owners;
    const back = strategy.place({ shardCount: SHARDS, previous: without, nodes: members }).owners;
    const had = first.flatMap((o, s) => (o === 'node-0' ? [s] : []));
    const regained = had.filter((s) => back[s] === 'node-0').length;
    expect(regained / had.length).toBeGreaterThan(0.9);
  });

  it('holds every node within one shard of its weighted share', () => {
    const members: PlacementNode[] = [
      { id: 'a', weight: 1 },
      { id: 'b', weight: 2 },
      { id: 'c', weight: 3 },
      { id: 'd', weight: 5 },
      { id: 'e', weight: 0.5 },
    ];
    const total = members.reduce((a, m) => a + (m.weight ?? 1), 0);
    const { owners } = strategy.place({ shardCount: SHARDS, previous: unowned(), nodes: members });
    const l = loads(owners, members);
    members.forEach((m, i) => {
      expect(Math.abs(l[i]! - (SHARDS * (m.weight ?? 1)) / total)).toBeLessThan(1);
    });
  });

  it('places more nodes than shards with at most one shard each', () => {
    const members = nodes(20);
    const { owners } = strategy.place({ shardCount: 7, previous: new Array(7).fill(null), nodes: members });
    expect(new Set(owners).size).toBe(7);
  });
});
