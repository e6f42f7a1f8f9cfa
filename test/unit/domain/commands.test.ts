import { describe, expect, it } from 'vitest';
import { applyAll, ownedBy } from '../../../src/domain/apply.js';
import {
  assignShards,
  completeMigration,
  decide,
  drainNode,
  electLeader,
  finishRebalance,
  joinCluster,
  leaveCluster,
  loseLeadership,
  markNodeFailed,
  rebalanceShards,
  rejectionError,
  renewLeadership,
} from '../../../src/domain/commands.js';
import { CommandRejectedError } from '../../../src/domain/errors.js';
import type { NodeFailed, RebalancingCompleted, ShardAssigned } from '../../../src/domain/events.js';
import { checkInvariants } from '../../../src/domain/invariants.js';
import type { PlacementStrategy } from '../../../src/domain/placement-strategy.js';
import type { ClusterState } from '../../../src/domain/state.js';
import { initialClusterState } from '../../../src/domain/state.js';
import { accepted, bootstrapped, LeastLoadedTestPlacement, rejected, run, stampFor } from './fixtures.js';

const leader = stampFor('n1', 5_000);
const stranger = stampFor('n2', 5_000);
const strategy = new LeastLoadedTestPlacement();

function rebalance(state: ClusterState, id = 'rb-1', maxMoves?: number) {
  return rebalanceShards(
    state,
    { strategy, reason: 'node-joined', rebalanceId: id, ...(maxMoves !== undefined ? { maxMoves } : {}) },
    leader,
  );
}

/** n1..n3 bootstrapped, then n4 joins and a rebalance is planned (balance moves pending). */
function midRebalance(): ClusterState {
  let s = bootstrapped(['n1', 'n2', 'n3'], 12);
  s = run(s, joinCluster(s, { nodeId: 'n4', incarnation: 1 }, leader));
  s = run(s, rebalance(s));
  expect(s.rebalance?.remaining.length).toBeGreaterThan(0);
  return s;
}

describe('leader-only commands', () => {
  it('are rejected with NOT_LEADER when the origin is not the leader, naming both nodes', () => {
    const s = bootstrapped();
    const cmds = [
      joinCluster(s, { nodeId: 'n9', incarnation: 1 }, stranger),
      markNodeFailed(s, { nodeId: 'n3', lastSeen: 1 }, stranger),
      leaveCluster(s, { nodeId: 'n3', reason: 'graceful' }, stranger),
      drainNode(s, { nodeId: 'n3' }, stranger),
      assignShards(s, { assignments: [] }, stranger),
      rebalanceShards(s, { strategy, reason: 'node-joined', rebalanceId: 'x' }, stranger),
      completeMigration(s, { shardId: 0 }, stranger),
      finishRebalance(s, {}, stranger),
    ];
    for (const r of cmds) {
      const rej = rejected(r);
      expect(rej.code).toBe('NOT_LEADER');
      expect(rej.message).toContain('n2');
      expect(rej.message).toContain('n1');
    }
  });

  it('are rejected with NOT_LEADER when no leader is known', () => {
    const s = initialClusterState(4);
    expect(rejected(joinCluster(s, { nodeId: 'n1', incarnation: 1 }, leader)).message).toMatch(
      /no leader is known/,
    );
  });

  it('stamp events with the leader term and the next shard-map version', () => {
    const s = bootstrapped();
    const [e] = accepted(joinCluster(s, { nodeId: 'n4', incarnation: 1 }, leader));
    expect(e).toMatchObject({ term: 1, version: s.shardMap.version + 1, origin: 'n1', at: 5_000 });
  });
});

