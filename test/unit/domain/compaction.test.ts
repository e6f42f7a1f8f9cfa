import { describe, expect, it } from 'vitest';
import { decideBatch } from '../../../machines/proposals.js';
import { apply, applyAll, replay } from '../../../src/domain/apply.js';
import {
  compactDeparted,
  completeMigration,
  decide,
  departedDue,
  drainNode,
  joinCluster,
  leaveCluster,
  markNodeFailed,
  rebalanceShards,
} from '../../../src/domain/commands.js';
import { isInvariantViolation } from '../../../src/domain/errors.js';
import type { DomainEvent, NodeJoined, NodeRemoved } from '../../../src/domain/events.js';
import { parseDomainEvent } from '../../../src/domain/events.js';
import { checkInvariants } from '../../../src/domain/invariants.js';
import type { ClusterState } from '../../../src/domain/state.js';
import { MAX_RETIRED_NODES, retiredIncarnation } from '../../../src/domain/state.js';
import { decodeTopology, encodeTopology } from '../../../src/protocol/codec.js';
import { accepted, bootstrapped, LeastLoadedTestPlacement, rejected, run, stampFor } from './fixtures.js';

const RETENTION = 10_000;
const strategy = new LeastLoadedTestPlacement();
const at = (now: number) => stampFor('n1', now);

/** Plans a rebalance and completes every hand-off, so that no recovery or plan names a departed node. */
function settle(state: ClusterState, now: number, id: string): ClusterState {
  const planned = rebalanceShards(state, { strategy, reason: 'node-left', rebalanceId: id }, at(now));
  if (!planned.ok) return state;
  let s = run(state, planned);
  while (s.rebalance !== null) {
    s = run(s, completeMigration(s, { shardId: s.rebalance.remaining[0]!.shardId }, at(now)));
  }
  return s;
}

/**
 * n1..n6 at t=1000: n2 leaves at t=2000, n3 fails at t=3000 (both recovered), n4 drains, n5 is
 * Active, n6 leaves at t=20000.
 */
function departed(): ClusterState {
  let s = bootstrapped(['n1', 'n2', 'n3', 'n4', 'n5', 'n6'], 12);
  s = run(s, leaveCluster(s, { nodeId: 'n2', reason: 'graceful' }, at(2_000)));
  s = settle(s, 2_000, 'rb-2');
  s = run(s, markNodeFailed(s, { nodeId: 'n3', lastSeen: 2_500 }, at(3_000)));
  s = settle(s, 3_000, 'rb-3');
  s = run(s, drainNode(s, { nodeId: 'n4' }, at(4_000)));
  s = run(s, leaveCluster(s, { nodeId: 'n6', reason: 'graceful' }, at(20_000)));
  return settle(s, 20_000, 'rb-6');
}

describe('departure times', () => {
  it('are recorded by NodeLeft and NodeFailed, not by joins', () => {
    const s = departed();
    expect(s.nodes.n2).toMatchObject({ status: 'Left', departedAt: 2_000 });
    expect(s.nodes.n3).toMatchObject({ status: 'Failed', departedAt: 3_000, lastSeen: 2_500 });
    expect(s.nodes.n4?.departedAt).toBeUndefined();
    const back = run(s, joinCluster(s, { nodeId: 'n3', incarnation: 2 }, at(5_000)));
    expect(back.nodes.n3?.departedAt).toBeUndefined();
  });
});

