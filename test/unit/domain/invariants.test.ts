import { describe, expect, it } from 'vitest';
import { InvariantViolationError } from '../../../src/domain/errors.js';
import {
  assertInvariants,
  checkInvariants,
  INVARIANT_NAMES,
  summarize,
} from '../../../src/domain/invariants.js';
import type { ClusterState } from '../../../src/domain/state.js';
import { initialClusterState } from '../../../src/domain/state.js';
import { bootstrapped } from './fixtures.js';

function withOwner(s: ClusterState, shard: number, owner: string | null): ClusterState {
  const owners = s.shardMap.owners.slice();
  owners[shard] = owner;
  return { ...s, shardMap: { ...s.shardMap, owners } };
}

describe('checkInvariants', () => {
  it('finds nothing wrong in an empty or a bootstrapped cluster', () => {
    expect(checkInvariants(initialClusterState())).toEqual([]);
    expect(checkInvariants(bootstrapped())).toEqual([]);
  });

  it('reports a leader whose term is not the highest elected', () => {
    const s: ClusterState = { ...bootstrapped(), highestTerm: 3 };
    const [v] = checkInvariants(s);
    expect(v?.invariant).toBe('single-leader-per-term');
    expect(v?.message).toContain('term 3 was already elected');
  });

  it('reports a shard map written by a term above any elected', () => {
    const s = bootstrapped();
    const v = checkInvariants({ ...s, shardMap: { ...s.shardMap, term: 9 } });
    expect(v.map((x) => x.invariant)).toEqual(['single-leader-per-term']);
  });

  it('reports unowned shards that are not orphaned once the cluster is bootstrapped', () => {
    const s = withOwner(bootstrapped(), 3, null);
    const [v] = checkInvariants(s);
    expect(v).toMatchObject({ invariant: 'all-shards-owned', evidence: { offending: [3], unowned: 1 } });
    expect(checkInvariants({ ...s, orphaned: [3], orphanedFrom: { 3: 'n1' } })).toEqual([]);
    expect(checkInvariants({ ...s, bootstrapped: false })).toEqual([]);
  });

  it('reports an orphan list holding owned, duplicated or out-of-range shards', () => {
    const s = bootstrapped();
    for (const orphaned of [[0], [12], [-1]]) {
      expect(checkInvariants({ ...s, orphaned }).map((v) => v.invariant)).toContain('all-shards-owned');
    }
    const dup = withOwner(s, 2, null);
    expect(checkInvariants({ ...dup, orphaned: [2, 2] })[0]?.message).toMatch(
      /owned, duplicated or out of range/,
    );
  });

  it('reports a shard map of the wrong length', () => {
    const s = bootstrapped();
    const v = checkInvariants({ ...s, shardMap: { ...s.shardMap, owners: s.shardMap.owners.slice(1) } });
    expect(v[0]?.message).toContain('11 owners for 12 shards');
  });

  it('reports shards on Failed, Left or unknown nodes but not on Draining ones', () => {
    const s = bootstrapped();
    const status = (st: 'Failed' | 'Left' | 'Draining'): ClusterState => ({
      ...s,
      nodes: { ...s.nodes, n3: { ...s.nodes.n3!, status: st } },
    });
    expect(checkInvariants(status('Draining'))).toEqual([]);
    for (const st of ['Failed', 'Left'] as const) {
      const [v] = checkInvariants(status(st));
      expect(v?.invariant).toBe('shards-on-active-nodes');
      expect(v?.message).toContain(`(${st})`);
    }
    expect(checkInvariants(withOwner(s, 0, 'ghost'))[0]?.message).toContain('ghost (unknown)');
  });

  it('reports epochs out of order', () => {
    const s = bootstrapped();
    expect(checkInvariants({ ...s, balancedEpoch: s.epoch + 1 })[0]?.invariant).toBe(
      'assignments-change-only-on-topology-change',
    );
    const r = {
      rebalanceId: 'r',
      reason: 'bootstrap' as const,
      epoch: s.epoch + 2,
      term: 1,
      startedAt: 0,
      remaining: [],
      moved: 0,
    };
    expect(checkInvariants({ ...s, rebalance: r })[0]?.message).toContain('ahead of topology epoch');
  });

  it('reports a leader that is not Active while another node is, and allows it at bootstrap', () => {
    const s = bootstrapped();
    const [v] = checkInvariants({ ...s, leader: { nodeId: 'n9', term: 1 } });
    expect(v?.invariant).toBe('leader-is-active');
    expect(v?.message).toContain('n9 (term 1) is not a member');
    const boot: ClusterState = {
      ...initialClusterState(4),
      leader: { nodeId: 'n9', term: 1 },
      highestTerm: 1,
    };
    expect(checkInvariants(boot)).toEqual([]);
  });

  it('uses only the five invariant names', () => {
    const s = withOwner({ ...bootstrapped(), leader: { nodeId: 'n9', term: 1 } }, 0, 'ghost');
    const names = checkInvariants(s).map((v) => v.invariant);
    expect(names.length).toBeGreaterThan(1);
    for (const n of names) expect(INVARIANT_NAMES).toContain(n);
  });
});

describe('assertInvariants', () => {
  it('throws the first violation as an InvariantViolationError and passes a sound state', () => {
    expect(() => assertInvariants(bootstrapped())).not.toThrow();
    expect(() => assertInvariants(withOwner(bootstrapped(), 1, null))).toThrow(InvariantViolationError);
    expect(() => assertInvariants(withOwner(bootstrapped(), 1, null))).toThrow(/all-shards-owned/);
  });
});

describe('summarize', () => {
  it('counts shards per node and lists node statuses instead of every owner', () => {
    const s = bootstrapped(['n1', 'n2', 'n3'], 1024);
    const sum = summarize(s);
    expect(sum.nodes).toEqual({ n1: 'Active#1', n2: 'Active#1', n3: 'Active#1' });
    expect(Object.values(sum.owned).reduce((a, b) => a + b, 0)).toBe(1024);
    expect(sum.unowned).toBe(0);
    expect(JSON.stringify(sum).length).toBeLessThan(600);
  });

  it('caps the orphan list and reports the full count', () => {
    const owners = new Array<string | null>(100).fill(null);
    const s: ClusterState = {
      ...initialClusterState(100),
      shardMap: { version: 1, term: 1, owners },
      orphaned: owners.map((_, i) => i),
      bootstrapped: true,
    };
    const sum = summarize(s);
    expect(sum.orphaned.length).toBe(16);
    expect(sum.orphanedCount).toBe(100);
  });
});
