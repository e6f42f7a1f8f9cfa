/**
 * Randomized histories: joins, restarts, failures, drains, leaves, elections and rebalances (full,
 * paced and interrupted), decided by the commands and applied with `applyAll`. Each run logs its seed:
 * rerun a failure with `FC_SEED=<seed>`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyAll, replay, topologyChanged } from '../../../src/domain/apply.js';
import type { CommandResult, RejectionCode } from '../../../src/domain/commands.js';
import {
  compactDeparted,
  completeMigration,
  drainNode,
  electLeader,
  finishRebalance,
  joinCluster,
  leaveCluster,
  loseLeadership,
  markNodeFailed,
  rebalanceShards,
  renewLeadership,
} from '../../../src/domain/commands.js';
import type { DomainEvent, EventStamp } from '../../../src/domain/events.js';
import { parseDomainEvent } from '../../../src/domain/events.js';
import { checkInvariants } from '../../../src/domain/invariants.js';
import type { PlacementStrategy } from '../../../src/domain/placement-strategy.js';
import type { ClusterState } from '../../../src/domain/state.js';
import { initialClusterState, nodesWithStatus } from '../../../src/domain/state.js';
import type { NodeId } from '../../../src/domain/values.js';
import { BalancedPlacement, ConsistentHashPlacement } from '../../../src/placement/index.js';
import { LeastLoadedTestPlacement, withoutIds } from './fixtures.js';

const seed =
  process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : Math.floor(Math.random() * 2 ** 31);
const RUNS = process.env.FC_RUNS !== undefined ? Number(process.env.FC_RUNS) : 120;
const POOL = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'] as const;

type Op =
  | { k: 'join'; node: number; weight: number }
  | { k: 'rejoin'; node: number }
  | { k: 'fail'; node: number }
  | { k: 'drain'; node: number }
  | { k: 'leave'; node: number; reason: 'graceful' | 'drained' }
  | { k: 'rebalance' }
  | { k: 'paced'; maxMoves: number; complete: number }
  | { k: 'complete' }
  | { k: 'finish' }
  | { k: 'elect'; node: number }
  | { k: 'renew' }
  | { k: 'lose' }
  | { k: 'compact'; retentionMs: number; settleFirst: boolean };

const node = fc.integer({ min: 0, max: POOL.length - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({ k: fc.constant('join' as const), node, weight: fc.constantFrom(1, 1, 2) }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('rejoin' as const), node }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('fail' as const), node }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('drain' as const), node }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('leave' as const),
      node,
      reason: fc.constantFrom('graceful', 'drained'),
    }),
  },
  { weight: 4, arbitrary: fc.constant({ k: 'rebalance' as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('paced' as const),
      maxMoves: fc.integer({ min: 1, max: 4 }),
      complete: fc.integer({ min: 0, max: 5 }),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ k: 'complete' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'finish' as const }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('elect' as const), node }) },
  { weight: 1, arbitrary: fc.constant({ k: 'renew' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'lose' as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('compact' as const),
      retentionMs: fc.constantFrom(1, 30, 200),
      settleFirst: fc.boolean(),
    }),
  },
);
const scenarioArb = fc.record({
  shardCount: fc.constantFrom(8, 24, 64),
  ops: fc.array(opArb, { minLength: 1, maxLength: 40 }),
});

/** Plays commands against a state, applying every accepted command's events and checking as it goes. */
class Runner {
  state: ClusterState;
  readonly history: DomainEvent[] = [];
  private readonly incarnation: Record<NodeId, number> = {};
  private seq = 0;
  private rebalances = 0;
  private now = 0;

  constructor(
    shardCount: number,
    private readonly strategy: PlacementStrategy,
    private readonly idPrefix = '',
  ) {
    this.state = initialClusterState(shardCount);
  }

  stampAs(origin: NodeId): EventStamp {
    return { origin, now: this.now, nextId: () => `${this.idPrefix}${origin}-${++this.seq}` };
  }

  /** Applies an accepted command's events; a rejection must carry one of the expected codes. */
  exec(r: CommandResult, allowed: readonly RejectionCode[] = []): boolean {
    if (!r.ok) {
      if (!allowed.includes(r.rejection.code)) {
        throw new Error(`unexpected rejection ${r.rejection.code}: ${r.rejection.message}`);
      }
      return false;
    }
    this.state = applyAll(this.state, r.events);
    expect(checkInvariants(this.state)).toEqual([]);
    this.history.push(...r.events);
    return true;
  }

  get leader(): EventStamp {
    return this.stampAs(this.state.leader?.nodeId ?? 'nobody');
  }