describe('compactDeparted', () => {
  it('removes only Left and Failed nodes departed at least the retention ago', () => {
    const s = departed();
    expect(departedDue(s, 2_000 + RETENTION - 1, RETENTION)).toEqual([]);
    expect(departedDue(s, 2_000 + RETENTION, RETENTION)).toEqual(['n2']);
    expect(departedDue(s, 3_000 + RETENTION, RETENTION)).toEqual(['n2', 'n3']);

    const events = accepted(compactDeparted(s, { retentionMs: RETENTION }, at(3_000 + RETENTION)));
    expect(events).toEqual([
      expect.objectContaining({
        type: 'NodeRemoved',
        nodeId: 'n2',
        incarnation: 1,
        status: 'Left',
        departedAt: 2_000,
      }),
      expect.objectContaining({
        type: 'NodeRemoved',
        nodeId: 'n3',
        incarnation: 1,
        status: 'Failed',
        departedAt: 3_000,
      }),
    ]);
    const next = applyAll(s, events);
    expect(Object.keys(next.nodes).sort()).toEqual(['n1', 'n4', 'n5', 'n6']);
    expect(next.nodes.n4?.status).toBe('Draining');
    expect(next.retired).toEqual([
      { id: 'n2', incarnation: 1 },
      { id: 'n3', incarnation: 1 },
    ]);
    expect(checkInvariants(next)).toEqual([]);
  });

  it('is not a topology change: the epoch stays and a balanced cluster may not rebalance', () => {
    let s = departed();
    s = run(s, drainNode(s, { nodeId: 'n5' }, at(21_000)));
    s = settle(s, 21_000, 'rb-7');
    expect(s.epoch).toBe(s.balancedEpoch);
    const next = run(s, compactDeparted(s, { retentionMs: RETENTION }, at(100_000)));
    expect(next.epoch).toBe(s.epoch);
    expect(next.shardMap.version).toBe(s.shardMap.version + 1);
    const again = rebalanceShards(next, { strategy, reason: 'node-left', rebalanceId: 'x' }, at(100_000));
    expect(rejected(again).code).toBe('NO_TOPOLOGY_CHANGE');
  });

  it('keeps a departed node while a pending recovery or the plan in progress still names it', () => {
    let s = bootstrapped(['n1', 'n2', 'n3'], 12);
    s = run(s, leaveCluster(s, { nodeId: 'n2', reason: 'graceful' }, at(2_000)));
    expect(s.orphaned.length).toBeGreaterThan(0);
    expect(departedDue(s, 1e9, RETENTION)).toEqual([]);
    expect(rejected(compactDeparted(s, { retentionMs: RETENTION }, at(1e9))).code).toBe('NOTHING_DUE');
    s = settle(s, 3_000, 'rb-2');
    expect(departedDue(s, 1e9, RETENTION)).toEqual(['n2']);
  });

  it('is leader-only and refuses a retention that is not a positive number', () => {
    const s = departed();
    expect(rejected(compactDeparted(s, { retentionMs: RETENTION }, stampFor('n5', 1e9))).code).toBe(
      'NOT_LEADER',
    );
    for (const retentionMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      const r = rejected(compactDeparted(s, { retentionMs }, at(1e9)));
      expect(r.code).toBe('INVALID_ARGUMENT');
      expect(r.message).toMatch(/retentionMs/);
    }
  });

  it('is reachable by name through decide', () => {
    const s = departed();
    const r = decide(s, { type: 'compactDeparted', retentionMs: RETENTION }, at(2_000 + RETENTION));
    expect(accepted(r).map((e) => (e as NodeRemoved).nodeId)).toEqual(['n2']);
  });
});

describe('after a node is removed', () => {
  const removed = (): ClusterState => {
    const s = departed();
    return run(s, compactDeparted(s, { retentionMs: RETENTION }, at(3_000 + RETENTION)));
  };

  it('refuses a join of the departed incarnation or an older one', () => {
    const s = removed();
    for (const incarnation of [0, 1]) {
      const r = rejected(joinCluster(s, { nodeId: 'n3', incarnation }, at(20_000)));
      expect(r.code).toBe('STALE_INCARNATION');
      expect(r.message).toMatch(/n3 departed with incarnation 1 and was removed/);
    }
  });

  it('refuses such a join in apply too, when it arrives as an event', () => {
    const s = removed();
    const forged: NodeJoined = {
      type: 'NodeJoined',
      id: 'forged-1',
      origin: 'n1',
      term: 1,
      version: s.shardMap.version + 1,
      at: 20_000,
      nodeId: 'n2',
      incarnation: 1,
      weight: 1,
    };
    let thrown: unknown;
    try {
      apply(s, forged);
    } catch (err) {
      thrown = err;
    }
    expect(isInvariantViolation(thrown)).toBe(true);
    expect((thrown as Error).message).toMatch(/incarnation 1 departed and was removed/);
  });

  it('admits a newer incarnation (a genuine restart) and drops its tombstone', () => {
    const s = removed();
    const next = run(s, joinCluster(s, { nodeId: 'n3', incarnation: 2 }, at(20_000)));
    expect(next.nodes.n3).toMatchObject({ status: 'Active', incarnation: 2 });
    expect(retiredIncarnation(next, 'n3')).toBeNull();
    expect(retiredIncarnation(next, 'n2')).toBe(1);
    // A fresh id was never fenced.
    expect(accepted(joinCluster(next, { nodeId: 'n9', incarnation: 0 }, at(20_000)))).toHaveLength(1);
  });

  it('refuses a NodeRemoved that does not match the record', () => {
    const s = departed();
    const base = { id: 'x', origin: 'n1', term: 1, version: s.shardMap.version + 1, at: 1e9 };
    const bad: NodeRemoved[] = [
      { type: 'NodeRemoved', ...base, nodeId: 'n5', incarnation: 1, status: 'Left', departedAt: 0 },
      { type: 'NodeRemoved', ...base, nodeId: 'n2', incarnation: 7, status: 'Left', departedAt: 2_000 },
      { type: 'NodeRemoved', ...base, nodeId: 'n2', incarnation: 1, status: 'Failed', departedAt: 2_000 },
      { type: 'NodeRemoved', ...base, nodeId: 'n99', incarnation: 1, status: 'Left', departedAt: 0 },
    ];
    for (const e of bad) expect(() => apply(s, e)).toThrow(/event-fits-state.*NodeRemoved for/);
  });

  it('keeps at most MAX_RETIRED_NODES tombstones, forgetting the oldest first', () => {
    let s = bootstrapped(['n1'], 4);
    const extra = 10;
    for (let i = 0; i < MAX_RETIRED_NODES + extra; i++) {
      const id = `f${i}`;
      const now = 10_000 + i;
      s = run(s, joinCluster(s, { nodeId: id, incarnation: 1 }, at(now)));
      s = run(s, leaveCluster(s, { nodeId: id, reason: 'graceful' }, at(now)));
      s = run(s, compactDeparted(s, { retentionMs: 1 }, at(now + 1)));
    }
    expect(s.retired).toHaveLength(MAX_RETIRED_NODES);
    expect(s.retired[0]).toEqual({ id: `f${extra}`, incarnation: 1 });
    expect(retiredIncarnation(s, `f${extra - 1}`)).toBeNull();
    expect(retiredIncarnation(s, `f${MAX_RETIRED_NODES + extra - 1}`)).toBe(1);
    expect(checkInvariants(s)).toEqual([]);
  });
});

