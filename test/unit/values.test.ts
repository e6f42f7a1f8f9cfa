import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/domain/errors.js';
import { nodeId, shardForKey, shardId, term } from '../../src/domain/values.js';

describe('value objects', () => {
  it('accepts subject-safe node ids and rejects the rest with a message naming the value', () => {
    expect(nodeId('n-1_a')).toBe('n-1_a');
    for (const bad of ['', 'a.b', 'a b', 'x'.repeat(65), 42, null]) {
      expect(() => nodeId(bad)).toThrow(InvalidValueError);
    }
    expect(() => nodeId('a.b')).toThrow(/"a\.b"/);
  });

  it('checks shard ids against the shard count', () => {
    expect(shardId(0)).toBe(0);
    expect(shardId(1023)).toBe(1023);
    expect(() => shardId(1024)).toThrow(/\[0, 1024\)/);
    expect(() => shardId(7, 4)).toThrow(InvalidValueError);
    expect(() => shardId(1.5)).toThrow(InvalidValueError);
  });

  it('requires positive integer terms', () => {
    expect(term(3)).toBe(3);
    expect(() => term(0)).toThrow(InvalidValueError);
  });

  it('maps keys to shards stably and spreads them', () => {
    expect(shardForKey('user-42')).toBe(shardForKey('user-42'));
    const seen = new Set<number>();
    for (let i = 0; i < 10_000; i++) seen.add(shardForKey(`user-${i}`));
    expect(seen.size).toBeGreaterThan(1000);
  });
});
