import { describe, expect, it } from 'vitest';
import { apply, applyAll, ownedBy, replay } from '../../../src/domain/apply.js';
import {
  completeMigration,
  drainNode,
  joinCluster,
  markNodeFailed,
  rebalanceShards,
} from '../../../src/domain/commands.js';
import { InvariantViolationError } from '../../../src/domain/errors.js';
import type { DomainEvent, EventDraft } from '../../../src/domain/events.js';
import { stamp } from '../../../src/domain/events.js';
import type { ClusterState } from '../../../src/domain/state.js';
import { accepted, bootstrapped, LeastLoadedTestPlacement, run, stampFor } from './fixtures.js';

const s1 = stampFor('n1', 7_000);

/** A hand-made event from n1, stamped. */
function ev<E extends DomainEvent>(draft: EventDraft<E>): E {
  return stamp<E>(draft, s1);
}

/** Asserts that applying `event` throws a violation of `invariant` and returns the error. */
function violates(state: ClusterState, event: DomainEvent, invariant: string): InvariantViolationError {
  try {
    apply(state, event);
  } catch (e) {
    expect(e).toBeInstanceOf(InvariantViolationError);
    const err = e as InvariantViolationError;
    expect(err.invariant).toBe(invariant);
    expect(err.message).toContain(`invariant "${invariant}" violated`);
    return err;
  }
  return expect.fail(`expected ${event.type} to violate ${invariant}`);
}

describe('apply: single-leader-per-term', () => {
  it('throws on a second LeaderElected for a term already elected', () => {
    const s = bootstrapped();
    const err = violates(
      s,
      ev({ type: 'LeaderElected', term: 1, version: 0, nodeId: 'n2', previous: null }),
      'single-leader-per-term',
    );
    expect(err.message).toContain('n2 elected for term 1');
    expect(err.message).toContain('leader n1');
  });

  it('throws on a renewal by a node or term that is not the current leader', () => {
    const s = bootstrapped();
    violates(
      s,
      ev({ type: 'LeadershipRenewed', term: 1, version: 0, nodeId: 'n2', expiresAt: 1 }),
      'single-leader-per-term',
    );
    violates(
      s,
      ev({ type: 'LeadershipRenewed', term: 2, version: 0, nodeId: 'n1', expiresAt: 1 }),
      'single-leader-per-term',
    );
  });

  it('throws when another node claims to lose the current term', () => {
    const s = bootstrapped();
    violates(
      s,
      ev({ type: 'LeadershipLost', term: 1, version: 0, nodeId: 'n2', reason: 'lease-lost' }),
      'single-leader-per-term',
    );
  });

  it('throws on a shard-map change decided in a term older than the highest elected one', () => {
    let s = bootstrapped();
    s = apply(s, ev({ type: 'LeaderElected', term: 4, version: 0, nodeId: 'n2', previous: s.leader }));
    const shard = ownedBy(s.shardMap.owners, 'n3');
    const err = violates(
      s,
      ev({
        type: 'NodeFailed',
        term: 1,
        version: 9,
        nodeId: 'n3',
        incarnation: 1,
        lastSeen: 0,
        orphaned: shard,
      }),
      'single-leader-per-term',
    );
    expect(err.message).toContain('term 1 by n1 after term 4');
  });

  it('ignores a loss from an older term and clears the leader on a matching one', () => {
    let s = bootstrapped();
    s = apply(s, ev({ type: 'LeaderElected', term: 2, version: 0, nodeId: 'n2', previous: s.leader }));
    expect(
      apply(s, ev({ type: 'LeadershipLost', term: 1, version: 0, nodeId: 'n1', reason: 'superseded' })),
    ).toEqual(s);
    const next = apply(
      s,
      ev({ type: 'LeadershipLost', term: 2, version: 0, nodeId: 'n2', reason: 'resigned' }),
    );
    expect(next.leader).toBeNull();
    expect(next.highestTerm).toBe(2);
  });
});