describe('joinCluster', () => {
  it('admits an unknown node as NodeJoined with weight 1 by default', () => {
    const s = bootstrapped();
    const events = accepted(joinCluster(s, { nodeId: 'n4', incarnation: 7 }, leader));
    expect(events).toEqual([
      expect.objectContaining({ type: 'NodeJoined', nodeId: 'n4', incarnation: 7, weight: 1 }),
    ]);
    const next = applyAll(s, events);
    expect(next.nodes.n4).toMatchObject({ status: 'Active', incarnation: 7, lastSeen: 5_000 });
    expect(next.epoch).toBe(s.epoch + 1);
  });

  it('lets a leader that is not yet a member admit itself at bootstrap', () => {
    let s = initialClusterState(4);
    s = run(s, electLeader(s, { nodeId: 'n1', term: 3 }, leader));
    s = run(s, joinCluster(s, { nodeId: 'n1', incarnation: 1, weight: 2 }, leader));
    expect(s.nodes.n1).toMatchObject({ status: 'Active', weight: 2 });
  });

  it('rejects admitting another node before the leader itself joined, with LEADER_NOT_MEMBER', () => {
    let s = initialClusterState(4);
    s = run(s, electLeader(s, { nodeId: 'n1', term: 1 }, leader));
    const rej = rejected(joinCluster(s, { nodeId: 'n2', incarnation: 1 }, leader));
    expect(rej.code).toBe('LEADER_NOT_MEMBER');
    expect(rej.message).toContain('n2');
  });

  it("re-admits the leader's own newer process in place, keeping its shards and its leadership", () => {
    const s = bootstrapped();
    const owned = s.shardMap.owners.filter((o) => o === 'n1').length;
    const events = accepted(joinCluster(s, { nodeId: 'n1', incarnation: 9 }, leader));
    expect(events.map((e) => e.type)).toEqual(['NodeJoined']);
    const next = applyAll(s, events);
    expect(next.nodes.n1).toMatchObject({ status: 'Active', incarnation: 9 });
    expect(next.leader?.nodeId).toBe('n1');
    expect(next.shardMap.owners.filter((o) => o === 'n1')).toHaveLength(owned);
  });

  it('readmits a Failed or Left node with a higher incarnation', () => {
    let s = bootstrapped();
    s = run(s, markNodeFailed(s, { nodeId: 'n3', lastSeen: 1 }, leader));
    s = run(s, joinCluster(s, { nodeId: 'n3', incarnation: 2 }, leader));
    expect(s.nodes.n3).toMatchObject({ status: 'Active', incarnation: 2 });
    s = run(s, leaveCluster(s, { nodeId: 'n3', reason: 'graceful' }, leader));
    s = run(s, joinCluster(s, { nodeId: 'n3', incarnation: 3 }, leader));
    expect(s.nodes.n3).toMatchObject({ status: 'Active', incarnation: 3 });
  });

  it('rejects a Failed or Left node rejoining with the same or a lower incarnation as STALE_INCARNATION', () => {
    let s = bootstrapped();
    s = run(s, markNodeFailed(s, { nodeId: 'n3', lastSeen: 1 }, leader));
    const rej = rejected(joinCluster(s, { nodeId: 'n3', incarnation: 1 }, leader));
    expect(rej.code).toBe('STALE_INCARNATION');
    expect(rej.message).toMatch(/n3.*Failed.*1/);
    s = run(s, joinCluster(s, { nodeId: 'n3', incarnation: 2 }, leader));
    s = run(s, leaveCluster(s, { nodeId: 'n3', reason: 'graceful' }, leader));
    expect(rejected(joinCluster(s, { nodeId: 'n3', incarnation: 0 }, leader)).code).toBe('STALE_INCARNATION');
  });

  it('rejects an Active or Draining member with the same or a lower incarnation as ALREADY_MEMBER', () => {
    let s = bootstrapped();
    expect(rejected(joinCluster(s, { nodeId: 'n2', incarnation: 1 }, leader)).code).toBe('ALREADY_MEMBER');
    expect(rejected(joinCluster(s, { nodeId: 'n2', incarnation: 0 }, leader)).code).toBe('ALREADY_MEMBER');
    s = run(s, drainNode(s, { nodeId: 'n2' }, leader));
    const rej = rejected(joinCluster(s, { nodeId: 'n2', incarnation: 1 }, leader));
    expect(rej.code).toBe('ALREADY_MEMBER');
    expect(rej.message).toContain('Draining');
  });

  it('fails the old incarnation of a member that restarted undetected, orphaning its shards, then admits it', () => {
    const s = bootstrapped();
    const owned = ownedBy(s.shardMap.owners, 'n2');
    expect(owned.length).toBeGreaterThan(0);
    const events = accepted(joinCluster(s, { nodeId: 'n2', incarnation: 2 }, leader));
    expect(events.map((e) => e.type)).toEqual(['NodeFailed', 'NodeJoined']);
    expect(events[0] as NodeFailed).toMatchObject({ nodeId: 'n2', incarnation: 1, orphaned: owned });
    expect(new Set(events.map((e) => e.id)).size).toBe(2);
    const next = applyAll(s, events);
    expect(next.nodes.n2).toMatchObject({ status: 'Active', incarnation: 2 });
    expect(next.orphaned).toEqual(owned);
    expect(ownedBy(next.shardMap.owners, 'n2')).toEqual([]);
  });

  it('rejects an invalid node id, incarnation or weight as INVALID_ARGUMENT', () => {
    const s = bootstrapped();
    expect(rejected(joinCluster(s, { nodeId: 'a.b', incarnation: 1 }, leader)).code).toBe('INVALID_ARGUMENT');
    expect(rejected(joinCluster(s, { nodeId: 'n5', incarnation: -1 }, leader)).code).toBe('INVALID_ARGUMENT');
    expect(rejected(joinCluster(s, { nodeId: 'n5', incarnation: 1, weight: 0 }, leader)).code).toBe(
      'INVALID_ARGUMENT',
    );
  });
});

