import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../../src/domain/errors.js';
import { type NodeId, shardCounts } from '../../../src/domain/values.js';
import {
  BalancedPlacement,
  ConsistentHashPlacement,
  type PlacementInput,
  type PlacementNode,
  type PlacementStrategy,
} from '../../../src/placement/index.js';

const SHARDS = 1024;
const nodes = (n: number, prefix = 'node'): PlacementNode[] =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}` }));
const unowned = (): (NodeId | null)[] => new Array<NodeId | null>(SHARDS).fill(null);

function bootstrap(strategy: PlacementStrategy, members: readonly PlacementNode[]): readonly NodeId[] {
  return strategy.place({ shardCount: SHARDS, previous: unowned(), nodes: members }).owners;
}

function moved(before: readonly (NodeId | null)[], after: readonly NodeId[]): number[] {
  const out: number[] = [];
  for (let s = 0; s < after.length; s++) if (before[s] !== after[s]) out.push(s);
  return out;
}

describe.each([
  ['consistent hash', () => new ConsistentHashPlacement()],
  ['balanced', () => new BalancedPlacement()],
])('%s placement', (_name, make) => {
  const strategy: PlacementStrategy = make();

  it('assigns every shard on bootstrap with recovery moves from no owner', () => {
    const result = strategy.place({ shardCount: SHARDS, previous: unowned(), nodes: nodes(5) });
    expect(result.owners).toHaveLength(SHARDS);
    expect(result.moves).toHaveLength(SHARDS);
    expect(result.moves.every((m) => m.reason === 'recovery' && m.from === null)).toBe(true);
    expect(new Set(result.owners)).toEqual(new Set(nodes(5).map((n) => n.id)));
  });

  it('gives a joining node shards, taking them only from nodes already present', () => {
    const before = bootstrap(strategy, nodes(5));
    const result = strategy.place({
      shardCount: SHARDS,
      previous: before,
      nodes: [...nodes(5), { id: 'joiner' }],
    });
    const joinerShards = result.owners.filter((o) => o === 'joiner').length;
    expect(joinerShards).toBeGreaterThan(SHARDS / 6 / 2);
    for (const m of result.moves) {
      expect(m.reason).toBe('balance');
      expect(m.to).toBe('joiner');
      expect(m.from).toBe(before[m.shardId]);
    }
    expect(result.moves).toHaveLength(joinerShards);
  });

  it('redistributes the shards of a node that left and moves no others', () => {
    const before = bootstrap(strategy, nodes(5));
    const remaining = nodes(5).filter((n) => n.id !== 'node-2');
    const result = strategy.place({ shardCount: SHARDS, previous: before, nodes: remaining });
    const orphaned = before.flatMap((o, s) => (o === 'node-2' ? [s] : []));
    expect(orphaned.length).toBeGreaterThan(0);
    expect(result.moves.map((m) => m.shardId)).toEqual(orphaned);
    expect(result.moves.every((m) => m.reason === 'recovery' && m.from === 'node-2')).toBe(true);
    expect(result.owners.includes('node-2')).toBe(false);
    expect(moved(before, result.owners)).toEqual(orphaned);
  });

  it('leaves no shard orphaned when half the cluster fails at once', () => {
    const before = bootstrap(strategy, nodes(8));
    const survivors = nodes(8).filter((_, i) => i % 2 === 0);
    const result = strategy.place({ shardCount: SHARDS, previous: before, nodes: survivors });
    const alive = new Set(survivors.map((n) => n.id));
    expect(result.owners.every((o) => alive.has(o))).toBe(true);
  });

  it('empties a draining node with drain moves and gives it nothing', () => {
    const before = bootstrap(strategy, nodes(4));
    const result = strategy.place({
      shardCount: SHARDS,
      previous: before,
      nodes: nodes(4),
      draining: ['node-1'],
    });
    const drained = before.filter((o) => o === 'node-1').length;
    expect(result.owners.includes('node-1')).toBe(false);
    const drainMoves = result.moves.filter((m) => m.reason === 'drain');
    expect(drainMoves).toHaveLength(drained);
    expect(drainMoves.every((m) => m.from === 'node-1' && m.to !== 'node-1')).toBe(true);
    // Recovery, then drain, then balance.
    const order = result.moves.map((m) => ['recovery', 'drain', 'balance'].indexOf(m.reason));
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  it('limits drain and balance moves to maxMoves but always returns every recovery move first', () => {
    const before = bootstrap(strategy, nodes(6));
    // node-0 failed, node-1 drains, a node joined: all three kinds of move are due.
    const input: PlacementInput = {
      shardCount: SHARDS,
      previous: before,
      nodes: [...nodes(6).slice(2), { id: 'joiner' }],
      draining: ['node-1'],
      maxMoves: 25,
    };
    const result = strategy.place(input);
    const unlimited = strategy.place({ ...input, maxMoves: undefined });
    const recovery = result.moves.filter((m) => m.reason === 'recovery');
    const orphaned = before.filter((o) => o === 'node-0').length;
    expect(recovery).toHaveLength(orphaned);
    expect(result.moves.slice(0, orphaned)).toEqual(recovery);
    expect(result.moves.length - orphaned).toBe(25);
    expect(unlimited.moves.length - orphaned).toBeGreaterThan(25);
    // Drain goes before balance within the budget.
    expect(result.moves.slice(orphaned).every((m) => m.reason === 'drain')).toBe(true);
    // Owners reflect the returned moves and nothing else.
    const expected = [...before];
    for (const m of result.moves) expected[m.shardId] = m.to;
    expect(result.owners).toEqual(expected);
    expect(result.owners.includes('node-0')).toBe(false);
  });

  it('lets maxMoves of zero hold back everything but recovery', () => {
    const before = bootstrap(strategy, nodes(3));
    const result = strategy.place({
      shardCount: SHARDS,
      previous: before,
      nodes: [...nodes(3), { id: 'joiner' }],
      maxMoves: 0,
    });
    expect(result.moves).toEqual([]);
    expect(result.owners).toEqual(before);
  });

  it('gives a node of weight 3 about three times the shards of the others', () => {
    const members = [...nodes(5), { id: 'heavy', weight: 3 }];
    const counts = shardCounts(bootstrap(strategy, members));
    const heavy = counts.get('heavy') ?? 0;
    const light = nodes(5).map((n) => counts.get(n.id) ?? 0);
    const mean = light.reduce((a, b) => a + b, 0) / light.length;
    expect(heavy / mean).toBeGreaterThan(2.4);
    expect(heavy / mean).toBeLessThan(3.6);
  });

  it('computes the same result whatever the order of nodes and draining nodes', () => {
    const before = bootstrap(strategy, nodes(7));
    const members = [...nodes(7).slice(1), { id: 'joiner', weight: 2 }];
    const a = strategy.place({
      shardCount: SHARDS,
      previous: before,
      nodes: members,
      draining: ['node-3', 'node-5'],
      maxMoves: 100,
    });
    const b = strategy.place({
      shardCount: SHARDS,
      previous: before,
      nodes: [...members].reverse(),
      draining: ['node-5', 'node-3'],
      maxMoves: 100,
    });
    expect(b).toEqual(a);
  });

  it('moves nothing when placing its own result again', () => {
    const first = strategy.place({
      shardCount: SHARDS,
      previous: bootstrap(strategy, nodes(9)),
      nodes: [...nodes(9).slice(3), { id: 'joiner' }],
      draining: ['node-4'],
    });
    const again = strategy.place({
      shardCount: SHARDS,
      previous: first.owners,
      nodes: [...nodes(9).slice(3), { id: 'joiner' }],
      draining: ['node-4'],
    });
    expect(again.moves).toEqual([]);
  });

  it('rejects an empty node list and a previous map of the wrong length', () => {
    expect(() => strategy.place({ shardCount: SHARDS, previous: unowned(), nodes: [] })).toThrow(
      InvalidValueError,
    );
    expect(() => strategy.place({ shardCount: SHARDS, previous: [null], nodes: nodes(2) })).toThrow(
      InvalidValueError,
    );
    expect(() =>
      strategy.place({ shardCount: 2, previous: [null, null], nodes: nodes(1), draining: ['node-0'] }),
    ).toThrow(InvalidValueError);
    expect(() =>
      strategy.place({ shardCount: 2, previous: [null, null], nodes: nodes(1), maxMoves: -1 }),
    ).toThrow(InvalidValueError);
  });
});