  /** Makes sure some node leads; at bootstrap the new leader admits itself first. */
  ensureLeader(): void {
    this.now += 10;
    if (this.state.leader === null) {
      const candidate = nodesWithStatus(this.state, 'Active')[0] ?? POOL[0];
      this.exec(
        electLeader(
          this.state,
          { nodeId: candidate, term: this.state.highestTerm + 1 },
          this.stampAs(candidate),
        ),
      );
    }
    const l = this.state.leader!.nodeId;
    if (this.state.nodes[l]?.status !== 'Active') {
      const inc = (this.incarnation[l] ?? 0) + 1;
      this.exec(joinCluster(this.state, { nodeId: l, incarnation: inc }, this.leader));
      this.incarnation[l] = inc;
    }
  }

  /** Plans a rebalance (closing an unfinished one first); returns whether one was planned. */
  plan(maxMoves?: number): boolean {
    if (this.state.rebalance !== null) this.exec(finishRebalance(this.state, {}, this.leader));
    const changed = topologyChanged(this.state);
    const hasActive = nodesWithStatus(this.state, 'Active').length > 0;
    const r = rebalanceShards(
      this.state,
      {
        strategy: this.strategy,
        reason: 'node-joined',
        rebalanceId: `rb-${++this.rebalances}`,
        ...(maxMoves !== undefined ? { maxMoves } : {}),
      },
      this.leader,
    );
    if (!r.ok) {
      // A rejection must be the right one: nothing changed, or nobody can take shards.
      if (r.rejection.code === 'NO_TOPOLOGY_CHANGE') expect(changed).toBe(false);
      else if (r.rejection.code === 'NO_ACTIVE_NODES') expect(hasActive).toBe(false);
      else throw new Error(`unexpected rejection ${r.rejection.code}: ${r.rejection.message}`);
      return false;
    }
    expect(changed).toBe(true);
    return this.exec(r);
  }

  completeNext(): boolean {
    const m = this.state.rebalance?.remaining[0];
    if (m === undefined) return false;
    return this.exec(completeMigration(this.state, { shardId: m.shardId }, this.leader), [
      'OWNER_CHANGED',
      'NODE_NOT_ACTIVE',
    ]);
  }

  /** A full rebalance with every hand-off completed; then the map is settled on Active nodes. */
  rebalanceFully(): void {
    if (!this.plan()) return;
    while (this.state.rebalance !== null) expect(this.completeNext()).toBe(true);
    for (const o of this.state.shardMap.owners) {
      expect(o).not.toBeNull();
      expect(this.state.nodes[o!]?.status).toBe('Active');
    }
    // Nothing changed since: a second rebalance must be refused (invariant 4).
    const again = rebalanceShards(
      this.state,
      { strategy: this.strategy, reason: 'node-joined', rebalanceId: 'again' },
      this.leader,
    );
    expect(again.ok ? 'accepted' : again.rejection.code).toBe('NO_TOPOLOGY_CHANGE');
  }

  /** A known node for failure, drain and leave ops (so that few are wasted on unknown ids). */
  private member(i: number): NodeId {
    const known = Object.keys(this.state.nodes).sort();
    return known.length > 0 ? known[i % known.length]! : POOL[i]!;
  }

  step(op: Op): void {
    this.ensureLeader();
    const s = this.state;
    const L = this.leader;
    switch (op.k) {
      case 'join': {
        const id = POOL[op.node]!;
        const inc = this.incarnation[id] ?? 1;
        if (
          this.exec(joinCluster(s, { nodeId: id, incarnation: inc, weight: op.weight }, L), [
            'ALREADY_MEMBER',
            'STALE_INCARNATION',
          ])
        ) {
          this.incarnation[id] = inc;
        }
        return;
      }
      case 'rejoin': {
        const id = POOL[op.node]!;
        const inc = (this.incarnation[id] ?? 0) + 1;
        this.exec(joinCluster(s, { nodeId: id, incarnation: inc }, L));
        this.incarnation[id] = inc;
        return;
      }
      case 'fail':
        this.exec(markNodeFailed(s, { nodeId: this.member(op.node), lastSeen: this.now }, L), [
          'UNKNOWN_NODE',
          'NOT_ACTIVE',
        ]);
        return;
      case 'drain':
        this.exec(drainNode(s, { nodeId: this.member(op.node) }, L), [
          'UNKNOWN_NODE',
          'NOT_ACTIVE',
          'LAST_ACTIVE_NODE',
          'NODE_IS_LEADER',
        ]);
        return;
      case 'leave':
        this.exec(leaveCluster(s, { nodeId: this.member(op.node), reason: op.reason }, L), [
          'UNKNOWN_NODE',
          'NOT_ACTIVE',
          'STILL_OWNS_SHARDS',
        ]);
        return;
      case 'rebalance':
        this.rebalanceFully();
        return;
      case 'paced':
        if (this.plan(op.maxMoves)) for (let i = 0; i < op.complete; i++) this.completeNext();
        return;
      case 'complete':
        this.completeNext();
        return;
      case 'finish':
        this.exec(finishRebalance(s, {}, L), ['NO_REBALANCE']);
        return;
      case 'elect': {
        const id = POOL[op.node]!;
        this.exec(electLeader(s, { nodeId: id, term: s.highestTerm + 1 }, this.stampAs(id)), [
          'NODE_NOT_ACTIVE',
        ]);
        return;
      }
      case 'renew':
        this.exec(
          renewLeadership(
            s,
            { nodeId: s.leader!.nodeId, term: s.leader!.term, expiresAt: this.now + 100 },
            L,
          ),
        );
        return;
      case 'lose':
        this.exec(
          loseLeadership(s, { nodeId: s.leader!.nodeId, term: s.leader!.term, reason: 'renew-deadline' }, L),
        );
        return;
      case 'compact': {
        // Recovery first, or the departed nodes are still named as the previous owners of orphans.
        if (op.settleFirst) this.rebalanceFully();
        const removed = this.exec(compactDeparted(this.state, { retentionMs: op.retentionMs }, this.leader), [
          'NOTHING_DUE',
        ]);
        // A removed incarnation may not come back; only a newer one (the 'rejoin' op) is admitted.
        if (removed) {
          for (const r of this.state.retired) {
            const back = joinCluster(this.state, { nodeId: r.id, incarnation: r.incarnation }, this.leader);
            expect(back.ok ? 'accepted' : back.rejection.code).toBe('STALE_INCARNATION');
          }
        }
        return;
      }
    }
  }