describe('markNodeFailed', () => {
  it('fails an Active node and orphans exactly the shards it owned, sorted', () => {
    const s = bootstrapped();
    const owned = ownedBy(s.shardMap.owners, 'n3');
    const events = accepted(markNodeFailed(s, { nodeId: 'n3', lastSeen: 4_000 }, leader));
    expect(events).toEqual([
      expect.objectContaining({
        type: 'NodeFailed',
        nodeId: 'n3',
        incarnation: 1,
        lastSeen: 4_000,
        orphaned: owned,
      }),
    ]);
    const next = applyAll(s, events);
    expect(next.nodes.n3?.status).toBe('Failed');
    expect(next.orphaned).toEqual(owned);
    for (const shard of owned) {
      expect(next.shardMap.owners[shard]).toBeNull();
      expect(next.orphanedFrom[shard]).toBe('n3');
    }
    expect(next.epoch).toBe(s.epoch + 1);
  });

  it('fails a Draining node too', () => {
    let s = bootstrapped();
    s = run(s, drainNode(s, { nodeId: 'n3' }, leader));
    s = run(s, markNodeFailed(s, { nodeId: 'n3', lastSeen: 1 }, leader));
    expect(s.nodes.n3?.status).toBe('Failed');
  });

  it('clears the leader when the failed node was the leader', () => {
    const s = bootstrapped();
    const next = run(s, markNodeFailed(s, { nodeId: 'n1', lastSeen: 1 }, leader));
    expect(next.leader).toBeNull();
    expect(next.highestTerm).toBe(1);
  });

  it('rejects an unknown node as UNKNOWN_NODE and a Failed one as NOT_ACTIVE', () => {
    let s = bootstrapped();
    expect(rejected(markNodeFailed(s, { nodeId: 'zz', lastSeen: 1 }, leader))).toMatchObject({
      code: 'UNKNOWN_NODE',
      message: expect.stringContaining('zz'),
    });
    s = run(s, markNodeFailed(s, { nodeId: 'n3', lastSeen: 1 }, leader));
    expect(rejected(markNodeFailed(s, { nodeId: 'n3', lastSeen: 1 }, leader))).toMatchObject({
      code: 'NOT_ACTIVE',
      message: expect.stringContaining('Failed'),
    });
  });
});

