/**
 * Both ends of a hand-off request on the transport: the leader's client names each shard's target and
 * its incarnation on record and asks only once its election is committed; the owner's server answers
 * every refusal with a code, and logs and counts it by kind.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { ReleaseRequest } from '../../../machines/hosting.js';
import type { PlannedMove } from '../../../src/domain/events.js';
import { type ClusterState, initialClusterState } from '../../../src/domain/state.js';
import type { BusMessage, MessageBus } from '../../../src/ports/bus.js';
import { SimulatedClock } from '../../../src/ports/simulated-clock.js';
import { decodeHandoff, decodeHandoffReply, encode } from '../../../src/protocol/codec.js';
import type { HandoffMove, HandoffRefusal } from '../../../src/protocol/messages.js';
import { names } from '../../../src/protocol/names.js';
import { handOff } from '../../../src/runtime/handoff-client.js';
import { HandoffServer } from '../../../src/runtime/handoff-server.js';
import { newCounters } from '../../../src/runtime/node-counters.js';

const n = names('c');
const quiet = pino({ level: 'silent' });

function logger() {
  const logged: { msg: string; code?: string }[] = [];
  return { logged, log: pino({ level: 'warn' }, { write: (l: string) => logged.push(JSON.parse(l)) }) };
}

/** n1 leads term 3; n2 (incarnation 7) and n3 (incarnation 9) own shards. */
function cluster(): ClusterState {
  const member = (id: string, incarnation: number) => ({
    id,
    status: 'Active' as const,
    incarnation,
    weight: 1,
    lastSeen: 0,
  });
  return {
    ...initialClusterState(4),
    nodes: { n1: member('n1', 5), n2: member('n2', 7), n3: member('n3', 9) },
    leader: { nodeId: 'n1', term: 3 },
    highestTerm: 3,
    shardMap: { version: 12, term: 3, owners: ['n1', 'n2', 'n2', 'n3'] },
  };
}

const move = (shardId: number, from: string, to: string): PlannedMove => ({
  shardId,
  from,
  to,
  reason: 'balance',
});

describe('the leader’s hand-off client', () => {
  function client(fenced: boolean) {
    const clock = new SimulatedClock(0);
    const asked: { subject: string; body: unknown }[] = [];
    const bus: MessageBus = {
      publish: () => {},
      subscribe: async () => () => {},
      request: async (subject, data) => {
        const d = decodeHandoff(data);
        if (!d.ok) throw new Error(d.error);
        asked.push({ subject, body: d.value });
        return encode({ released: d.value.moves.map((m) => m.shardId) });
      },
    };
    const own: { moves: readonly HandoffMove[]; term: number; version: number }[] = [];
    const waited: number[] = [];
    const deps = {
      nodeId: 'n1',
      bus,
      names: n,
      clock,
      log: quiet,
      timeoutMs: 1_000,
      cluster: () => cluster(),
      fenced: async (_term: number, timeoutMs: number) => {
        waited.push(timeoutMs);
        return fenced;
      },
      releaseOwn: async (moves: readonly HandoffMove[], term: number, version: number) => {
        own.push({ moves, term, version });
        return moves.map((m) => m.shardId);
      },
      dropped: () => {},
    };
    return { deps, asked, own, waited };
  }

  it('asks each old owner for its shards, naming each target and its incarnation on record and the map version', async () => {
    const c = client(true);
    const out = await handOff(c.deps, {
      term: 3,
      moves: [move(0, 'n1', 'n3'), move(1, 'n2', 'n3'), move(2, 'n2', 'n1'), move(3, 'n3', 'n2')],
    });
    expect([...out.released].sort()).toEqual([0, 1, 2, 3]);
    expect(c.own).toEqual([{ moves: [{ shardId: 0, to: 'n3', incarnation: 9 }], term: 3, version: 12 }]);
    expect(c.asked).toEqual([
      {
        subject: n.handoff('n2'),
        body: {
          term: 3,
          leader: 'n1',
          version: 12,
          moves: [
            { shardId: 1, to: 'n3', incarnation: 9 },
            { shardId: 2, to: 'n1', incarnation: 5 },
          ],
        },
      },
      {
        subject: n.handoff('n3'),
        body: { term: 3, leader: 'n1', version: 12, moves: [{ shardId: 3, to: 'n2', incarnation: 7 }] },
      },
    ]);
  });

  it('asks nobody while its election is not committed within the hand-off timeout', async () => {
    const c = client(false);
    const out = await handOff(c.deps, { term: 3, moves: [move(1, 'n2', 'n3')] });
    expect(out.released).toEqual([]);
    expect(c.waited).toEqual([1_000]);
    expect(c.asked).toEqual([]);
  });

  it('leaves out moves to a target no longer on record', async () => {
    const c = client(true);
    await handOff(c.deps, { term: 3, moves: [move(1, 'n2', 'gone'), move(2, 'n2', 'n3')] });
    expect(c.asked.map((a) => (a.body as { moves: unknown[] }).moves)).toEqual([
      [{ shardId: 2, to: 'n3', incarnation: 9 }],
    ]);
  });
});

