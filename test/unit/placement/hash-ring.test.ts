import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../../src/domain/errors.js';
import { fnv1a32 } from '../../../src/domain/values.js';
import {
  DEFAULT_VIRTUAL_NODES,
  HashRing,
  shardPoint,
  virtualNodePoint,
} from '../../../src/placement/hash-ring.js';

const ids = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `node-${i}` }));

describe('HashRing', () => {
  it('gives each node 150 virtual nodes per unit of weight, and at least one', () => {
    const ring = new HashRing([{ id: 'a' }, { id: 'b', weight: 2 }, { id: 'c', weight: 0.001 }]);
    expect(ring.pointsOf('a')).toBe(DEFAULT_VIRTUAL_NODES);
    expect(ring.pointsOf('b')).toBe(2 * DEFAULT_VIRTUAL_NODES);
    expect(ring.pointsOf('c')).toBe(1);
    expect(ring.pointsOf('missing')).toBe(0);
    expect(ring.pointCount).toBe(3 * DEFAULT_VIRTUAL_NODES + 1);
  });

  it('places virtual nodes at the FNV-1a hash of "id#replica"', () => {
    expect(virtualNodePoint('node-7', 123)).toBe(fnv1a32('node-7#123'));
    // Each point belongs to the node whose point it is: the ring was built from the same hashes.
    // A weight of 7 gives 1050 replicas, so multi-digit suffixes of every length are covered.
    const ring = new HashRing([...ids(20), { id: 'big', weight: 7 }]);
    for (const id of ring.nodes) {
      const replicas = ring.pointsOf(id);
      for (let r = 0; r < replicas; r++) expect(ring.ownerOf(virtualNodePoint(id, r))).toBe(id);
    }
  });

  it('does not depend on the order of its input', () => {
    const nodes = ids(12);
    const a = new HashRing(nodes);
    const b = new HashRing([...nodes].reverse());
    expect(b.nodes).toEqual(a.nodes);
    for (let s = 0; s < 1024; s++) expect(b.ownerOfShard(s)).toBe(a.ownerOfShard(s));
  });

  it('wraps positions past the last point around to the first', () => {
    const ring = new HashRing(ids(3));
    const first = ring.ownerAt(0);
    expect(ring.locate(0xffffffff)).toBe(0);
    expect(ring.ownerOf(0xffffffff)).toBe(ring.nodes[first]);
  });

  it('lists distinct successors starting with the owner', () => {
    const ring = new HashRing(ids(6));
    const position = shardPoint(42);
    const list = ring.preferenceList(position, 10);
    expect(list).toHaveLength(6);
    expect(new Set(list).size).toBe(6);
    expect(list[0]).toBe(ring.ownerOf(position));
    expect(ring.preferenceList(position, 2)).toEqual(list.slice(0, 2));
  });

  it('moves positions only to a joining node', () => {
    const before = new HashRing(ids(10));
    const after = new HashRing([...ids(10), { id: 'joiner' }]);
    let moved = 0;
    for (let s = 0; s < 1024; s++) {
      const owner = after.ownerOfShard(s);
      if (owner !== before.ownerOfShard(s)) {
        expect(owner).toBe('joiner');
        moved++;
      }
    }
    expect(moved).toBeGreaterThan(0);
  });

  it('spreads positions over nodes roughly by weight', () => {
    const ring = new HashRing([...ids(9), { id: 'heavy', weight: 3 }]);
    const counts = new Map<string, number>();
    const samples = 120_000;
    for (let k = 0; k < samples; k++) {
      const owner = ring.ownerOf(fnv1a32(`key-${k}`));
      counts.set(owner, (counts.get(owner) ?? 0) + 1);
    }
    const unit = samples / 12;
    for (const [id, c] of counts) {
      const expected = id === 'heavy' ? 3 * unit : unit;
      expect(Math.abs(c - expected) / expected).toBeLessThan(0.3);
    }
  });

  it('rejects an empty node list, duplicate ids and non-positive weights', () => {
    expect(() => new HashRing([])).toThrow(InvalidValueError);
    expect(() => new HashRing([{ id: 'a' }, { id: 'a' }])).toThrow(/listed twice/);
    expect(() => new HashRing([{ id: 'a', weight: 0 }])).toThrow(InvalidValueError);
    expect(() => new HashRing([{ id: 'a', weight: Number.NaN }])).toThrow(InvalidValueError);
    expect(() => new HashRing([{ id: 'a' }], { virtualNodes: 0 })).toThrow(InvalidValueError);
  });
});
