/**
 * The root's logic as pure functions, without an actor: context and fact in, context patch and
 * effects out. Batches are decided through the real domain (`decideQueued`), so that the states and
 * events are those a leader would commit.
 */
import { describe, expect, it } from 'vitest';
import type { ClusterNodeContext } from '../../machines/cluster-node.machine.js';
import { initialHearing } from '../../machines/hearing.js';
import type { Proposal } from '../../machines/proposals.js';
import {
  adoptRead,
  adoptTopology,
  applyCommitted,
  confirmMembership,
  decideQueued,
  dropPending,
  enqueueFailure,
  enqueueProposal,
  hostedMap,
  mayJudgeFailed,
  noteConnection,
  proposalOf,
  type RootEffect,
  routeHeartbeat,
  sameProposal,
} from '../../machines/root-effects.js';
import { FAST_TIMING } from '../../src/config.js';
import { type ClusterState, initialClusterState } from '../../src/domain/state.js';
import type { NodeId, NodeInfo, NodeStatus } from '../../src/domain/values.js';
import type { Heartbeat } from '../../src/protocol/messages.js';

const timing = FAST_TIMING;
/** Hearing since the context's start (100), last heard at `at`. */
const heard = (at: number) => ({ connected: true, heardAt: at, since: 100 });

function context(over: Partial<ClusterNodeContext> = {}): ClusterNodeContext {
  return {
    nodeId: 'n1',
    incarnation: 1,
    weight: 1,
    load: 0,
    timing,
    maxMovesPerRound: 4,
    strategy: 'balanced',
    now: 100,
    idPrefix: 'n1-1',
    seq: 0,
    cluster: initialClusterState(4),
    revision: 0,
    highestTerm: 0,
    term: null,
    fenced: false,
    queue: [],
    pending: null,
    hearing: initialHearing(100),
    heldFailures: [],
    tracked: {},
    failures: 0,
    ...over,
  };
}

const election = (term: number): Proposal => ({ kind: 'election', term, source: 'root' });
const join = (nodeId: NodeId, weight = 1): Proposal => ({
  kind: 'join',
  nodeId,
  incarnation: 1,
  weight,
  source: 'lifecycle',
});
const command = (requestId: string, p: { kind: 'drain' | 'leave'; nodeId: NodeId }): Proposal =>
  p.kind === 'drain'
    ? { kind: 'drain', nodeId: p.nodeId, incarnation: null, source: { requestId } }
    : { kind: 'leave', nodeId: p.nodeId, reason: 'graceful', incarnation: null, source: { requestId } };

/** The leader of term 1 with `queue` decided into its pending batch. */
function deciding(queue: Proposal[], over: Partial<ClusterNodeContext> = {}) {
  const ctx = context({ term: 1, ...over, queue });
  const step = decideQueued(ctx);
  return { ctx: { ...ctx, ...step.patch }, effects: step.effects };
}

/** Commits the pending batch of `ctx` and returns the context after it. */
function commit(ctx: ClusterNodeContext): ClusterNodeContext {
  return { ...ctx, ...applyCommitted(ctx, { revision: ctx.revision + 1, at: ctx.now }).patch };
}

/** n1 leads term 1 of a cluster of n1 and n2, both Active, with lifecycle actors for both. */
function twoNodes(): ClusterNodeContext {
  const { ctx } = deciding([election(1), join('n2')], { tracked: { n2: 'Joining' } });
  return { ...commit(ctx), fenced: true };
}

const node = (id: NodeId, status: NodeStatus, incarnation = 1): NodeInfo => ({
  id,
  status,
  incarnation,
  lastSeen: 0,
  weight: 1,
});
function withNodes(nodes: NodeInfo[], over: Partial<ClusterState> = {}): ClusterState {
  const base = initialClusterState(4);
  return { ...base, nodes: Object.fromEntries(nodes.map((n) => [n.id, n])), ...over };
}

const emits = (effects: readonly RootEffect[]) =>
  effects.flatMap((e) => (e.kind === 'emit' ? [e.event] : []));
const sendsTo = (effects: readonly RootEffect[], to: string) =>
  effects.flatMap((e) => (e.kind === 'send' && e.to === to ? [e.event] : []));