describe('the owner’s hand-off server', () => {
  function server(highest: number | null = 3) {
    const counters = newCounters();
    const { log, logged } = logger();
    const submitted: ReleaseRequest[] = [];
    const dropped: string[] = [];
    const s = new HandoffServer({
      nodeId: 'n2',
      log,
      counters,
      highestTerm: () => highest,
      request: (req) => submitted.push(req),
      dropped: (e) => dropped.push(e),
    });
    const replies: unknown[] = [];
    const send = (body: unknown) => {
      const m: BusMessage = {
        subject: n.handoff('n2'),
        data: encode(body),
        respond: (d) => {
          const r = decodeHandoffReply(d);
          replies.push(r.ok ? r.value : r.error);
        },
      };
      s.onMessage(m);
    };
    return { s, counters, logged, submitted, dropped, replies, send };
  }
  const request = { term: 3, leader: 'n1', version: 12, moves: [{ shardId: 1, to: 'n3', incarnation: 9 }] };

  it('refuses a malformed request with a typed answer and counts it as malformed', () => {
    const t = server();
    t.send({ term: 3, leader: 'n1', version: 12, shards: [1] });
    expect(t.replies).toEqual([{ released: [], refused: 'malformed request', code: 'malformed' }]);
    expect(t.dropped).toHaveLength(1);
    expect(t.submitted).toEqual([]);
  });

  it('refuses a request of a term below the highest committed one as stale', () => {
    const t = server(5);
    t.send(request);
    expect(t.replies).toEqual([{ released: [], refused: 'term 3 is older than 5', code: 'stale-term' }]);
    expect(t.counters.staleHandoffs).toBe(1);
    expect(t.logged).toEqual([expect.objectContaining({ msg: 'refused a hand-off', code: 'stale-term' })]);
  });

  it.each([
    ['not-planned', 'forgedHandoffs'],
    ['wrong-incarnation', 'forgedHandoffs'],
    ['not-lease-holder', 'staleHandoffs'],
    ['lease-unreadable', 'unverifiedHandoffs'],
    ['topology-unreadable', 'unverifiedHandoffs'],
  ] as const)('answers the shard host’s %s refusal with its code and counts it in %s', (code, counter) => {
    const t = server();
    t.send(request);
    expect(t.submitted).toHaveLength(1);
    const refused: HandoffRefusal = { code, message: `why ${code}` };
    t.s.answer({ requestId: t.submitted[0]!.requestId, released: [], refused });
    expect(t.replies).toEqual([{ released: [], refused: `why ${code}`, code }]);
    expect(t.counters[counter]).toBe(1);
    expect(t.logged).toEqual([expect.objectContaining({ msg: 'refused a hand-off', code })]);
  });

  it('answers an honoured request with the shards released and no code', () => {
    const t = server();
    t.send(request);
    t.s.answer({ requestId: t.submitted[0]!.requestId, released: [1], refused: null });
    expect(t.replies).toEqual([{ released: [1] }]);
    expect(t.logged).toEqual([]);
  });
});