describe('apply: all-shards-owned', () => {
  it('throws when a bootstrapped state has an unowned shard that is not orphaned', () => {
    const s = bootstrapped();
    const owners = s.shardMap.owners.slice();
    owners[5] = null;
    const broken: ClusterState = { ...s, shardMap: { ...s.shardMap, owners } };
    const err = violates(
      broken,
      ev({ type: 'LeadershipRenewed', term: 1, version: 0, nodeId: 'n1', expiresAt: 1 }),
      'all-shards-owned',
    );
    expect(err.message).toMatch(/1 shard\(s\) have no owner and are not orphaned awaiting recovery: 5/);
  });

  it('allows unplaced shards before the cluster has placed all of them once', () => {
    const s = replay(
      [
        ev({ type: 'LeaderElected', term: 1, version: 0, nodeId: 'n1', previous: null }),
        ev({ type: 'NodeJoined', term: 1, version: 1, nodeId: 'n1', incarnation: 1, weight: 1 }),
        ev({
          type: 'ShardAssigned',
          term: 1,
          version: 2,
          shardId: 0,
          nodeId: 'n1',
          reason: 'initial',
          previous: null,
        }),
      ],
      4,
    );
    expect(s.shardMap.owners).toEqual(['n1', null, null, null]);
    expect(s.bootstrapped).toBe(false);
  });
});

describe('apply: shards-on-active-nodes', () => {
  it('throws when a shard is assigned to a node that is not Active', () => {
    let s = bootstrapped();
    const [orphan] = ownedBy(s.shardMap.owners, 'n3');
    s = run(s, markNodeFailed(s, { nodeId: 'n3', lastSeen: 1 }, s1));
    const assign = (nodeId: string) =>
      ev({
        type: 'ShardAssigned',
        term: 1,
        version: 9,
        shardId: orphan!,
        nodeId,
        reason: 'recovery',
        previous: 'n3',
      });
    expect(violates(s, assign('n3'), 'shards-on-active-nodes').message).toContain('n3, which is Failed');
    s = run(s, drainNode(s, { nodeId: 'n2' }, s1));
    expect(violates(s, assign('n2'), 'shards-on-active-nodes').message).toContain('n2, which is Draining');
    expect(violates(s, assign('ghost'), 'shards-on-active-nodes').message).toContain('unknown');
  });

  it('throws when a planned migration targets a node that is no longer Active', () => {
    let s = bootstrapped();
    s = run(s, joinCluster(s, { nodeId: 'n4', incarnation: 1 }, s1));
    s = run(
      s,
      rebalanceShards(
        s,
        { strategy: new LeastLoadedTestPlacement(), reason: 'node-joined', rebalanceId: 'r' },
        s1,
      ),
    );
    const m = s.rebalance!.remaining[0]!;
    s = run(s, drainNode(s, { nodeId: 'n4' }, s1));
    violates(
      s,
      ev({
        type: 'ShardMigrated',
        term: 1,
        version: 9,
        shardId: m.shardId,
        from: m.from!,
        to: m.to,
        reason: 'balance',
      }),
      'shards-on-active-nodes',
    );
  });

  it('throws when a state holds a shard on a Failed node', () => {
    const s = bootstrapped();
    const broken: ClusterState = { ...s, nodes: { ...s.nodes, n2: { ...s.nodes.n2!, status: 'Failed' } } };
    const err = violates(
      broken,
      ev({ type: 'LeadershipRenewed', term: 1, version: 0, nodeId: 'n1', expiresAt: 1 }),
      'shards-on-active-nodes',
    );
    expect(err.message).toMatch(/on n2 \(Failed\)/);
  });
});