describe('adoptTopology', () => {
  const state = withNodes([node('n1', 'Active')], {
    highestTerm: 2,
    shardMap: { version: 3, term: 2, owners: [] },
  });

  it('ignores a topology whose revision is not newer than the one held', () => {
    const ctx = context({ revision: 5 });
    expect(adoptTopology(ctx, { state, revision: 5, at: 200 })).toEqual({ patch: {}, effects: [] });
    expect(adoptTopology(ctx, { state, revision: 4, at: 200 })).toEqual({ patch: {}, effects: [] });
  });

  it('ignores a topology written by a deposed term, whatever its revision', () => {
    const ctx = context({ revision: 5, highestTerm: 4 });
    expect(adoptTopology(ctx, { state, revision: 9, at: 200 })).toEqual({ patch: {}, effects: [] });
    // A later term's write is adopted.
    const current = { ...state, highestTerm: 4 };
    expect(adoptTopology(ctx, { state: current, revision: 9, at: 200 }).patch).toMatchObject({
      cluster: current,
      revision: 9,
    });
  });

  it('adopts a newer topology and tells leadership and the shard host about it', () => {
    const step = adoptTopology(context({ revision: 1 }), { state, revision: 2, at: 200 });
    expect(step.patch).toMatchObject({ cluster: state, revision: 2, highestTerm: 2, now: 200 });
    expect(sendsTo(step.effects, 'leadership')).toEqual([
      { type: 'TOPOLOGY_INFO', at: 200, eligible: true, version: 3 },
    ]);
    expect(sendsTo(step.effects, 'shard-host')).toEqual([{ type: 'TOPOLOGY', at: 200, cluster: state }]);
  });

  it('spawns lifecycle actors for new members, syncs changed ones, stops removed ones and keeps nodes only heard', () => {
    const ctx = context({
      revision: 1,
      term: 1,
      cluster: withNodes([node('n2', 'Active'), node('n3', 'Left')]),
      // n4 was heard by heartbeat and never admitted; n3 departed and was compacted away.
      tracked: { n2: 'Active', n3: 'Left', n4: 'Joining' },
    });
    const next = withNodes([node('n1', 'Active'), node('n2', 'Draining')]);
    const step = adoptTopology(ctx, { state: next, revision: 2, at: 300 });
    expect(step.patch.tracked).toEqual({ n1: 'Active', n2: 'Draining', n4: 'Joining' });
    expect(step.effects.filter((e) => e.kind !== 'send' || e.to.startsWith('lifecycle-'))).toEqual([
      {
        kind: 'spawnLifecycle',
        input: {
          nodeId: 'n1',
          timing,
          now: 300,
          incarnation: 1,
          weight: 1,
          status: 'Active',
          lastSeen: 300,
          judge: true,
        },
      },
      {
        kind: 'send',
        to: 'lifecycle-n2',
        event: { type: 'SYNC', at: 300, status: 'Draining', incarnation: 1 },
      },
      { kind: 'stop', id: 'lifecycle-n3' },
    ]);
  });
});

describe('lifecycle actors and a new incarnation of a member', () => {
  // n2 was Active#1, then failed and was readmitted as incarnation 2 between two topologies this node
  // read (it was paused meanwhile): its status is the same, its process is not.
  const before = withNodes([node('n1', 'Active'), node('n2', 'Active', 1)]);
  const after = withNodes([node('n1', 'Active'), node('n2', 'Active', 2)]);
  const sync = { type: 'SYNC', at: 300, status: 'Active', incarnation: 2 };

  it('a watched topology tells the actor of a member readmitted as a new incarnation, its status unchanged', () => {
    const ctx = context({ revision: 1, cluster: before, tracked: { n1: 'Active', n2: 'Active' } });
    const step = adoptTopology(ctx, { state: after, revision: 2, at: 300 });
    expect(sendsTo(step.effects, 'lifecycle-n2')).toEqual([sync]);
    expect(sendsTo(step.effects, 'lifecycle-n1')).toEqual([]);
  });

  it('a topology read at a term’s start is followed as a watched one is', () => {
    const ctx = context({ revision: 1, term: 2, cluster: before, tracked: { n1: 'Active', n2: 'Active' } });
    const step = adoptRead(ctx, { state: after, revision: 2, at: 300 });
    expect(step.patch).toMatchObject({
      cluster: after,
      revision: 2,
      tracked: { n1: 'Active', n2: 'Active' },
    });
    expect(sendsTo(step.effects, 'lifecycle-n2')).toEqual([sync]);
    // A member the read shows for the first time gets its actor.
    const third = withNodes([...Object.values(after.nodes), node('n3', 'Active')]);
    const spawned = adoptRead(ctx, { state: third, revision: 3, at: 300 }).effects;
    expect(spawned).toContainEqual(expect.objectContaining({ kind: 'spawnLifecycle' }));
  });

  it('a read that returns no topology changes nothing but the revision', () => {
    const ctx = context({ revision: 1, cluster: before, tracked: { n1: 'Active', n2: 'Active' } });
    const step = adoptRead(ctx, { state: null, revision: 1, at: 300 });
    expect(step.effects).toEqual([]);
    expect(step.patch.tracked).toBeUndefined();
  });
});