describe('leaveCluster', () => {
  it('lets an Active node leave gracefully, orphaning its shards', () => {
    const s = bootstrapped();
    const owned = ownedBy(s.shardMap.owners, 'n2');
    const events = accepted(leaveCluster(s, { nodeId: 'n2', reason: 'graceful' }, leader));
    expect(events).toEqual([
      expect.objectContaining({ type: 'NodeLeft', nodeId: 'n2', reason: 'graceful', orphaned: owned }),
    ]);
    const next = applyAll(s, events);
    expect(next.nodes.n2?.status).toBe('Left');
    expect(next.orphaned).toEqual(owned);
  });

  it('refuses a leave, drain or failure naming another incarnation than the member as STALE_INCARNATION', () => {
    let s = bootstrapped();
    // n2 restarted: incarnation 2 replaced incarnation 1 before the old process's leave arrived.
    s = run(s, joinCluster(s, { nodeId: 'n2', incarnation: 2 }, leader));
    expect(s.nodes.n2).toMatchObject({ status: 'Active', incarnation: 2 });
    const late = rejected(leaveCluster(s, { nodeId: 'n2', reason: 'graceful', incarnation: 1 }, leader));
    expect(late.code).toBe('STALE_INCARNATION');
    expect(late.message).toMatch(/n2 incarnation 1 is stale: incarnation 2 is Active/);
    expect(rejected(drainNode(s, { nodeId: 'n2', incarnation: 1 }, leader)).code).toBe('STALE_INCARNATION');
    expect(rejected(markNodeFailed(s, { nodeId: 'n2', lastSeen: 1, incarnation: 1 }, leader)).code).toBe(
      'STALE_INCARNATION',
    );
    // Its own incarnation, or none (whatever is current), is accepted.
    expect(
      accepted(leaveCluster(s, { nodeId: 'n2', reason: 'graceful', incarnation: 2 }, leader)),
    ).toHaveLength(1);
    expect(accepted(drainNode(s, { nodeId: 'n2' }, leader))).toHaveLength(1);
  });

  it('rejects leaving as drained while the node still owns shards, as STILL_OWNS_SHARDS', () => {
    const s = bootstrapped();
    const rej = rejected(leaveCluster(s, { nodeId: 'n2', reason: 'drained' }, leader));
    expect(rej.code).toBe('STILL_OWNS_SHARDS');
    expect(rej.message).toContain('n2');
  });

  it('lets a drained node leave once its shards are handed off, orphaning nothing', () => {
    let s = bootstrapped();
    s = run(s, drainNode(s, { nodeId: 'n3' }, leader));
    s = run(s, rebalanceShards(s, { strategy, reason: 'node-draining', rebalanceId: 'd' }, leader));
    for (const m of s.rebalance?.remaining ?? []) {
      s = run(s, completeMigration(s, { shardId: m.shardId }, leader));
    }
    expect(ownedBy(s.shardMap.owners, 'n3')).toEqual([]);
    const events = accepted(leaveCluster(s, { nodeId: 'n3', reason: 'drained' }, leader));
    expect(events[0]).toMatchObject({ type: 'NodeLeft', orphaned: [] });
    expect(applyAll(s, events).orphaned).toEqual([]);
  });

  it('rejects an unknown node as UNKNOWN_NODE and a Left one as NOT_ACTIVE', () => {
    let s = bootstrapped();
    expect(rejected(leaveCluster(s, { nodeId: 'zz', reason: 'graceful' }, leader)).code).toBe('UNKNOWN_NODE');
    s = run(s, leaveCluster(s, { nodeId: 'n2', reason: 'graceful' }, leader));
    expect(rejected(leaveCluster(s, { nodeId: 'n2', reason: 'graceful' }, leader))).toMatchObject({
      code: 'NOT_ACTIVE',
      message: expect.stringContaining('Left'),
    });
  });
});

describe('drainNode', () => {
  it('marks an Active node Draining and bumps the epoch; it keeps its shards', () => {
    const s = bootstrapped();
    const next = run(s, drainNode(s, { nodeId: 'n2' }, leader));
    expect(next.nodes.n2?.status).toBe('Draining');
    expect(next.epoch).toBe(s.epoch + 1);
    expect(next.shardMap.owners).toEqual(s.shardMap.owners);
  });

  it('rejects a node that is not Active as NOT_ACTIVE and an unknown one as UNKNOWN_NODE', () => {
    let s = bootstrapped();
    expect(rejected(drainNode(s, { nodeId: 'zz' }, leader)).code).toBe('UNKNOWN_NODE');
    s = run(s, drainNode(s, { nodeId: 'n2' }, leader));
    expect(rejected(drainNode(s, { nodeId: 'n2' }, leader))).toMatchObject({
      code: 'NOT_ACTIVE',
      message: expect.stringContaining('Draining'),
    });
  });

  it('rejects draining the only Active node as LAST_ACTIVE_NODE', () => {
    let s = bootstrapped(['n1', 'n2'], 4);
    s = run(s, drainNode(s, { nodeId: 'n2' }, leader));
    expect(rejected(drainNode(s, { nodeId: 'n1' }, leader)).code).toBe('LAST_ACTIVE_NODE');
  });

  it('rejects draining the leader as NODE_IS_LEADER: it must resign first', () => {
    const s = bootstrapped();
    const rej = rejected(drainNode(s, { nodeId: 'n1' }, leader));
    expect(rej.code).toBe('NODE_IS_LEADER');
    expect(rej.message).toContain('term 1');
  });
});