describe('apply: assignments-change-only-on-topology-change', () => {
  it('throws on a rebalance triggered with no topology change', () => {
    const s = bootstrapped();
    const err = violates(
      s,
      ev({
        type: 'RebalancingTriggered',
        term: 1,
        version: 9,
        rebalanceId: 'x',
        reason: 'leader-changed',
        epoch: s.epoch,
        plan: [],
      }),
      'assignments-change-only-on-topology-change',
    );
    expect(err.message).toContain(`epoch ${s.epoch}, already balanced`);
  });

  it('throws when an owned shard is reassigned instead of handed off', () => {
    const s = bootstrapped();
    const [shard] = ownedBy(s.shardMap.owners, 'n2');
    violates(
      s,
      ev({
        type: 'ShardAssigned',
        term: 1,
        version: 9,
        shardId: shard!,
        nodeId: 'n1',
        reason: 'initial',
        previous: null,
      }),
      'assignments-change-only-on-topology-change',
    );
  });

  it('throws on a migration with no rebalance in progress, or one the plan does not contain', () => {
    let s = bootstrapped();
    const [shard] = ownedBy(s.shardMap.owners, 'n2');
    const migrate = ev({
      type: 'ShardMigrated',
      term: 1,
      version: 9,
      shardId: shard!,
      from: 'n2',
      to: 'n1',
      reason: 'balance',
    });
    expect(violates(s, migrate, 'assignments-change-only-on-topology-change').message).toContain(
      'no rebalance in progress',
    );
    s = run(s, joinCluster(s, { nodeId: 'n4', incarnation: 1 }, s1));
    s = run(
      s,
      rebalanceShards(
        s,
        { strategy: new LeastLoadedTestPlacement(), reason: 'node-joined', rebalanceId: 'r' },
        s1,
      ),
    );
    expect(violates(s, migrate, 'assignments-change-only-on-topology-change').message).toContain(
      'did not plan',
    );
  });

  it('throws when a planned migration finds the shard with another owner', () => {
    let s = bootstrapped();
    s = run(s, joinCluster(s, { nodeId: 'n4', incarnation: 1 }, s1));
    s = run(
      s,
      rebalanceShards(
        s,
        { strategy: new LeastLoadedTestPlacement(), reason: 'node-joined', rebalanceId: 'r' },
        s1,
      ),
    );
    const m = s.rebalance!.remaining.find((x) => x.from !== 'n1')!;
    s = run(s, markNodeFailed(s, { nodeId: m.from!, lastSeen: 1 }, s1));
    const err = violates(
      s,
      ev({
        type: 'ShardMigrated',
        term: 1,
        version: 9,
        shardId: m.shardId,
        from: m.from!,
        to: m.to,
        reason: 'balance',
      }),
      'assignments-change-only-on-topology-change',
    );
    expect(err.message).toContain('its owner is none');
  });
});

describe('apply: leader-is-active', () => {
  it('throws when a node that is not Active is elected while others are', () => {
    let s = bootstrapped();
    s = run(s, drainNode(s, { nodeId: 'n3' }, s1));
    const err = violates(
      s,
      ev({ type: 'LeaderElected', term: 2, version: 0, nodeId: 'n3', previous: s.leader }),
      'leader-is-active',
    );
    expect(err.message).toContain('leader n3 (term 2) is Draining');
  });

  it('throws when the leader starts draining', () => {
    const s = bootstrapped();
    violates(s, ev({ type: 'NodeDraining', term: 1, version: 9, nodeId: 'n1' }), 'leader-is-active');
  });

  it('allows a leader that is not a member only while no node is Active', () => {
    const elected = replay(
      [ev({ type: 'LeaderElected', term: 1, version: 0, nodeId: 'n9', previous: null })],
      4,
    );
    expect(elected.leader).toEqual({ nodeId: 'n9', term: 1 });
    violates(
      elected,
      ev({ type: 'NodeJoined', term: 1, version: 1, nodeId: 'n2', incarnation: 1, weight: 1 }),
      'leader-is-active',
    );
  });
});

describe('apply: events that do not fit the state', () => {
  it('throws event-fits-state for an unknown node, a wrong orphan list, or a stranger rebalance', () => {
    const s = bootstrapped();
    violates(s, ev({ type: 'NodeDraining', term: 1, version: 9, nodeId: 'ghost' }), 'event-fits-state');
    violates(
      s,
      ev({
        type: 'NodeFailed',
        term: 1,
        version: 9,
        nodeId: 'n2',
        incarnation: 1,
        lastSeen: 0,
        orphaned: [],
      }),
      'event-fits-state',
    );
    violates(
      s,
      ev({
        type: 'NodeFailed',
        term: 1,
        version: 9,
        nodeId: 'n2',
        incarnation: 5,
        lastSeen: 0,
        orphaned: ownedBy(s.shardMap.owners, 'n2'),
      }),
      'event-fits-state',
    );
    violates(
      s,
      ev({ type: 'NodeJoined', term: 1, version: 9, nodeId: 'n2', incarnation: 2, weight: 1 }),
      'event-fits-state',
    );
    violates(
      s,
      ev({
        type: 'RebalancingCompleted',
        term: 1,
        version: 9,
        rebalanceId: 'nope',
        moved: 0,
        skipped: 0,
        durationMs: 0,
      }),
      'event-fits-state',
    );
    violates(
      s,
      ev({
        type: 'ShardAssigned',
        term: 1,
        version: 9,
        shardId: 99,
        nodeId: 'n1',
        reason: 'initial',
        previous: null,
      }),
      'event-fits-state',
    );
  });
});