describe('confirmMembership', () => {
  // n1 runs as incarnation 1 (see `context`).
  const confirms = (state: ClusterState | null) =>
    sendsTo(confirmMembership(context(), { at: 150, receivedAt: 160, state }).effects, 'shard-host');

  it.each(['Active', 'Draining'] as const)(
    'confirms to the shard host, with the read’s start and arrival, when the read shows this process %s',
    (status) => {
      const state = withNodes([node('n1', status), node('n2', 'Failed')]);
      expect(confirmMembership(context(), { at: 150, receivedAt: 160, state })).toEqual({
        patch: {},
        effects: [{ kind: 'send', to: 'shard-host', event: { type: 'CONFIRMED', at: 150, receivedAt: 160 } }],
      });
    },
  );

  it.each(['Joining', 'Failed', 'Left'] as const)('confirms nothing when the read shows it %s', (status) => {
    expect(confirms(withNodes([node('n1', status), node('n2', 'Active')]))).toEqual([]);
  });

  it('confirms nothing when the read does not list it, or found no topology', () => {
    expect(confirms(withNodes([node('n2', 'Active')]))).toEqual([]);
    expect(confirms(null)).toEqual([]);
  });

  it('confirms nothing when the read shows another incarnation of this node, older or newer', () => {
    expect(confirms(withNodes([node('n1', 'Active', 0)]))).toEqual([]);
    expect(confirms(withNodes([node('n1', 'Active', 2)]))).toEqual([]);
    expect(
      sendsTo(
        confirmMembership(context({ incarnation: 2 }), {
          at: 150,
          receivedAt: 160,
          state: withNodes([node('n1', 'Active', 2)]),
        }).effects,
        'shard-host',
      ),
    ).toEqual([{ type: 'CONFIRMED', at: 150, receivedAt: 160 }]);
  });
});

