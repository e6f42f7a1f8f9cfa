import { describe, expect, it } from 'vitest';
import type { HistoryEntry, ViewSnapshot } from '../../src/checker/index.js';
import {
  type CheckedInvariant,
  checkHistory,
  createChecker,
  defaultConvergenceBoundMs,
  defaultRecoveryWindowMs,
  LIVELOCK_COMMITS,
} from '../../src/checker/index.js';
import { FAST_TIMING, fenceAfterMs } from '../../src/config.js';
import type { DomainEvent } from '../../src/domain/events.js';
import type { ActiveRebalance, ClusterState } from '../../src/domain/state.js';
import type { NodeStatus } from '../../src/domain/values.js';

const SHARDS = 8;
const config = { timing: FAST_TIMING, shardCount: SHARDS };
const WINDOW = defaultRecoveryWindowMs(FAST_TIMING);
const BOUND = defaultConvergenceBoundMs(FAST_TIMING, SHARDS);

interface StateSpec {
  nodes: Record<string, NodeStatus | [NodeStatus, number]>;
  owners: (string | null)[];
  leader?: string | null;
  term?: number;
  version: number;
  epoch?: number;
  balancedEpoch?: number;
  orphaned?: number[];
  rebalance?: ActiveRebalance | null;
}

function state(s: StateSpec): ClusterState {
  const term = s.term ?? 1;
  const nodes: Record<string, ClusterState['nodes'][string]> = {};
  for (const [id, st] of Object.entries(s.nodes)) {
    const [status, incarnation] = Array.isArray(st) ? st : [st, 1];
    nodes[id] = { id, status, incarnation, lastSeen: 0, weight: 1 };
  }
  return {
    shardCount: SHARDS,
    nodes,
    retired: [],
    leader: s.leader === null ? null : { nodeId: s.leader ?? 'a', term },
    highestTerm: term,
    shardMap: { version: s.version, term, owners: s.owners },
    orphaned: s.orphaned ?? [],
    orphanedFrom: {},
    bootstrapped: true,
    epoch: s.epoch ?? 1,
    balancedEpoch: s.balancedEpoch ?? s.epoch ?? 1,
    rebalance: s.rebalance ?? null,
  };
}

const AB = ['a', 'a', 'a', 'a', 'b', 'b', 'b', 'b'];
const base = { nodes: { a: 'Active', b: 'Active' } as StateSpec['nodes'], owners: AB };

function commit(at: number, revision: number, s: StateSpec, writer = s.leader ?? 'a'): HistoryEntry {
  return { kind: 'commit', at, revision, writer: writer ?? 'a', term: s.term ?? 1, state: state(s) };
}

function view(at: number, observer: string, v: Partial<ViewSnapshot>): HistoryEntry {
  return {
    kind: 'view',
    at,
    observer,
    view: {
      version: 1,
      term: 1,
      leader: { nodeId: 'a', term: 1 },
      highestTerm: 1,
      isLeader: observer === 'a',
      ...v,
    },
  };
}

let seq = 0;
function event(at: number, e: Partial<DomainEvent> & Pick<DomainEvent, 'type'>): HistoryEntry {
  return {
    kind: 'event',
    at,
    event: { id: `e${++seq}`, origin: 'a', term: 1, version: 1, at, ...e } as DomainEvent,
  };
}

function invariants(history: HistoryEntry[]): CheckedInvariant[] {
  return [...new Set(checkHistory(history, config).map((v) => v.invariant))];
}

/** A rebalance in progress whose plan moves shard 0 from a to b. */
const planMovingShard0ToB: ActiveRebalance = {
  rebalanceId: 'r1',
  reason: 'node-joined',
  epoch: 2,
  term: 1,
  startedAt: 0,
  moved: 0,
  remaining: [{ shardId: 0, from: 'a', to: 'b', reason: 'balance' }],
};