describe('apply: evidence', () => {
  it('prints a compact summary of the offending state, not every owner', () => {
    const s = bootstrapped(['n1', 'n2', 'n3'], 1024);
    const [shard] = ownedBy(s.shardMap.owners, 'n2');
    const err = violates(
      s,
      ev({
        type: 'ShardAssigned',
        term: 1,
        version: 9,
        shardId: shard!,
        nodeId: 'n1',
        reason: 'initial',
        previous: null,
      }),
      'assignments-change-only-on-topology-change',
    );
    expect(err.message.length).toBeLessThan(2_500);
    expect(err.message).toContain('"n2": "Active#1"');
    expect(err.message).toContain('"leader"');
    expect(err.evidence).toMatchObject({
      leader: { nodeId: 'n1', term: 1 },
      owned: { n1: 342, n2: 341, n3: 341 },
      offending: { shardId: shard, owner: 'n2' },
      event: { type: 'ShardAssigned', shardId: shard },
    });
  });
});

describe('apply: versions, terms and immutability', () => {
  it('raises the map version to the event version and never lowers it', () => {
    const s = bootstrapped();
    const up = apply(s, ev({ type: 'LeadershipRenewed', term: 1, version: 40, nodeId: 'n1', expiresAt: 1 }));
    expect(up.shardMap.version).toBe(40);
    const same = apply(
      up,
      ev({ type: 'LeadershipRenewed', term: 1, version: 3, nodeId: 'n1', expiresAt: 1 }),
    );
    expect(same.shardMap.version).toBe(40);
  });

  it('stamps the map with the term of the last shard-changing event', () => {
    let s = bootstrapped();
    s = apply(s, ev({ type: 'LeaderElected', term: 3, version: 0, nodeId: 'n2', previous: s.leader }));
    expect(s.shardMap.term).toBe(1);
    const n2 = stampFor('n2');
    s = run(s, markNodeFailed(s, { nodeId: 'n3', lastSeen: 1 }, n2));
    expect(s.shardMap.term).toBe(3);
  });

  it('never modifies the state it is given', () => {
    const s = bootstrapped();
    const before = structuredClone(s);
    const events = accepted(markNodeFailed(s, { nodeId: 'n3', lastSeen: 1 }, s1));
    applyAll(s, events);
    expect(s).toEqual(before);
  });
});

describe('replay and serialization', () => {
  it('rebuilds the same state from the full history', () => {
    const history: DomainEvent[] = [];
    const rec = (state: ClusterState, events: DomainEvent[]) => {
      history.push(...events);
      return applyAll(state, events);
    };
    let s = replay([], 12);
    s = rec(s, [ev({ type: 'LeaderElected', term: 1, version: 0, nodeId: 'n1', previous: null })]);
    for (const id of ['n1', 'n2', 'n3'])
      s = rec(s, accepted(joinCluster(s, { nodeId: id, incarnation: 1 }, s1)));
    s = rec(
      s,
      accepted(
        rebalanceShards(
          s,
          { strategy: new LeastLoadedTestPlacement(), reason: 'bootstrap', rebalanceId: 'b' },
          s1,
        ),
      ),
    );
    s = rec(s, accepted(joinCluster(s, { nodeId: 'n4', incarnation: 1 }, s1)));
    s = rec(
      s,
      accepted(
        rebalanceShards(
          s,
          { strategy: new LeastLoadedTestPlacement(), reason: 'node-joined', rebalanceId: 'j' },
          s1,
        ),
      ),
    );
    s = rec(s, accepted(completeMigration(s, { shardId: s.rebalance!.remaining[0]!.shardId }, s1)));
    s = rec(s, accepted(markNodeFailed(s, { nodeId: 'n2', lastSeen: 1 }, s1)));
    expect(replay(history, 12)).toEqual(s);
  });

  it('survives a JSON round trip unchanged, orphans and rebalance included', () => {
    let s = bootstrapped();
    s = run(s, joinCluster(s, { nodeId: 'n4', incarnation: 1 }, s1));
    s = run(
      s,
      rebalanceShards(
        s,
        { strategy: new LeastLoadedTestPlacement(), reason: 'node-joined', rebalanceId: 'j' },
        s1,
      ),
    );
    s = run(s, markNodeFailed(s, { nodeId: 'n3', lastSeen: 1 }, s1));
    expect(s.orphaned.length).toBeGreaterThan(0);
    expect(s.rebalance).not.toBeNull();
    const back = JSON.parse(JSON.stringify(s)) as ClusterState;
    expect(back).toEqual(s);
    const [orphan] = back.orphaned;
    expect(back.orphanedFrom[orphan!]).toBe('n3');
  });
});