describe('applyCommitted', () => {
  it('does nothing without a pending batch', () => {
    expect(applyCommitted(context(), { revision: 1, at: 0 })).toEqual({ patch: {}, effects: [] });
  });

  it('emits the domain events of the batch in commit order, before anything else', () => {
    const { ctx } = deciding([election(1), join('n2', 3)], { tracked: { n2: 'Joining' } });
    const batch = ctx.pending!;
    expect(batch.events.map((e) => e.type)).toEqual(['LeaderElected', 'NodeJoined', 'NodeJoined']);
    const step = applyCommitted(ctx, { revision: 1, at: 150 });
    expect(step.effects.slice(0, 3)).toEqual(batch.events.map((event) => ({ kind: 'emit', event })));
    expect(emits(step.effects)).toEqual(batch.events);
    expect(batch.events[2]).toMatchObject({ type: 'NodeJoined', nodeId: 'n2', weight: 3 });
  });

  it('sets fenced when the batch committed the election, and only then', () => {
    const { ctx } = deciding([election(1)]);
    expect(ctx.fenced).toBe(false);
    const step = applyCommitted(ctx, { revision: 1, at: 150 });
    expect(step.patch).toMatchObject({ fenced: true, pending: null, failures: 0, revision: 1 });
    const later = deciding([command('q', { kind: 'drain', nodeId: 'n2' })], { ...twoNodes(), fenced: false });
    expect(applyCommitted(later.ctx, { revision: 9, at: 150 }).patch).not.toHaveProperty('fenced');
  });

  it('tells tracked lifecycle actors the committed facts and spawns one for a member admitted unheard', () => {
    const { ctx } = deciding([election(1), join('n2')], { tracked: { n2: 'Joining' } });
    const step = applyCommitted(ctx, { revision: 1, at: 150 });
    const joinedN2 = ctx.pending!.events[2]!;
    expect(sendsTo(step.effects, 'lifecycle-n2')).toEqual([{ type: 'COMMITTED', at: 150, event: joinedN2 }]);
    expect(step.effects.filter((e) => e.kind === 'spawnLifecycle')).toEqual([
      expect.objectContaining({
        input: expect.objectContaining({ nodeId: 'n1', status: 'Active', judge: true }),
      }),
    ]);
    expect(step.patch.tracked).toEqual({ n1: 'Active', n2: 'Active' });
  });

  it('answers a command with the events it committed, and asks the rebalancer to plan after a membership change', () => {
    const { ctx } = deciding([command('q1', { kind: 'drain', nodeId: 'n2' })], twoNodes());
    const step = applyCommitted(ctx, { revision: 9, at: 150 });
    const drained = ctx.pending!.events;
    expect(drained.map((e) => e.type)).toEqual(['NodeDraining']);
    expect(emits(step.effects)).toEqual([
      ...drained,
      { type: 'CommandAnswered', requestId: 'q1', ok: true, events: drained, code: null, message: null },
    ]);
    expect(sendsTo(step.effects, 'rebalancer')).toEqual([
      { type: 'TOPOLOGY_CHANGED', at: 150, reason: 'node-draining' },
    ]);
  });

  it('answers a command the domain rejects at once, without a batch to commit', () => {
    const { ctx, effects } = deciding([command('bad', { kind: 'drain', nodeId: 'nobody' })], twoNodes());
    expect(ctx.pending).toBeNull();
    expect(emits(effects)).toEqual([
      expect.objectContaining({
        type: 'CommandAnswered',
        requestId: 'bad',
        ok: false,
        code: expect.any(String),
      }),
    ]);
  });

  it('resigns when the domain refuses its election (its term already written): it must not lead unfenced', () => {
    const fenced = twoNodes();
    // The fencing write applied but its outcome was unknown: re-decided, the same term is refused.
    const { ctx, effects } = deciding([election(1)], { ...fenced, fenced: false, queue: [] });
    expect(ctx.pending).toBeNull();
    expect(sendsTo(effects, 'leadership')).toEqual([{ type: 'RESIGN', at: 100 }]);
  });

  it('does not resign for other rejected proposals', () => {
    const { effects } = deciding([command('bad', { kind: 'drain', nodeId: 'nobody' })], twoNodes());
    expect(sendsTo(effects, 'leadership')).toEqual([]);
  });

  it('queues the leave of a draining node that owns no shard any more', () => {
    // n2 owns nothing (no shard was placed yet), so draining it finishes at once.
    const { ctx } = deciding([command('q1', { kind: 'drain', nodeId: 'n2' })], twoNodes());
    const step = applyCommitted(ctx, { revision: 9, at: 150 });
    // It names the incarnation that drained: a newer process of n2 must not be removed by it.
    const incarnation = ctx.cluster.nodes.n2!.incarnation;
    expect(step.patch.queue).toEqual([
      { kind: 'leave', nodeId: 'n2', reason: 'drained', incarnation, source: 'root' },
    ]);
  });

  it('resigns when the batch leaves the leader unable to lead (it left)', () => {
    const { ctx } = deciding([command('q1', { kind: 'leave', nodeId: 'n1' })], twoNodes());
    expect(ctx.pending?.events.map((e) => e.type)).toEqual(['NodeLeft']);
    const step = applyCommitted(ctx, { revision: 9, at: 150 });
    expect(sendsTo(step.effects, 'leadership')).toContainEqual({ type: 'RESIGN', at: 150 });
    // Another node's drain leaves it leading.
    const other = deciding([command('q2', { kind: 'drain', nodeId: 'n2' })], twoNodes());
    expect(
      sendsTo(applyCommitted(other.ctx, { revision: 9, at: 150 }).effects, 'leadership'),
    ).not.toContainEqual({
      type: 'RESIGN',
      at: 150,
    });
  });

  it('stops the lifecycle actor of a member the committed state no longer lists', () => {
    const ctx = context({
      term: 1,
      tracked: { n1: 'Active', n3: 'Left', n4: 'Joining' },
      pending: { events: [], next: withNodes([node('n1', 'Active')]), outcomes: [] },
    });
    const step = applyCommitted(ctx, { revision: 2, at: 150 });
    expect(step.effects).toContainEqual({ kind: 'stop', id: 'lifecycle-n3' });
    expect(step.effects).not.toContainEqual({ kind: 'stop', id: 'lifecycle-n4' });
    expect(step.patch.tracked).toEqual({ n1: 'Active', n4: 'Joining' });
  });
});