describe('NodeRemoved in a history', () => {
  /** Every event that built `departed()` and then compacted it, in order. */
  function history(): { events: DomainEvent[]; state: ClusterState } {
    const events: DomainEvent[] = [];
    const rec = (s: ClusterState, r: ReturnType<typeof compactDeparted>): ClusterState => {
      events.push(...accepted(r));
      return applyAll(s, accepted(r));
    };
    const leader = at(1_000);
    let s = replay([], 12);
    s = rec(s, decide(s, { type: 'electLeader', nodeId: 'n1', term: 1 }, leader));
    for (const id of ['n1', 'n2', 'n3']) s = rec(s, joinCluster(s, { nodeId: id, incarnation: 1 }, leader));
    s = rec(s, rebalanceShards(s, { strategy, reason: 'bootstrap', rebalanceId: 'rb-1' }, leader));
    s = rec(s, markNodeFailed(s, { nodeId: 'n3', lastSeen: 1_500 }, at(2_000)));
    s = rec(s, rebalanceShards(s, { strategy, reason: 'node-failed', rebalanceId: 'rb-2' }, at(2_000)));
    s = rec(s, compactDeparted(s, { retentionMs: RETENTION }, at(2_000 + RETENTION)));
    s = rec(s, joinCluster(s, { nodeId: 'n3', incarnation: 2 }, at(20_000)));
    return { events, state: s };
  }

  it('replays to the same state, and every event passes the wire schema', () => {
    const { events, state } = history();
    expect(events.some((e) => e.type === 'NodeRemoved')).toBe(true);
    expect(replay(events, 12)).toEqual(state);
    for (const e of events)
      expect(parseDomainEvent(JSON.parse(JSON.stringify(e)))).toEqual({ ok: true, value: e });
  });

  it('survives the topology record codec, and a record without tombstones reads as none', () => {
    const s = departed();
    const compacted = run(s, compactDeparted(s, { retentionMs: RETENTION }, at(3_000 + RETENTION)));
    const round = decodeTopology(encodeTopology(compacted, 'n1', 1));
    expect(round.ok && round.value.state).toEqual(compacted);

    const { retired: _retired, ...older } = s;
    const decoded = decodeTopology(encodeTopology(older as ClusterState, 'n1', 1));
    expect(decoded.ok && decoded.value.state.retired).toEqual([]);
  });
});

describe('the compact proposal', () => {
  it('is decided through compactDeparted and rejected when nothing is due', () => {
    const s = departed();
    const opts = { strategy: 'balanced', maxMovesPerRound: 64, selfIncarnation: 1, selfWeight: 1 };
    const due = decideBatch(
      s,
      [{ kind: 'compact', retentionMs: RETENTION, source: 'root' }],
      at(3_000 + RETENTION),
      opts,
    );
    expect(due.events.map((e) => (e as NodeRemoved).nodeId)).toEqual(['n2', 'n3']);
    expect(Object.keys(due.next.nodes)).not.toContain('n2');
    const early = decideBatch(
      s,
      [{ kind: 'compact', retentionMs: RETENTION, source: 'root' }],
      at(2_000),
      opts,
    );
    expect(early.events).toEqual([]);
    expect(early.outcomes[0]?.rejection?.code).toBe('NOTHING_DUE');
  });
});