describe('the invariant checker', () => {
  it('passes a sound history: election, bootstrap, a planned hand-off after its release, convergence', () => {
    const plan: ActiveRebalance = {
      rebalanceId: 'r1',
      reason: 'node-joined',
      epoch: 2,
      term: 1,
      startedAt: 0,
      remaining: [{ shardId: 0, from: 'a', to: 'c', reason: 'balance' }],
      moved: 0,
    };
    const history: HistoryEntry[] = [
      { kind: 'process', at: 0, nodeId: 'a', up: true },
      { kind: 'process', at: 0, nodeId: 'b', up: true },
      { kind: 'process', at: 0, nodeId: 'c', up: true },
      { kind: 'lease', at: 0, holder: 'a', term: 1 },
      event(0, { type: 'LeaderElected', nodeId: 'a', previous: null } as Partial<DomainEvent> as DomainEvent),
      commit(1, 1, { ...base, version: 1 }),
      commit(2, 2, {
        nodes: { a: 'Active', b: 'Active', c: 'Active' },
        owners: AB,
        version: 2,
        epoch: 2,
        balancedEpoch: 1,
        rebalance: plan,
      }),
      { kind: 'release', at: 3, nodeId: 'a', shards: [0] },
      commit(4, 3, {
        nodes: { a: 'Active', b: 'Active', c: 'Active' },
        owners: ['c', ...AB.slice(1)],
        version: 3,
        epoch: 2,
      }),
      { kind: 'quiet', at: 4 },
      view(5, 'a', { version: 3 }),
      view(5, 'b', { version: 3 }),
      view(5, 'c', { version: 3 }),
    ];
    const c = createChecker(config);
    for (const e of history) c.observe(e);
    expect(c.finish(10)).toEqual([]);
    expect(c.stats().convergences).toBe(1);
  });

  it('catches two leaders for one term', () => {
    const h = [
      event(0, { type: 'LeaderElected', nodeId: 'a', term: 3, previous: null } as never),
      event(5, { type: 'LeaderElected', nodeId: 'b', term: 3, origin: 'b', previous: null } as never),
    ];
    const v = checkHistory(h, config);
    expect(v.map((x) => x.invariant)).toContain('single-leader-per-term');
    const found = v.find((x) => x.invariant === 'single-leader-per-term')!;
    expect(found.at).toBe(5);
    expect(found.message).toMatch(/term 3 has two leaders: a .* and b/);
    expect(found.evidence.length).toBeGreaterThan(0);
  });

  it('catches a term going back in a node’s view', () => {
    expect(invariants([view(0, 'b', { highestTerm: 4 }), view(1, 'b', { highestTerm: 3 })])).toEqual([
      'terms-increase',
    ]);
  });

  it('catches a committed topology whose leader is not Active', () => {
    expect(
      invariants([commit(0, 1, { nodes: { a: 'Draining', b: 'Active' }, owners: AB, version: 1 })]),
    ).toContain('leader-is-active');
  });

  it('catches a shard left ownerless beyond the recovery window, and not within it', () => {
    const orphaned = {
      nodes: { a: 'Active', b: 'Failed' } as StateSpec['nodes'],
      owners: ['a', 'a', 'a', 'a', null, null, null, null],
      version: 2,
      epoch: 2,
      balancedEpoch: 1,
      orphaned: [4, 5, 6, 7],
    };
    const early = [
      commit(0, 1, { ...base, version: 1 }),
      commit(10, 2, orphaned),
      { kind: 'tick', at: 10 + WINDOW - 1 } as HistoryEntry,
    ];
    expect(invariants(early)).toEqual([]);
    const late = [...early, { kind: 'tick', at: 10 + WINDOW + 1 } as HistoryEntry];
    const v = checkHistory(late, config);
    expect(v.map((x) => x.invariant)).toEqual(['all-shards-owned']);
    expect(v[0]!.message).toMatch(/4 shard\(s\) stayed ownerless longer than/);
  });

  it('a lease written by a client that never ran as a node elects nobody: a real election after it restarts the recovery window', () => {
    const orphaned = {
      nodes: { a: 'Active', b: 'Failed' } as StateSpec['nodes'],
      owners: ['a', 'a', 'a', 'a', null, null, null, null],
      version: 2,
      epoch: 2,
      balancedEpoch: 1,
      orphaned: [4, 5, 6, 7],
    };
    const h: HistoryEntry[] = [
      { kind: 'process', at: 0, nodeId: 'a', up: true },
      commit(0, 1, { ...base, version: 1 }),
      commit(10, 2, orphaned),
      // A forger writes the lease; once it lapses, a wins term 7, far below the forged one.
      { kind: 'lease', at: 20, holder: 'evil', term: 999_999_999 },
      { kind: 'lease', at: 20 + FAST_TIMING.leaseTtlMs, holder: 'a', term: 7 },
      { kind: 'tick', at: 20 + WINDOW + 1 },
    ];
    expect(invariants(h)).toEqual([]);
    const due = 20 + FAST_TIMING.leaseTtlMs + WINDOW;
    expect(invariants([...h, { kind: 'tick', at: due + 1 }])).toEqual(['all-shards-owned']);
  });

  it('catches a shard owned by a node that is neither Active nor Draining', () => {
    expect(
      invariants([commit(0, 1, { nodes: { a: 'Active', b: 'Failed' }, owners: AB, version: 1 })]),
    ).toContain('shards-on-active-nodes');
  });

  it('catches a shard that moves without a topology change or a plan', () => {
    const h = [
      commit(0, 1, { ...base, version: 1 }),
      commit(5, 2, { ...base, owners: ['b', ...AB.slice(1)], version: 2 }),
    ];
    const v = checkHistory(h, config);
    expect(v.map((x) => x.invariant)).toContain('moves-only-on-topology-change');
    expect(v.find((x) => x.invariant === 'moves-only-on-topology-change')!.message).toMatch(/shard 0 a → b/);
  });

  it('catches a rebalance triggered with no membership change or new leader since the last one', () => {
    const trig = (at: number, id: string) =>
      event(at, {
        type: 'RebalancingTriggered',
        rebalanceId: id,
        reason: 'node-joined',
        epoch: 2,
        plan: [],
      } as never);
    expect(invariants([trig(0, 'r1'), trig(5, 'r2')])).toEqual(['moves-only-on-topology-change']);
  });

  it('catches a shard-map version going back for one observer', () => {
    expect(invariants([view(0, 'b', { version: 7 }), view(1, 'b', { version: 6 })])).toEqual([
      'versions-increase',
    ]);
  });

  it('catches a hand-off whose new owner got the shard before the old owner released it', () => {
    const plan = planMovingShard0ToB;
    const before = [commit(0, 1, { ...base, version: 1, epoch: 2, balancedEpoch: 1, rebalance: plan })];
    const after = commit(5, 2, { ...base, owners: ['b', ...AB.slice(1)], version: 2, epoch: 2 });
    expect(invariants([...before, after])).toEqual(['release-before-acquire']);
    expect(invariants([...before, { kind: 'release', at: 3, nodeId: 'a', shards: [0] }, after])).toEqual([]);
    // A release after the commit is too late.
    expect(invariants([...before, after, { kind: 'release', at: 6, nodeId: 'a', shards: [0] }])).toEqual([
      'release-before-acquire',
    ]);
  });

  it('does not judge release-before-acquire from a history that cannot show releases', () => {
    const plan = planMovingShard0ToB;
    const h = [
      commit(0, 1, { ...base, version: 1, epoch: 2, balancedEpoch: 1, rebalance: plan }),
      commit(5, 2, { ...base, owners: ['b', ...AB.slice(1)], version: 2, epoch: 2 }),
    ];
    const kinds = [
      'commit',
      'lease',
      'event',
      'view',
      'process',
      'hearing',
      'audit',
      'fault',
      'quiet',
    ] as const;
    const c = createChecker({ ...config, historyKinds: kinds });
    for (const e of h) c.observe(e);
    expect(c.finish()).toEqual([]);
    expect(c.notObservable).toEqual([
      'release-before-acquire',
      'released-shards-move',
      'serving-without-membership',
    ]);
    expect(c.judged).toContain('single-leader-per-term');
    // A real violation in the same history is still reported.
    const stale = commit(6, 3, { ...base, owners: ['b', ...AB.slice(1)], version: 1, epoch: 2 });
    c.observe(stale);
    expect(c.finish().map((v) => v.invariant)).toContain('versions-increase');
  });

  it('judges owner changes across a gap in the observed commits as nothing', () => {
    const h: HistoryEntry[] = [
      commit(0, 1, { ...base, version: 1 }),
      {
        ...commit(5, 3, { ...base, owners: ['b', ...AB.slice(1)], version: 3, epoch: 2 }),
        afterGap: true,
      } as HistoryEntry,
    ];
    expect(invariants(h)).toEqual([]);
  });

  it('catches an old owner that took a released shard back before the move was committed', () => {
    const plan = planMovingShard0ToB;
    const h: HistoryEntry[] = [
      commit(0, 1, { ...base, version: 1, epoch: 2, balancedEpoch: 1, rebalance: plan }),
      { kind: 'release', at: 3, nodeId: 'a', shards: [0] },
      { kind: 'acquire', at: 4, nodeId: 'a', shards: [0] },
      commit(5, 2, { ...base, owners: ['b', ...AB.slice(1)], version: 2, epoch: 2 }),
    ];
    const v = checkHistory(h, config);
    expect(v.map((x) => x.invariant)).toEqual(['release-before-acquire']);
    expect(v[0]!.message).toMatch(/a released it at 3 but took it back at 4/);
  });

  it('counts the owner’s release after it took a shard back, and no release by a node that does not own it (seed 688)', () => {
    const plan = planMovingShard0ToB;
    const h: HistoryEntry[] = [
      commit(0, 1, { ...base, version: 1, epoch: 2, balancedEpoch: 1, rebalance: plan }),
      // Fenced and unfenced, then handed off: the last release counts.
      { kind: 'release', at: 2, nodeId: 'a', shards: [0] },
      { kind: 'acquire', at: 3, nodeId: 'a', shards: [0] },
      { kind: 'release', at: 4, nodeId: 'a', shards: [0] },
      // A node resuming on a stale map lets go of a shard that is not its own.
      { kind: 'release', at: 4.5, nodeId: 'c', shards: [0] },
      commit(5, 2, { ...base, owners: ['b', ...AB.slice(1)], version: 2, epoch: 2 }),
    ];
    expect(invariants(h)).toEqual([]);
  });

  it('catches a write and a hand-off of a deposed term after a newer term wrote', () => {
    const h: HistoryEntry[] = [
      commit(0, 1, { ...base, version: 1, term: 3 }),
      commit(
        5,
        2,
        { nodes: { a: 'Active', b: 'Active' }, owners: AB, version: 2, term: 2, leader: 'b' },
        'b',
      ),
    ];
    expect(invariants(h)).toContain('stale-term-fenced');
    const handoff: HistoryEntry[] = [
      commit(0, 1, { ...base, version: 1, term: 5 }),
      { kind: 'handoff', at: 9, from: 'b', leader: 'c', term: 4, released: [5] },
    ];
    expect(invariants(handoff)).toEqual(['stale-term-fenced']);
  });

  it('catches a cluster that does not converge within the bound after faults heal', () => {
    const h: HistoryEntry[] = [
      { kind: 'process', at: 0, nodeId: 'a', up: true },
      { kind: 'process', at: 0, nodeId: 'b', up: true },
      commit(0, 1, { ...base, version: 1 }),
      { kind: 'fault', at: 1, description: 'isolate b' },
      { kind: 'quiet', at: 100 },
      view(101, 'a', { version: 1 }),
      view(101, 'b', { version: 1, isLeader: true }),
    ];
    expect(invariants([...h, { kind: 'tick', at: 100 + BOUND - 1 }])).toEqual([]);
    const v = checkHistory([...h, { kind: 'tick', at: 100 + BOUND + 1 }], config);
    expect(v.map((x) => x.invariant)).toEqual(['converges']);
    expect(v[0]!.message).toMatch(/2 running nodes act as leader \(a, b\)/);
  });

  it('catches a livelock: topology commits piling up while no time passes', () => {
    const h: HistoryEntry[] = [];
    for (let i = 0; i < LIVELOCK_COMMITS; i++) h.push(commit(7, i + 1, { ...base, version: i + 1 }));
    const v = checkHistory(h, config);
    expect(v.map((x) => x.invariant)).toEqual(['converges']);
    expect(v[0]!.message).toMatch(/commits at t=7 without time passing/);
    expect(invariants(h.slice(0, LIVELOCK_COMMITS - 1))).toEqual([]);
  });

  it('catches a shard its owner released that never moves on', () => {
    const h: HistoryEntry[] = [
      { kind: 'process', at: 0, nodeId: 'a', up: true },
      { kind: 'process', at: 0, nodeId: 'b', up: true },
      commit(0, 1, { ...base, version: 1 }),
      { kind: 'release', at: 2, nodeId: 'b', shards: [6] },
      { kind: 'quiet', at: 3 },
      view(3, 'a', { version: 1 }),
      view(3, 'b', { version: 1 }),
      { kind: 'tick', at: 3 + BOUND + 1 },
    ];
    const v = checkHistory(h, config);
    expect(v.map((x) => x.invariant)).toEqual(['released-shards-move']);
    expect(v[0]!.message).toMatch(/shard 6 on b/);
  });

  it('catches a state that cannot be: a shard map of the wrong size', () => {
    expect(invariants([commit(0, 1, { ...base, owners: AB.slice(0, 6), version: 1 })])).toContain(
      'event-fits-state',
    );
  });
  it('accepts a departed record compacted away, and catches a member record that vanishes without departing', () => {
    const three = (c: NodeStatus) => ({ a: 'Active', b: 'Active', c }) as StateSpec['nodes'];
    const compacted = [
      commit(0, 1, { nodes: three('Left'), owners: AB, version: 1 }),
      event(3, {
        type: 'NodeRemoved',
        nodeId: 'c',
        incarnation: 1,
        status: 'Left',
        departedAt: 0,
      } as Partial<DomainEvent> as DomainEvent),
      commit(3, 2, { ...base, version: 2 }),
    ];
    expect(invariants(compacted)).toEqual([]);
    const lost = [
      commit(0, 1, { nodes: three('Draining'), owners: AB, version: 1 }),
      commit(3, 2, { ...base, version: 2 }),
    ];
    const v = checkHistory(lost, config);
    expect(v.map((x) => x.invariant)).toEqual(['event-fits-state']);
    expect(v[0]!.message).toMatch(/vanished .* without departing, e\.g\. c \(Draining#1\)/);
  });

  it('does not count a removed record as a membership change that allows a rebalance', () => {
    const trig = (at: number, id: string) =>
      event(at, {
        type: 'RebalancingTriggered',
        rebalanceId: id,
        reason: 'node-left',
        epoch: 2,
        plan: [],
      } as never);
    const removed = event(2, {
      type: 'NodeRemoved',
      nodeId: 'c',
      incarnation: 1,
      status: 'Failed',
      departedAt: 0,
    } as Partial<DomainEvent> as DomainEvent);
    expect(invariants([trig(0, 'r1'), removed, trig(5, 'r2')])).toEqual(['moves-only-on-topology-change']);
  });
});

describe('events-from-leader', () => {
  const elected = (at: number, origin: string, term: number): HistoryEntry =>
    event(at, {
      type: 'LeaderElected',
      origin,
      term,
      nodeId: origin,
      previous: null,
    } as Partial<DomainEvent> & Pick<DomainEvent, 'type'>);

  it("passes events decided by the node that wrote their term's topology, whichever is seen first", () => {
    expect(
      checkHistory(
        [
          elected(10, 'a', 1),
          commit(11, 1, { ...base, version: 1 }),
          event(12, { type: 'NodeDraining', nodeId: 'b' }),
        ],
        config,
      ).filter((v) => v.invariant === 'events-from-leader'),
    ).toEqual([]);
  });

  it('reports a delivered event from a node that did not lead its term', () => {
    const v = checkHistory(
      [
        commit(10, 1, { ...base, version: 1 }),
        event(11, { type: 'NodeLeft', origin: 'b', nodeId: 'b', reason: 'graceful', orphaned: [] } as never),
      ],
      config,
    ).filter((x) => x.invariant === 'events-from-leader');
    expect(v.map((x) => x.message)).toEqual([
      expect.stringMatching(/NodeLeft e\d+ from b in term 1 was delivered, but a wrote that term's topology/),
    ]);
  });

  it('reports a delivered election whose term no topology was ever written for (a forged huge term)', () => {
    const v = checkHistory(
      [commit(10, 1, { ...base, version: 1 }), elected(11, 'evil', 999_999_999)],
      config,
    ).filter((x) => x.invariant === 'events-from-leader');
    expect(v.map((x) => x.message)).toEqual([
      expect.stringMatching(
        /LeaderElected e\d+ from evil in term 999999999 was delivered, but no topology of that term/,
      ),
    ]);
  });

  it('reports an event held for its term once a commit shows another writer', () => {
    const v = checkHistory(
      [
        event(10, { type: 'NodeDraining', origin: 'b', term: 2, nodeId: 'a' } as never),
        commit(11, 2, { ...base, leader: 'a', term: 2, version: 2 }),
      ],
      config,
    ).filter((x) => x.invariant === 'events-from-leader');
    expect(v).toHaveLength(1);
  });
});

describe('failure-judged-blind: no failure judged by a blind judge', () => {
  const T = FAST_TIMING.failureTimeoutMs;
  const failed = (at: number, origin: string, nodeId: string, id = `f-${at}`): HistoryEntry => ({
    kind: 'event',
    at: at + 5,
    event: {
      type: 'NodeFailed',
      id,
      origin,
      term: 1,
      version: 1,
      at,
      nodeId,
      incarnation: 1,
      lastSeen: at - T,
      orphaned: [],
    },
  });
  const up = (at: number, nodeId: string): HistoryEntry => ({ kind: 'process', at, nodeId, up: true });
  const hearing = (
    at: number,
    nodeId: string,
    able: boolean,
    why: 'cut' | 'paused' = 'cut',
  ): HistoryEntry => ({
    kind: 'hearing',
    at,
    nodeId,
    able,
    why,
  });
  const blind = (h: HistoryEntry[]) =>
    checkHistory(h, config).filter((v) => v.invariant === 'failure-judged-blind');

  it('accepts a failure judged after a full timeout of hearing', () => {
    expect(
      blind([
        up(0, 'a'),
        up(0, 'b'),
        hearing(1000, 'a', false),
        hearing(1500, 'a', true),
        failed(1500 + T, 'a', 'b'),
      ]),
    ).toEqual([]);
  });

  it('flags a judge that was cut off within the failure timeout before its verdict (a store outage)', () => {
    const v = blind([
      up(0, 'a'),
      up(0, 'b'),
      hearing(5000, 'a', false),
      hearing(8000, 'a', true),
      failed(8500, 'a', 'b'),
    ]);
    expect(v.map((x) => x.message)).toEqual([expect.stringContaining('a judged b failed at 8500')]);
  });

  it('flags a verdict reached while paused, and one by a judge started less than a timeout before', () => {
    expect(blind([up(0, 'a'), hearing(3000, 'a', false, 'paused'), failed(4000, 'a', 'b')])).toHaveLength(1);
    expect(blind([up(1000, 'a'), failed(1000 + T - 1, 'a', 'b')])).toHaveLength(1);
  });

  it('flags a judge declaring itself failed', () => {
    expect(blind([up(0, 'a'), failed(5000, 'a', 'a')]).map((x) => x.message)).toEqual([
      'a judged itself failed',
    ]);
  });

  it('nests reasons: a paused judge that is also cut off hears again only when both end', () => {
    const h = [
      up(0, 'a'),
      hearing(1000, 'a', false),
      hearing(1200, 'a', false),
      hearing(1500, 'a', true),
      hearing(4000, 'a', true),
      failed(4000 + T - 1, 'a', 'b'),
    ];
    expect(blind(h)).toHaveLength(1);
  });
});

describe('failure-judged-blind: what is not blindness', () => {
  const T = FAST_TIMING.failureTimeoutMs;
  const base = { term: 1, version: 1, origin: 'a' };
  it('a pause that ended before the deadline: what was sent waited in the inbox and was read', () => {
    const h: HistoryEntry[] = [
      { kind: 'process', at: 0, nodeId: 'a', up: true },
      { kind: 'hearing', at: 3000, nodeId: 'a', able: false, why: 'paused' },
      { kind: 'hearing', at: 3300, nodeId: 'a', able: true, why: 'paused' },
      {
        kind: 'event',
        at: 4000,
        event: {
          type: 'NodeFailed',
          id: 'f',
          ...base,
          at: 4000,
          nodeId: 'b',
          incarnation: 1,
          lastSeen: 4000 - T,
          orphaned: [],
        },
      },
    ];
    expect(checkHistory(h, config).filter((v) => v.invariant === 'failure-judged-blind')).toEqual([]);
  });

  it('a process replaced in the same instant (a restart while the old one leaves) leaves its id no gap', () => {
    // Seed 673, restart-overlap: the old n1 leads while it leaves and confirms a failure the instant
    // its successor starts; the id never lacked a process that heard.
    const nodeFailed = (at: number): HistoryEntry => ({
      kind: 'event',
      at,
      event: {
        type: 'NodeFailed',
        id: `f-${at}`,
        ...base,
        at,
        nodeId: 'b',
        incarnation: 1,
        lastSeen: at - T,
        orphaned: [],
      },
    });
    const replaced = (gap: number): HistoryEntry[] => [
      { kind: 'process', at: 0, nodeId: 'a', up: true },
      { kind: 'process', at: 6000, nodeId: 'a', up: false },
      { kind: 'process', at: 6000 + gap, nodeId: 'a', up: true },
      nodeFailed(6000 + gap),
      nodeFailed(6000 + gap + T - 1),
    ];
    const blind = (h: HistoryEntry[]) =>
      checkHistory(h, config).filter((v) => v.invariant === 'failure-judged-blind');
    expect(blind(replaced(0))).toEqual([]);
    // A restart after a crash, however short the gap, still owes a full timeout of hearing.
    expect(blind(replaced(1))).toHaveLength(2);
  });

  it('the old incarnation failed together with the admission of a newer one (a rejoin)', () => {
    const h: HistoryEntry[] = [
      { kind: 'process', at: 1000, nodeId: 'a', up: true },
      {
        kind: 'event',
        at: 1500,
        event: {
          type: 'NodeFailed',
          id: 'f',
          ...base,
          at: 1500,
          nodeId: 'b',
          incarnation: 1,
          lastSeen: 900,
          orphaned: [],
        },
      },
      {
        kind: 'event',
        at: 1500,
        event: { type: 'NodeJoined', id: 'j', ...base, at: 1500, nodeId: 'b', incarnation: 2, weight: 1 },
      },
    ];
    expect(checkHistory(h, config).filter((v) => v.invariant === 'failure-judged-blind')).toEqual([]);
  });
});

describe('serving-without-membership: no serving without confirmed membership', () => {
  const W = fenceAfterMs(FAST_TIMING);
  const T = FAST_TIMING.failureTimeoutMs;
  const up = (at: number): HistoryEntry => ({ kind: 'process', at, nodeId: 'a', up: true });
  const down = (at: number): HistoryEntry => ({ kind: 'process', at, nodeId: 'a', up: false });
  const confirmed = (at: number, since = at): HistoryEntry => ({
    kind: 'membership',
    at,
    nodeId: 'a',
    since,
  });
  const acquire = (at: number, shards: number[]): HistoryEntry => ({
    kind: 'acquire',
    at,
    nodeId: 'a',
    shards,
  });
  const release = (at: number, shards: number[]): HistoryEntry => ({
    kind: 'release',
    at,
    nodeId: 'a',
    shards,
  });
  const tick = (at: number): HistoryEntry => ({ kind: 'tick', at });
  const paused = (at: number, able: boolean): HistoryEntry => ({
    kind: 'hearing',
    at,
    nodeId: 'a',
    able,
    why: 'paused',
  });
  const serving = (h: HistoryEntry[]) =>
    checkHistory(h, config).filter((v) => v.invariant === 'serving-without-membership');

  it('flags a node serving past its fence window, and says when the leader may have reassigned its shards', () => {
    const v = serving([up(0), confirmed(300), acquire(400, [0, 1]), tick(300 + W), tick(300 + W + 1)]);
    expect(v.map((x) => x.message)).toEqual([
      `a served 2 shard(s), e.g. 0, at ${301 + W}, but its membership was last confirmed at 300: its ${W} ms fence window ended at ${300 + W}`,
    ]);
    const late = serving([up(0), confirmed(300), acquire(400, [0]), tick(300 + T + 1)]);
    expect(late.map((x) => x.message)).toEqual([
      expect.stringContaining('the leader may already have reassigned them'),
    ]);
  });

  it('accepts a node that stops serving at its deadline, or keeps confirming in time', () => {
    // Confirmed by a read issued at 400, answered at 500; it lets go at the deadline.
    expect(
      serving([up(0), acquire(100, [0, 1]), confirmed(500, 400), release(400 + W, [0, 1]), tick(5000)]),
    ).toEqual([]);
    const steady: HistoryEntry[] = [up(0), acquire(100, [0])];
    for (let at = 300; at < 10_000; at += 300) steady.push(confirmed(at + 20, at), tick(at + 50));
    expect(serving(steady)).toEqual([]);
  });

  it('flags shards started past the window with no confirmation since', () => {
    const v = serving([up(0), confirmed(100), acquire(5000, [3]), tick(5001)]);
    expect(v).toHaveLength(1);
    expect(v[0]!.message).toContain('a served 1 shard(s), e.g. 3, at 5001');
  });

  it('a paused process serves nothing while paused, and must let go the moment it resumes past its window', () => {
    const base = [
      up(0),
      acquire(100, [0]),
      confirmed(300),
      paused(500, false),
      tick(2000),
      paused(3000, true),
    ];
    expect(serving([...base, release(3000, [0]), tick(3100)])).toEqual([]);
    expect(serving([...base, tick(3001)])).toHaveLength(1);
  });

  it('a new process starts serving nothing and confirmed at its start', () => {
    expect(serving([up(0), confirmed(0), acquire(100, [0]), down(500), up(600), tick(600 + W)])).toEqual([]);
    expect(serving([up(0), confirmed(0), up(600), acquire(700, [0]), tick(601 + W)])).toHaveLength(1);
  });

  it('is judged only when the history reports membership confirmations', () => {
    expect(serving([up(0), acquire(100, [0]), tick(10_000)])).toEqual([]);
  });
});