describe('assignShards', () => {
  it('assigns never-placed shards with reason initial and no previous owner', () => {
    let s = initialClusterState(4);
    s = run(s, electLeader(s, { nodeId: 'n1', term: 1 }, leader));
    s = run(s, joinCluster(s, { nodeId: 'n1', incarnation: 1 }, leader));
    const events = accepted(assignShards(s, { assignments: [{ shardId: 2, nodeId: 'n1' }] }, leader));
    expect(events).toEqual([
      expect.objectContaining({
        type: 'ShardAssigned',
        shardId: 2,
        nodeId: 'n1',
        reason: 'initial',
        previous: null,
      }),
    ]);
    expect(applyAll(s, events).shardMap.owners).toEqual([null, null, 'n1', null]);
  });

  it('assigns orphaned shards with reason recovery, naming the owner they had, and clears the orphan', () => {
    let s = bootstrapped();
    const [shard] = ownedBy(s.shardMap.owners, 'n3');
    s = run(s, markNodeFailed(s, { nodeId: 'n3', lastSeen: 1 }, leader));
    const events = accepted(assignShards(s, { assignments: [{ shardId: shard!, nodeId: 'n2' }] }, leader));
    expect(events[0] as ShardAssigned).toMatchObject({ reason: 'recovery', previous: 'n3', nodeId: 'n2' });
    const next = applyAll(s, events);
    expect(next.orphaned).not.toContain(shard);
    expect(next.orphanedFrom[shard!]).toBeUndefined();
    expect(next.shardMap.owners[shard!]).toBe('n2');
  });

  it('rejects shards outside the range, owned shards, duplicates and non-Active targets', () => {
    let s = bootstrapped();
    const [orphan] = ownedBy(s.shardMap.owners, 'n3');
    const [owned] = ownedBy(s.shardMap.owners, 'n2');
    s = run(s, markNodeFailed(s, { nodeId: 'n3', lastSeen: 1 }, leader));
    const a = (shardId: number, nodeId: string) =>
      assignShards(s, { assignments: [{ shardId, nodeId }] }, leader);
    expect(rejected(a(12, 'n2'))).toMatchObject({
      code: 'SHARD_OUT_OF_RANGE',
      message: expect.stringContaining('12'),
    });
    expect(rejected(a(-1, 'n2')).code).toBe('SHARD_OUT_OF_RANGE');
    expect(rejected(a(owned!, 'n1'))).toMatchObject({
      code: 'SHARD_OWNED',
      message: expect.stringContaining('n2'),
    });
    expect(rejected(a(orphan!, 'n3'))).toMatchObject({
      code: 'NODE_NOT_ACTIVE',
      message: expect.stringContaining('Failed'),
    });
    expect(rejected(a(orphan!, 'zz')).code).toBe('NODE_NOT_ACTIVE');
    const dup = assignShards(
      s,
      {
        assignments: [
          { shardId: orphan!, nodeId: 'n1' },
          { shardId: orphan!, nodeId: 'n2' },
        ],
      },
      leader,
    );
    expect(rejected(dup).code).toBe('DUPLICATE_SHARD');
  });

  it('never gives a shard to a Draining node', () => {
    let s = bootstrapped();
    const [orphan] = ownedBy(s.shardMap.owners, 'n3');
    s = run(s, markNodeFailed(s, { nodeId: 'n3', lastSeen: 1 }, leader));
    s = run(s, drainNode(s, { nodeId: 'n2' }, leader));
    expect(
      rejected(assignShards(s, { assignments: [{ shardId: orphan!, nodeId: 'n2' }] }, leader)).code,
    ).toBe('NODE_NOT_ACTIVE');
  });
});