describe('enqueueProposal and sameProposal', () => {
  it('keeps one copy of structurally equal proposals, whatever their identity', () => {
    const a: Proposal = { kind: 'migrations', shardIds: [1, 2], finish: false, source: 'rebalancer' };
    const b: Proposal = { kind: 'migrations', shardIds: [1, 2], finish: false, source: 'rebalancer' };
    const once = { ...context(), ...enqueueProposal(context(), { proposal: a, at: 120 }) };
    const twice = enqueueProposal(once, { proposal: b, at: 130 });
    expect(twice.queue).toEqual([a]);
    expect(twice.now).toBe(130);
    const c = command('q1', { kind: 'drain', nodeId: 'n2' });
    const withCommand = { ...once, ...enqueueProposal(once, { proposal: c, at: 130 }) };
    expect(
      enqueueProposal(withCommand, { proposal: command('q1', { kind: 'drain', nodeId: 'n2' }), at: 140 })
        .queue,
    ).toEqual([a, c]);
  });

  it('tells apart proposals that differ in any field, nested ones included', () => {
    const m = (shardIds: number[], finish = false): Proposal => ({
      kind: 'migrations',
      shardIds,
      finish,
      source: 'rebalancer',
    });
    expect(sameProposal(m([1, 2]), m([1, 2]))).toBe(true);
    expect(sameProposal(m([1, 2]), m([2, 1]))).toBe(false);
    expect(sameProposal(m([1, 2]), m([1, 2, 3]))).toBe(false);
    expect(sameProposal(m([1]), m([1], true))).toBe(false);
    expect(
      sameProposal(
        command('q1', { kind: 'drain', nodeId: 'n2' }),
        command('q2', { kind: 'drain', nodeId: 'n2' }),
      ),
    ).toBe(false);
    expect(sameProposal(join('n2', 1), join('n2', 2))).toBe(false);
    expect(sameProposal(join('n2'), { ...join('n2'), incarnation: 2 } as Proposal)).toBe(false);
    const failed = (incarnation: number | null): Proposal => ({
      kind: 'failed',
      nodeId: 'n2',
      incarnation,
      lastSeen: 0,
      source: 'lifecycle',
    });
    expect(sameProposal(failed(null), failed(null))).toBe(true);
    expect(sameProposal(failed(null), failed(1))).toBe(false);
  });
});

describe('routeHeartbeat', () => {
  const hb = (over: Partial<Heartbeat> = {}): Heartbeat => ({
    nodeId: 'n2',
    incarnation: 3,
    weight: 4,
    status: 'Joining',
    version: 0,
    load: 17,
    ...over,
  });

  it('creates the lifecycle actor of a node first heard, with the weight it announces, judging while leading', () => {
    const step = routeHeartbeat(context({ term: 2 }), { at: 250, heartbeat: hb() });
    expect(step.patch).toEqual({ now: 250, tracked: { n2: 'Joining' }, hearing: heard(250) });
    expect(step.effects).toEqual([
      {
        kind: 'spawnLifecycle',
        input: {
          nodeId: 'n2',
          timing,
          now: 250,
          incarnation: 3,
          weight: 4,
          status: 'Joining',
          lastSeen: 250,
          judge: true,
        },
      },
      {
        kind: 'send',
        to: 'lifecycle-n2',
        event: { type: 'HEARTBEAT', at: 250, incarnation: 3, weight: 4, load: 17 },
      },
    ]);
  });

  it('passes weight and load on to the actor of a node already tracked', () => {
    const step = routeHeartbeat(context({ tracked: { n2: 'Active' } }), {
      at: 260,
      heartbeat: hb({ load: 2 }),
    });
    expect(step).toEqual({
      patch: { now: 260, hearing: heard(260) },
      effects: [
        {
          kind: 'send',
          to: 'lifecycle-n2',
          event: { type: 'HEARTBEAT', at: 260, incarnation: 3, weight: 4, load: 2 },
        },
      ],
    });
  });

  it('a member known to the topology starts from its committed status and incarnation, not judging while following', () => {
    const ctx = context({ cluster: withNodes([node('n2', 'Draining', 2)]) });
    const step = routeHeartbeat(ctx, { at: 270, heartbeat: hb() });
    expect(step.effects[0]).toMatchObject({
      kind: 'spawnLifecycle',
      input: { nodeId: 'n2', status: 'Draining', incarnation: 2, judge: false },
    });
    expect(step.patch).toEqual({ now: 270, tracked: { n2: 'Draining' }, hearing: heard(270) });
  });
});

