/** The leader's side of a hand-off round: ask each old owner to release its shards, in parallel. */
import type { Logger } from 'pino';
import type { HandOffInput, HandOffOutput } from '../../machines/rebalancing.machine.js';
import type { NodeId, ShardId } from '../domain/values.js';
import type { MessageBus } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import { decodeHandoffReply, encode } from '../protocol/codec.js';
import type { names } from '../protocol/names.js';

export interface HandoffClientDeps {
  readonly nodeId: NodeId;
  readonly bus: MessageBus;
  readonly names: ReturnType<typeof names>;
  readonly clock: Clock;
  readonly log: Logger;
  readonly timeoutMs: number;
  /** Shard-map version this node holds: the plan behind the request. */
  readonly version: () => number;
  /** Releases this node's own shards. */
  readonly releaseOwn: (shards: readonly ShardId[], term: number, version: number) => Promise<ShardId[]>;
  readonly dropped: (error: string) => void;
}

export function handOff(d: HandoffClientDeps, input: HandOffInput): Promise<HandOffOutput> {
  const version = d.version();
  const byOwner = new Map<NodeId, ShardId[]>();
  for (const m of input.moves) {
    if (m.from === null) continue;
    const list = byOwner.get(m.from) ?? [];
    list.push(m.shardId);
    byOwner.set(m.from, list);
  }
  const asks = [...byOwner].map(([from, shards]) =>
    from === d.nodeId ? d.releaseOwn(shards, input.term, version) : ask(d, from, shards, input.term, version),
  );
  return Promise.all(asks).then((released) => ({ released: released.flat(), at: d.clock.now() }));
}

async function ask(
  d: HandoffClientDeps,
  from: NodeId,
  shards: ShardId[],
  term: number,
  version: number,
): Promise<ShardId[]> {
  try {
    const reply = await d.bus.request(
      d.names.handoff(from),
      encode({ term, leader: d.nodeId, shards, version }),
      {
        timeoutMs: d.timeoutMs,
      },
    );
    const r = decodeHandoffReply(reply);
    if (!r.ok) {
      d.dropped(r.error);
      return [];
    }
    const asked = new Set(shards);
    return r.value.released.filter((s) => asked.has(s));
  } catch (err) {
    d.log.debug({ err, from }, 'hand-off request failed; will retry');
    return [];
  }
}
