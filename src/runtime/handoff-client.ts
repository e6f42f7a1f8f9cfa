/**
 * The leader's side of a hand-off round: ask each old owner to release its shards, in parallel. A
 * request names, for each shard, the target of the committed plan and that node's incarnation on
 * record, and the map version the leader holds: the owner honours only what the committed topology
 * plans. It is sent only once the leader's term is fenced (its election committed), since the owner
 * checks that the record names the requester as the leader of that term.
 */
import type { Logger } from 'pino';
import type { HandOffInput, HandOffOutput } from '../../machines/rebalancing.machine.js';
import type { ClusterState } from '../domain/state.js';
import type { NodeId, ShardId, Term } from '../domain/values.js';
import type { MessageBus } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import { decodeHandoffReply, encode } from '../protocol/codec.js';
import type { HandoffMove } from '../protocol/messages.js';
import type { names } from '../protocol/names.js';

export interface HandoffClientDeps {
  readonly nodeId: NodeId;
  readonly bus: MessageBus;
  readonly names: ReturnType<typeof names>;
  readonly clock: Clock;
  readonly log: Logger;
  readonly timeoutMs: number;
  /** The committed topology this node holds: the plan's targets, their incarnations and the map version. */
  readonly cluster: () => ClusterState | null;
  /** Resolves true once this node's election of `term` is committed, false if not within `timeoutMs`. */
  readonly fenced: (term: Term, timeoutMs: number) => Promise<boolean>;
  /** Releases this node's own shards. */
  readonly releaseOwn: (moves: readonly HandoffMove[], term: Term, version: number) => Promise<ShardId[]>;
  readonly dropped: (error: string) => void;
}

export async function handOff(d: HandoffClientDeps, input: HandOffInput): Promise<HandOffOutput> {
  const nothing = () => ({ released: [], at: d.clock.now() });
  if (!(await d.fenced(input.term, d.timeoutMs))) return nothing();
  const cluster = d.cluster();
  if (cluster === null) return nothing();
  const version = cluster.shardMap.version;
  const byOwner = new Map<NodeId, HandoffMove[]>();
  for (const m of input.moves) {
    const target = cluster.nodes[m.to];
    // A target no longer on record is in no plan an owner would honour; the commit skips it too.
    if (m.from === null || target === undefined) continue;
    const list = byOwner.get(m.from) ?? [];
    list.push({ shardId: m.shardId, to: m.to, incarnation: target.incarnation });
    byOwner.set(m.from, list);
  }
  const asks = [...byOwner].map(([from, moves]) =>
    from === d.nodeId ? d.releaseOwn(moves, input.term, version) : ask(d, from, moves, input.term, version),
  );
  const released = await Promise.all(asks);
  return { released: released.flat(), at: d.clock.now() };
}

async function ask(
  d: HandoffClientDeps,
  from: NodeId,
  moves: HandoffMove[],
  term: Term,
  version: number,
): Promise<ShardId[]> {
  try {
    const reply = await d.bus.request(
      d.names.handoff(from),
      encode({ term, leader: d.nodeId, moves, version }),
      { timeoutMs: d.timeoutMs },
    );
    const r = decodeHandoffReply(reply);
    if (!r.ok) {
      d.dropped(r.error);
      return [];
    }
    if (r.value.code !== undefined) {
      d.log.debug({ from, code: r.value.code, why: r.value.refused }, 'hand-off refused; will retry');
      return [];
    }
    const asked = new Set(moves.map((m) => m.shardId));
    return r.value.released.filter((s) => asked.has(s));
  } catch (err) {
    d.log.debug({ err, from }, 'hand-off request failed; will retry');
    return [];
  }
}