describe('routeHeartbeat and tombstones', () => {
  it('ignores heartbeats of a compacted member’s retired incarnation or older, and follows a newer one', () => {
    const ctx = context({ cluster: { ...initialClusterState(4), retired: [{ id: 'n2', incarnation: 3 }] } });
    const beat = (incarnation: number): Heartbeat => ({
      nodeId: 'n2',
      incarnation,
      weight: 1,
      status: 'Joining',
      version: 0,
      load: 0,
    });
    // Still proof that this node hears: only the hearing is noted.
    const ignored = { patch: { now: 300, hearing: heard(300) }, effects: [] };
    expect(routeHeartbeat(ctx, { at: 300, heartbeat: beat(3) })).toEqual(ignored);
    expect(routeHeartbeat(ctx, { at: 300, heartbeat: beat(2) })).toEqual(ignored);
    expect(routeHeartbeat(ctx, { at: 300, heartbeat: beat(4) }).patch).toEqual({
      now: 300,
      tracked: { n2: 'Joining' },
      hearing: heard(300),
    });
  });
});

describe('dropPending', () => {
  it('resigns when the dropped batch held the election: the term was never fenced', () => {
    const { ctx } = deciding([election(1)]);
    const step = dropPending(ctx);
    expect(step.patch).toEqual({ pending: null, failures: 0 });
    expect(sendsTo(step.effects, 'leadership')).toEqual([{ type: 'RESIGN', at: ctx.now }]);
  });

  it('tells each proposer its proposal failed, and does not resign for a batch without the election', () => {
    const leader = twoNodes();
    const { ctx } = deciding(
      [
        command('q1', { kind: 'drain', nodeId: 'n2' }),
        { kind: 'rebalance', reason: 'node-joined', source: 'rebalancer' },
      ],
      leader,
    );
    expect(ctx.pending?.outcomes.filter((o) => o.rejection === null)).toHaveLength(2);
    const step = dropPending(ctx);
    expect(emits(step.effects)).toEqual([
      {
        type: 'CommandAnswered',
        requestId: 'q1',
        ok: false,
        events: [],
        code: 'COMMIT_FAILED',
        message: 'the topology write failed; retry',
      },
    ]);
    expect(sendsTo(step.effects, 'rebalancer')).toEqual([
      { type: 'REJECTED', at: ctx.now, code: 'COMMIT_FAILED', message: 'the topology write failed; retry' },
    ]);
    expect(sendsTo(step.effects, 'leadership')).toEqual([]);
  });
});

describe('proposalOf', () => {
  it('turns each child proposal and operator command into the proposal the writer decides', () => {
    expect(proposalOf({ type: 'PROPOSE_JOIN', at: 5, nodeId: 'n2', incarnation: 3, weight: 2 })).toEqual({
      at: 5,
      proposal: { kind: 'join', nodeId: 'n2', incarnation: 3, weight: 2, source: 'lifecycle' },
    });
    expect(
      proposalOf({ type: 'PROPOSE_FAILED', at: 6, nodeId: 'n2', incarnation: 3, lastSeen: 4 }).proposal,
    ).toEqual({ kind: 'failed', nodeId: 'n2', incarnation: 3, lastSeen: 4, source: 'lifecycle' });
    expect(proposalOf({ type: 'PROPOSE_REBALANCE', at: 7, reason: 'node-joined' }).proposal).toEqual({
      kind: 'rebalance',
      reason: 'node-joined',
      source: 'rebalancer',
    });
    expect(
      proposalOf({ type: 'PROPOSE_MIGRATIONS', at: 8, shardIds: [1, 2], finish: true }).proposal,
    ).toEqual({ kind: 'migrations', shardIds: [1, 2], finish: true, source: 'rebalancer' });
    expect(
      proposalOf({
        type: 'COMMAND',
        at: 9,
        requestId: 'r1',
        command: { type: 'leaveCluster', nodeId: 'n2', incarnation: 4 },
      }).proposal,
    ).toEqual({
      kind: 'leave',
      nodeId: 'n2',
      reason: 'graceful',
      incarnation: 4,
      source: { requestId: 'r1' },
    });
    expect(
      proposalOf({
        type: 'COMMAND',
        at: 9,
        requestId: 'r2',
        command: { type: 'markNodeFailed', nodeId: 'n2' },
      }).proposal,
    ).toEqual({ kind: 'failed', nodeId: 'n2', incarnation: null, lastSeen: 0, source: { requestId: 'r2' } });
  });
});