  /** Plays the ops, then settles: a leader, and a full rebalance if any node can take shards. */
  play(ops: readonly Op[]): this {
    for (const op of ops) this.step(op);
    this.ensureLeader();
    this.rebalanceFully();
    return this;
  }
}

const strategies: [string, () => PlacementStrategy][] = [
  ['a least-loaded test strategy', () => new LeastLoadedTestPlacement()],
  ['BalancedPlacement', () => new BalancedPlacement()],
  ['ConsistentHashPlacement', () => new ConsistentHashPlacement()],
];

describe(`domain properties (seed ${seed}; rerun with FC_SEED=${seed})`, () => {
  for (const [name, make] of strategies) {
    it(`keeps every invariant after every command and settles all shards on Active nodes, with ${name}`, () => {
      fc.assert(
        fc.property(scenarioArb, ({ shardCount, ops }) => {
          const r = new Runner(shardCount, make()).play(ops);
          const active = nodesWithStatus(r.state, 'Active');
          if (active.length > 0)
            expect(r.state.shardMap.owners.every((o) => o !== null && active.includes(o))).toBe(true);
          // The history alone rebuilds the state, and the state survives JSON.
          expect(replay(r.history, shardCount)).toEqual(r.state);
          expect(JSON.parse(JSON.stringify(r.state))).toEqual(r.state);
          // Every decided event passes the schema that guards events arriving from outside.
          for (const e of r.history)
            expect(parseDomainEvent(JSON.parse(JSON.stringify(e)))).toEqual({ ok: true, value: e });
        }),
        { seed, numRuns: RUNS, verbose: 1 },
      );
    });
  }

  it('decides the same events for the same history, whatever the event ids', () => {
    fc.assert(
      fc.property(scenarioArb, ({ shardCount, ops }) => {
        const a = new Runner(shardCount, new BalancedPlacement()).play(ops);
        const b = new Runner(shardCount, new BalancedPlacement(), 'other-').play(ops);
        expect(withoutIds(b.history)).toEqual(withoutIds(a.history));
        expect(b.history[0]?.id).not.toBe(a.history[0]?.id);
        expect(b.state).toEqual(a.state);
      }),
      { seed, numRuns: Math.ceil(RUNS / 2), verbose: 1 },
    );
  });

  it('refuses a rebalance after one that completed until the topology changes again', () => {
    fc.assert(
      fc.property(scenarioArb, opArb, ({ shardCount, ops }, next) => {
        const r = new Runner(shardCount, new LeastLoadedTestPlacement()).play(ops);
        const before = r.state;
        r.step(next);
        r.ensureLeader();
        const planned = rebalanceShards(
          r.state,
          { strategy: new LeastLoadedTestPlacement(), reason: 'node-joined', rebalanceId: 'probe' },
          r.leader,
        );
        const topologySame =
          r.state.epoch === before.epoch && r.state.orphaned.length === 0 && r.state.rebalance === null;
        if (topologySame) expect(planned.ok ? 'accepted' : planned.rejection.code).toBe('NO_TOPOLOGY_CHANGE');
      }),
      { seed, numRuns: RUNS, verbose: 1 },
    );
  });

  it('holds at the full 1024 shards with BalancedPlacement', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 25 }), (ops) => {
        const r = new Runner(1024, new BalancedPlacement()).play(ops);
        expect(replay(r.history, 1024)).toEqual(r.state);
      }),
      { seed, numRuns: Math.max(5, Math.ceil(RUNS / 12)), verbose: 1 },
    );
  });
});