describe('rebalanceShards', () => {
  it('places every shard at bootstrap with initial assignments and completes at once', () => {
    let s = initialClusterState(6);
    s = run(s, electLeader(s, { nodeId: 'n1', term: 1 }, leader));
    for (const id of ['n1', 'n2']) s = run(s, joinCluster(s, { nodeId: id, incarnation: 1 }, leader));
    const events = accepted(rebalanceShards(s, { strategy, reason: 'bootstrap', rebalanceId: 'b' }, leader));
    expect(events.map((e) => e.type)).toEqual([
      'RebalancingTriggered',
      ...new Array(6).fill('ShardAssigned'),
      'RebalancingCompleted',
    ]);
    expect(events[0]).toMatchObject({ epoch: s.epoch, reason: 'bootstrap', rebalanceId: 'b' });
    expect(events.every((e) => e.version === s.shardMap.version + 1)).toBe(true);
    expect(
      events
        .filter((e) => e.type === 'ShardAssigned')
        .every((e) => (e as ShardAssigned).reason === 'initial'),
    ).toBe(true);
    expect(events.at(-1) as RebalancingCompleted).toMatchObject({ moved: 6, skipped: 0 });
    const next = applyAll(s, events);
    expect(next.shardMap.owners.every((o) => o === 'n1' || o === 'n2')).toBe(true);
    expect(next.bootstrapped).toBe(true);
    expect(next.rebalance).toBeNull();
    expect(next.balancedEpoch).toBe(s.epoch);
  });

  it('recovers orphaned shards at once, naming their previous owner', () => {
    let s = bootstrapped();
    const owned = ownedBy(s.shardMap.owners, 'n3');
    s = run(s, markNodeFailed(s, { nodeId: 'n3', lastSeen: 1 }, leader));
    const events = accepted(
      rebalanceShards(s, { strategy, reason: 'node-failed', rebalanceId: 'r' }, leader),
    );
    const assigned = events.filter((e): e is ShardAssigned => e.type === 'ShardAssigned');
    expect(assigned.map((e) => e.shardId)).toEqual(owned);
    expect(assigned.every((e) => e.reason === 'recovery' && e.previous === 'n3')).toBe(true);
    const next = applyAll(s, events);
    expect(next.orphaned).toEqual([]);
    expect(next.shardMap.owners.every((o) => o === 'n1' || o === 'n2')).toBe(true);
  });

  it('leaves drain and balance moves pending for hand-off', () => {
    let s = bootstrapped();
    s = run(s, joinCluster(s, { nodeId: 'n4', incarnation: 1 }, leader));
    const events = accepted(rebalance(s));
    expect(events.map((e) => e.type)).toEqual(['RebalancingTriggered']);
    const next = applyAll(s, events);
    expect(next.rebalance?.remaining.length).toBe(3);
    expect(next.rebalance?.remaining.every((m) => m.to === 'n4' && m.reason === 'balance')).toBe(true);
    expect(next.shardMap.owners).toEqual(s.shardMap.owners);
  });

  it('rejects a rebalance without a topology change as NO_TOPOLOGY_CHANGE', () => {
    const s = bootstrapped();
    const rej = rejected(rebalance(s));
    expect(rej.code).toBe('NO_TOPOLOGY_CHANGE');
    expect(rej.message).toContain(`epoch ${s.epoch}`);
  });

  it('rejects a second rebalance while one is in progress as REBALANCE_IN_PROGRESS', () => {
    let s = midRebalance();
    s = run(s, joinCluster(s, { nodeId: 'n5', incarnation: 1 }, leader));
    expect(rejected(rebalance(s, 'rb-2'))).toMatchObject({
      code: 'REBALANCE_IN_PROGRESS',
      message: expect.stringContaining('rb-1'),
    });
  });

  it('rejects a rebalance with no Active node as NO_ACTIVE_NODES', () => {
    let s = initialClusterState(4);
    s = run(s, electLeader(s, { nodeId: 'n1', term: 1 }, leader));
    expect(rejected(rebalance(s)).code).toBe('NO_ACTIVE_NODES');
  });

  it('rejects a plan the strategy got wrong as INVALID_PLAN instead of breaking the state', () => {
    let s = bootstrapped();
    s = run(s, markNodeFailed(s, { nodeId: 'n3', lastSeen: 1 }, leader));
    const bad: PlacementStrategy = {
      name: 'bad',
      place: (input) => ({
        owners: input.previous.map((o) => o ?? 'n3'),
        moves: [{ shardId: s.orphaned[0]!, from: null, to: 'n3', reason: 'recovery' }],
      }),
    };
    const rej = rejected(
      rebalanceShards(s, { strategy: bad, reason: 'node-failed', rebalanceId: 'x' }, leader),
    );
    expect(rej.code).toBe('INVALID_PLAN');
    expect(rej.message).toMatch(/bad: .*n3.*Failed/);
  });

  it('passes Active nodes with weights, Draining nodes and maxMoves to the strategy', () => {
    let s = bootstrapped();
    s = run(s, joinCluster(s, { nodeId: 'n4', incarnation: 1, weight: 3 }, leader));
    s = run(s, drainNode(s, { nodeId: 'n2' }, leader));
    let seen: Parameters<PlacementStrategy['place']>[0] | undefined;
    const spy: PlacementStrategy = {
      name: 'spy',
      place: (input) => {
        seen = input;
        return strategy.place(input);
      },
    };
    accepted(
      rebalanceShards(s, { strategy: spy, reason: 'node-draining', rebalanceId: 'x', maxMoves: 2 }, leader),
    );
    expect(seen?.nodes).toEqual([
      { id: 'n1', weight: 1 },
      { id: 'n3', weight: 1 },
      { id: 'n4', weight: 3 },
    ]);
    expect(seen?.draining).toEqual(['n2']);
    expect(seen?.maxMoves).toBe(2);
    expect(seen?.previous).toBe(s.shardMap.owners);
  });
});

