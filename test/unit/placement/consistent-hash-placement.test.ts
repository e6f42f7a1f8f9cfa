import { describe, expect, it } from 'vitest';
import type { NodeId } from '../../../src/domain/values.js';
import {
  ConsistentHashPlacement,
  HashRing,
  type PlacementNode,
  shardPoint,
} from '../../../src/placement/index.js';

const SHARDS = 1024;
const nodes = (n: number): PlacementNode[] => Array.from({ length: n }, (_, i) => ({ id: `node-${i}` }));

describe('ConsistentHashPlacement', () => {
  const strategy = new ConsistentHashPlacement();

  it('puts every shard on the node the ring prefers for it', () => {
    const members = [...nodes(7), { id: 'heavy', weight: 2 }];
    const ring = new HashRing(members);
    const { owners } = strategy.place({
      shardCount: SHARDS,
      previous: new Array<NodeId | null>(SHARDS).fill(null),
      nodes: members,
    });
    for (let s = 0; s < SHARDS; s++) expect(owners[s]).toBe(ring.ownerOfShard(s));
  });

  it('moves a shard off an Active node that is not its ring owner, and only such shards', () => {
    const members = nodes(4);
    const ring = new HashRing(members);
    const previous = new Array<NodeId | null>(SHARDS).fill('node-0');
    const result = strategy.place({ shardCount: SHARDS, previous, nodes: members });
    const misplaced = previous.flatMap((_, s) => (ring.ownerOfShard(s) === 'node-0' ? [] : [s]));
    expect(result.moves.map((m) => m.shardId)).toEqual(misplaced);
    expect(result.moves.every((m) => m.reason === 'balance' && m.from === 'node-0')).toBe(true);
  });

  it('hands a draining node its successors on the ring', () => {
    const members = nodes(6);
    const previous = strategy.place({
      shardCount: SHARDS,
      previous: new Array<NodeId | null>(SHARDS).fill(null),
      nodes: members,
    }).owners;
    const result = strategy.place({ shardCount: SHARDS, previous, nodes: members, draining: ['node-3'] });
    const full = new HashRing(members);
    for (const m of result.moves) {
      expect(m.reason).toBe('drain');
      // The new owner is the next distinct node after node-3 on the full ring.
      const list = full.preferenceList(shardPoint(m.shardId), 2);
      expect(list[0]).toBe('node-3');
      expect(m.to).toBe(list[1]);
    }
    expect(result.moves.length).toBe(previous.filter((o) => o === 'node-3').length);
  });
});
