/**
 * The transport side of the old owner's hand-off: requests from the bus (decoded, stale terms
 * dropped) and from this node's own leader go to the shard host statechart, which fences them by
 * the lease and releases; its answer goes back to the requester.
 */
import type { Logger } from 'pino';
import type { ReleaseRequest } from '../../machines/hosting.js';
import type { ReleaseAnswer } from '../../machines/shard-host.machine.js';
import type { ShardId, Term } from '../domain/values.js';
import type { BusMessage } from '../ports/bus.js';
import { decodeHandoff, encode } from '../protocol/codec.js';
import type { NodeCounters } from './node-counters.js';

export interface HandoffServerDeps {
  readonly nodeId: string;
  readonly log: Logger;
  readonly counters: NodeCounters;
  /** Highest term this node knows; a request of a lower term comes from a deposed leader. */
  readonly highestTerm: () => Term | null;
  /** Hands a request to the shard host. */
  readonly request: (req: ReleaseRequest) => void;
  readonly dropped: (error: string) => void;
}

export class HandoffServer {
  readonly #waiting = new Map<string, (answer: ReleaseAnswer) => void>();
  #seq = 0;

  constructor(private readonly d: HandoffServerDeps) {}

  /** A leader's request from the bus. */
  onMessage(m: BusMessage): void {
    const decoded = decodeHandoff(m.data);
    if (!decoded.ok) {
      this.d.dropped(decoded.error);
      m.respond?.(encode({ released: [], refused: 'malformed request' }));
      return;
    }
    const req = decoded.value;
    const highest = this.d.highestTerm();
    if (highest === null || req.term < highest) {
      this.#refused(req.term, req.leader, `term ${req.term} is older than ${highest}`);
      m.respond?.(encode({ released: [], refused: `term ${req.term} is older than ${highest}` }));
      return;
    }
    this.#submit({ ...req, requestId: `bus-${++this.#seq}` }, (a) =>
      m.respond?.(
        encode(a.refused === null ? { released: a.released } : { released: [], refused: a.refused }),
      ),
    );
  }

  /** This node, leading, releases its own shards: the same path, without the bus. */
  releaseOwn(leader: string, term: Term, shards: readonly ShardId[], version: number): Promise<ShardId[]> {
    return new Promise((resolve) =>
      this.#submit({ requestId: `own-${++this.#seq}`, leader, term, shards, version }, (a) =>
        resolve([...a.released]),
      ),
    );
  }

  /** The shard host's answer (bound to its `answer` action). */
  answer(a: ReleaseAnswer): void {
    const reply = this.#waiting.get(a.requestId);
    if (reply === undefined) return;
    this.#waiting.delete(a.requestId);
    if (a.refused !== null) this.#refused(null, null, a.refused);
    // Called from a statechart action: a requester gone away must not fail the actor.
    try {
      reply(a);
    } catch (err) {
      this.d.log.debug({ err, requestId: a.requestId }, 'could not answer a hand-off request');
    }
  }

  /** The node stops: requests still waiting get nothing released. */
  close(): void {
    for (const [requestId, reply] of this.#waiting) reply({ requestId, released: [], refused: 'stopping' });
    this.#waiting.clear();
  }

  #submit(req: ReleaseRequest, reply: (a: ReleaseAnswer) => void): void {
    this.#waiting.set(req.requestId, reply);
    this.d.request(req);
  }

  #refused(term: Term | null, leader: string | null, why: string): void {
    this.d.counters.staleHandoffs++;
    this.d.log.warn({ term, leader, why }, 'refused a hand-off');
  }
}