describe('completeMigration', () => {
  it('records each hand-off and completes the rebalance with the last one', () => {
    let s = midRebalance();
    const moves = s.rebalance!.remaining;
    for (const [i, m] of moves.entries()) {
      const events = accepted(completeMigration(s, { shardId: m.shardId }, leader));
      expect(events[0]).toMatchObject({ type: 'ShardMigrated', shardId: m.shardId, from: m.from, to: m.to });
      const last = i === moves.length - 1;
      expect(events.length).toBe(last ? 2 : 1);
      if (last)
        expect(events[1]).toMatchObject({ type: 'RebalancingCompleted', moved: moves.length, skipped: 0 });
      s = applyAll(s, events);
      expect(s.shardMap.owners[m.shardId]).toBe(m.to);
    }
    expect(s.rebalance).toBeNull();
    expect(s.balancedEpoch).toBe(s.epoch);
  });

  it('rejects with NO_REBALANCE when none is in progress and MOVE_NOT_PLANNED for an unplanned shard', () => {
    expect(rejected(completeMigration(bootstrapped(), { shardId: 0 }, leader)).code).toBe('NO_REBALANCE');
    const s = midRebalance();
    const planned = new Set(s.rebalance!.remaining.map((m) => m.shardId));
    const other = s.shardMap.owners.findIndex((_, i) => !planned.has(i));
    expect(rejected(completeMigration(s, { shardId: other }, leader))).toMatchObject({
      code: 'MOVE_NOT_PLANNED',
      message: expect.stringContaining(`shard ${other}`),
    });
  });

  it('rejects with OWNER_CHANGED when the source lost the shard mid-way', () => {
    let s = midRebalance();
    const m = s.rebalance!.remaining.find((x) => x.from !== 'n1')!;
    s = run(s, markNodeFailed(s, { nodeId: m.from!, lastSeen: 1 }, leader));
    expect(rejected(completeMigration(s, { shardId: m.shardId }, leader))).toMatchObject({
      code: 'OWNER_CHANGED',
      message: expect.stringContaining(m.from!),
    });
  });

  it('rejects with NODE_NOT_ACTIVE when the target is no longer Active', () => {
    let s = midRebalance();
    const m = s.rebalance!.remaining[0]!;
    s = run(s, markNodeFailed(s, { nodeId: m.to, lastSeen: 1 }, leader));
    expect(rejected(completeMigration(s, { shardId: m.shardId }, leader))).toMatchObject({
      code: 'NODE_NOT_ACTIVE',
      message: expect.stringContaining('Failed'),
    });
  });
});

describe('finishRebalance', () => {
  it('closes the rebalance early with the remaining moves skipped, leaving the epoch unbalanced', () => {
    let s = midRebalance();
    const first = s.rebalance!.remaining[0]!;
    s = run(s, completeMigration(s, { shardId: first.shardId }, leader));
    const left = s.rebalance!.remaining.length;
    const events = accepted(finishRebalance(s, {}, leader));
    expect(events).toEqual([
      expect.objectContaining({ type: 'RebalancingCompleted', rebalanceId: 'rb-1', moved: 1, skipped: left }),
    ]);
    const before = s.balancedEpoch;
    s = applyAll(s, events);
    expect(s.rebalance).toBeNull();
    expect(s.balancedEpoch).toBe(before);
    // The leader may plan again: the epoch was never balanced.
    expect(accepted(rebalance(s, 'rb-2'))[0]).toMatchObject({ type: 'RebalancingTriggered' });
  });

  it('rejects with NO_REBALANCE when none is in progress', () => {
    expect(rejected(finishRebalance(bootstrapped(), {}, leader)).code).toBe('NO_REBALANCE');
  });
});

describe('a rebalance cut short by maxMoves', () => {
  it('does not mark the epoch balanced while a Draining node still owns shards', () => {
    let s = bootstrapped();
    s = run(s, drainNode(s, { nodeId: 'n3' }, leader));
    const owned = ownedBy(s.shardMap.owners, 'n3').length;
    expect(owned).toBeGreaterThan(1);
    s = run(s, rebalance(s, 'd1', 1));
    s = run(s, completeMigration(s, { shardId: s.rebalance!.remaining[0]!.shardId }, leader));
    expect(s.rebalance).toBeNull();
    expect(ownedBy(s.shardMap.owners, 'n3').length).toBe(owned - 1);
    expect(s.balancedEpoch).toBeLessThan(s.epoch);
    expect(accepted(rebalance(s, 'd2', 1))[0]).toMatchObject({ type: 'RebalancingTriggered' });
  });
});