describe('hostedMap', () => {
  it('gives a process none of its id’s shards while another incarnation is on record', () => {
    const base = withNodes([node('n1', 'Active'), node('n2', 'Active', 3)]);
    const state = { ...base, shardMap: { ...base.shardMap, owners: ['n1', 'n2', 'n2', 'n1'] } };
    expect(hostedMap(state, 'n2', 3)).toBe(state);
    // A restart of n2 not yet admitted (4), or its old process still leaving (2): nothing of n2's.
    expect(hostedMap(state, 'n2', 4).shardMap.owners).toEqual(['n1', null, null, 'n1']);
    expect(hostedMap(state, 'n2', 2).shardMap.owners).toEqual(['n1', null, null, 'n1']);
    expect(hostedMap(state, 'stranger', 1)).toBe(state);
  });
});

describe('a deaf judge fails nobody', () => {
  const beat = (nodeId: NodeId): Heartbeat => ({
    nodeId,
    incarnation: 1,
    weight: 1,
    status: 'Active',
    version: 0,
    load: 0,
  });
  const leading = (over: Partial<ClusterNodeContext> = {}) =>
    context({ term: 2, fenced: true, tracked: { n1: 'Active', n2: 'Active', n3: 'Active' }, ...over });
  const restored = (at: number) =>
    ['n1', 'n2', 'n3'].map((id) => ({
      kind: 'send',
      to: `lifecycle-${id}`,
      event: { type: 'HEARING_RESTORED', at },
    }));

  it('a judge never declares itself failed', () => {
    const at = 100 + timing.failureTimeoutMs;
    const ctx = leading({ hearing: { connected: true, heardAt: at - 10, since: 100 } });
    expect(mayJudgeFailed(ctx, { nodeId: 'n1', at })).toBe(false);
    expect(mayJudgeFailed(ctx, { nodeId: 'n2', at })).toBe(true);
  });

  const failedAt = (at: number, nodeId = 'n2') => ({
    type: 'PROPOSE_FAILED' as const,
    nodeId,
    incarnation: 1,
    lastSeen: at - timing.failureTimeoutMs,
    at,
  });

  it('drops the failure a deaf judge proposes', () => {
    expect(enqueueFailure(leading(), failedAt(100 + timing.failureTimeoutMs))).toEqual({});
  });

  it('holds the failure a hearing judge proposes, and queues it once a heartbeat after the deadline confirms it heard', () => {
    const at = 100 + timing.failureTimeoutMs;
    const hearing = leading({ hearing: { connected: true, heardAt: at - 10, since: 100 } });
    const held = { ...hearing, ...enqueueFailure(hearing, failedAt(at)) };
    expect(held.heldFailures).toEqual([failedAt(at)]);
    expect(held.queue).toEqual([]);
    const step = routeHeartbeat(held, { at: at + 100, heartbeat: beat('n3') });
    expect(step.patch.queue).toEqual([proposalOf(failedAt(at)).proposal]);
    expect(step.patch.heldFailures).toEqual([]);
  });

  it('a paused judge whose deadline timer fired late confirms nothing: the gap drops the held failure', () => {
    const at = 100 + timing.failureTimeoutMs;
    // Paused from just before the deadline: the timer fired on resuming, before the inbox was read.
    const hearing = leading({ hearing: { connected: true, heardAt: at - 140, since: 100 } });
    const held = { ...hearing, ...enqueueFailure(hearing, failedAt(at)) };
    const step = routeHeartbeat(held, { at: at + 1500, heartbeat: beat('n3') });
    expect(step.patch.heldFailures).toEqual([]);
    expect(step.patch.queue).toBeUndefined();
    expect(step.effects.slice(0, 3)).toEqual(restored(at + 1500));
  });

  it('a heartbeat of the node held failed drops the failure; a disconnection drops every held one', () => {
    const at = 100 + timing.failureTimeoutMs;
    const hearing = leading({ hearing: { connected: true, heardAt: at - 10, since: 100 } });
    const held = { ...hearing, ...enqueueFailure(hearing, failedAt(at)) };
    const spoke = routeHeartbeat(held, { at: at + 100, heartbeat: beat('n2') });
    expect(spoke.patch.heldFailures).toEqual([]);
    expect(spoke.patch.queue).toBeUndefined();
    expect(noteConnection(held, { at: at + 1, status: 'disconnected' }).patch.heldFailures).toEqual([]);
  });

  it('a judge that heard nothing (not even itself) shortly before the deadline may not propose the failure', () => {
    const at = 100 + timing.failureTimeoutMs;
    const ctx = leading({
      hearing: { connected: true, heardAt: at - 2 * timing.heartbeatIntervalMs, since: 100 },
    });
    expect(mayJudgeFailed(ctx, { nodeId: 'n2', at })).toBe(false);
    const hearing = { connected: true, heardAt: at - timing.heartbeatIntervalMs, since: 100 };
    expect(mayJudgeFailed(leading({ hearing }), { nodeId: 'n2', at })).toBe(true);
  });

  it('the first heartbeat after a gap (a pause) restarts every deadline from its arrival', () => {
    const ctx = leading({ hearing: { connected: true, heardAt: 100, since: 100 } });
    const at = 100 + 2 * timing.heartbeatIntervalMs;
    const step = routeHeartbeat(ctx, { at, heartbeat: beat('n2') });
    expect(step.effects.slice(0, 3)).toEqual(restored(at));
    expect(step.patch.hearing).toEqual({ connected: true, heardAt: at, since: at });
    // A deadline passed within a timeout of hearing again is not judged.
    const after = { ...ctx, ...step.patch };
    expect(mayJudgeFailed(after, { nodeId: 'n3', at: at + timing.failureTimeoutMs - 1 })).toBe(false);
    const heardOn = { ...after, hearing: { ...after.hearing, heardAt: at + timing.failureTimeoutMs - 100 } };
    expect(mayJudgeFailed(heardOn, { nodeId: 'n3', at: at + timing.failureTimeoutMs })).toBe(true);
    // Heartbeats an interval apart are no gap.
    const next = routeHeartbeat(after, { at: at + timing.heartbeatIntervalMs, heartbeat: beat('n2') });
    expect(next.effects.map((e) => (e.kind === 'send' ? e.event.type : e.kind))).toEqual(['HEARTBEAT']);
  });

  it('while disconnected no failure is proposed; reconnected, every deadline restarts from then', () => {
    const down = noteConnection(leading(), { at: 500, status: 'disconnected' });
    expect(down.effects).toEqual([]);
    const ctx = leading(down.patch);
    expect(mayJudgeFailed(ctx, { nodeId: 'n2', at: 500 + timing.failureTimeoutMs })).toBe(false);
    expect(noteConnection(ctx, { at: 600, status: 'reconnecting' }).effects).toEqual([]);
    const up = noteConnection(ctx, { at: 3500, status: 'connected' });
    expect(up.effects).toEqual(restored(3500));
    const back = leading(up.patch);
    expect(mayJudgeFailed(back, { nodeId: 'n2', at: 3500 + timing.failureTimeoutMs - 1 })).toBe(false);
    // Heard its own heartbeats meanwhile: it may judge a full timeout after reconnecting.
    const heardSince = leading({
      hearing: { ...back.hearing, heardAt: 3500 + timing.failureTimeoutMs - 100 },
    });
    expect(mayJudgeFailed(heardSince, { nodeId: 'n2', at: 3500 + timing.failureTimeoutMs })).toBe(true);
    // Already connected: nothing restarts.
    expect(noteConnection(back, { at: 3600, status: 'connected' }).effects).toEqual([]);
  });
});