describe('electLeader', () => {
  it('elects an Active node for a higher term, naming the previous leader', () => {
    const s = bootstrapped();
    const events = accepted(electLeader(s, { nodeId: 'n2', term: 5 }, stranger));
    expect(events).toEqual([
      expect.objectContaining({
        type: 'LeaderElected',
        nodeId: 'n2',
        term: 5,
        previous: { nodeId: 'n1', term: 1 },
      }),
    ]);
    const next = applyAll(s, events);
    expect(next.leader).toEqual({ nodeId: 'n2', term: 5 });
    expect(next.highestTerm).toBe(5);
  });

  it('elects a node that is not a member only at bootstrap, when no node is Active', () => {
    const s = initialClusterState(4);
    expect(accepted(electLeader(s, { nodeId: 'n7', term: 1 }, stampFor('n7')))[0]).toMatchObject({
      previous: null,
    });
    const b = bootstrapped();
    expect(rejected(electLeader(b, { nodeId: 'n7', term: 2 }, stampFor('n7')))).toMatchObject({
      code: 'NODE_NOT_ACTIVE',
      message: expect.stringContaining('not a member'),
    });
  });

  it('rejects a node that is not Active as NODE_NOT_ACTIVE', () => {
    let s = bootstrapped();
    s = run(s, drainNode(s, { nodeId: 'n3' }, leader));
    expect(rejected(electLeader(s, { nodeId: 'n3', term: 2 }, stampFor('n3'))).code).toBe('NODE_NOT_ACTIVE');
  });

  it('rejects a term not above the highest seen as STALE_TERM', () => {
    const s = bootstrapped();
    expect(rejected(electLeader(s, { nodeId: 'n2', term: 1 }, stranger))).toMatchObject({
      code: 'STALE_TERM',
      message: expect.stringContaining('term 1'),
    });
    expect(rejected(electLeader(s, { nodeId: 'n2', term: 0 }, stranger)).code).toBe('STALE_TERM');
  });

  it('carries the current shard-map version: a lease write is not a map write', () => {
    const s = bootstrapped();
    const [e] = accepted(electLeader(s, { nodeId: 'n2', term: 2 }, stranger));
    expect(e?.version).toBe(s.shardMap.version);
    expect(applyAll(s, [e!]).shardMap.version).toBe(s.shardMap.version);
  });
});

describe('renewLeadership and loseLeadership', () => {
  it('renew the current leader of the current term', () => {
    const s = bootstrapped();
    const events = accepted(renewLeadership(s, { nodeId: 'n1', term: 1, expiresAt: 9_000 }, leader));
    expect(events).toEqual([
      expect.objectContaining({ type: 'LeadershipRenewed', expiresAt: 9_000, term: 1 }),
    ]);
    expect(applyAll(s, events)).toEqual(s);
  });

  it('clear the leader on loss', () => {
    const s = bootstrapped();
    const next = run(s, loseLeadership(s, { nodeId: 'n1', term: 1, reason: 'resigned' }, leader));
    expect(next.leader).toBeNull();
  });

  it('reject a node or term that is not the current leader as NOT_LEADER', () => {
    const s = bootstrapped();
    for (const r of [
      renewLeadership(s, { nodeId: 'n2', term: 1, expiresAt: 1 }, stranger),
      renewLeadership(s, { nodeId: 'n1', term: 2, expiresAt: 1 }, leader),
      loseLeadership(s, { nodeId: 'n2', term: 1, reason: 'lease-lost' }, stranger),
      loseLeadership(s, { nodeId: 'n1', term: 0, reason: 'lease-lost' }, leader),
    ]) {
      expect(rejected(r)).toMatchObject({
        code: 'NOT_LEADER',
        message: expect.stringContaining('n1 leads term 1'),
      });
    }
  });
});

describe('decide and rejectionError', () => {
  it('dispatches a tagged command to the function it names', () => {
    const s = bootstrapped();
    expect(decide(s, { type: 'drainNode', nodeId: 'n2' }, stampFor('n1', 5_000))).toEqual(
      drainNode(s, { nodeId: 'n2' }, stampFor('n1', 5_000)),
    );
    expect(rejected(decide(s, { type: 'finishRebalance' }, leader)).code).toBe('NO_REBALANCE');
  });

  it('turns a rejection into a CommandRejectedError carrying its code', () => {
    const err = rejectionError({ code: 'NOT_LEADER', message: 'n2 is not the leader' });
    expect(err).toBeInstanceOf(CommandRejectedError);
    expect(err.code).toBe('COMMAND_REJECTED');
    expect(err.reason).toBe('NOT_LEADER');
    expect(err.message).toBe('NOT_LEADER: n2 is not the leader');
  });

  it('never leaves a state that breaks an invariant after an accepted command', () => {
    const s = midRebalance();
    expect(checkInvariants(s)).toEqual([]);
  });
});
