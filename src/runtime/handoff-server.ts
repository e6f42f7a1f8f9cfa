/**
 * The transport side of the old owner's hand-off: requests from the bus (decoded, stale terms
 * refused) and from this node's own leader go to the shard host statechart, which fences them by the
 * lease and the committed plan and releases; its answer goes back to the requester. Every refusal is
 * typed, logged and counted by its kind.
 */
import type { Logger } from 'pino';
import type { ReleaseRequest } from '../../machines/hosting.js';
import type { ReleaseAnswer } from '../../machines/shard-host.machine.js';
import type { ShardId, Term } from '../domain/values.js';
import type { BusMessage } from '../ports/bus.js';
import { decodeHandoff, encode, refusalReply } from '../protocol/codec.js';
import type { HandoffMove, HandoffRefusal } from '../protocol/messages.js';
import type { NodeCounters } from './node-counters.js';

export interface HandoffServerDeps {
  readonly nodeId: string;
  readonly log: Logger;
  readonly counters: NodeCounters;
  /** Highest committed term this node knows; a request of a lower term comes from a deposed leader. */
  readonly highestTerm: () => Term | null;
  /** Hands a request to the shard host. */
  readonly request: (req: ReleaseRequest) => void;
  readonly dropped: (error: string) => void;
}

/** A request a refusal answers, as far as it is known (not at all when it could not be decoded). */
interface Refused {
  readonly term: Term | null;
  readonly leader: string | null;
}

export class HandoffServer {
  readonly #waiting = new Map<
    string,
    { readonly req: ReleaseRequest; readonly reply: (a: ReleaseAnswer) => void }
  >();
  #seq = 0;

  constructor(private readonly d: HandoffServerDeps) {}

  /** A leader's request from the bus. */
  onMessage(m: BusMessage): void {
    const decoded = decodeHandoff(m.data);
    if (!decoded.ok) {
      this.d.dropped(decoded.error);
      this.#respond(m, refusalReply({ code: 'malformed', message: 'malformed request' }));
      return;
    }
    const req = decoded.value;
    const highest = this.d.highestTerm();
    if (highest === null || req.term < highest) {
      const refusal: HandoffRefusal = {
        code: 'stale-term',
        message: `term ${req.term} is older than ${highest}`,
      };
      this.#refused(req, refusal);
      this.#respond(m, refusalReply(refusal));
      return;
    }
    this.#submit({ ...req, requestId: `bus-${++this.#seq}` }, (a) =>
      this.#respond(m, a.refused === null ? { released: a.released } : refusalReply(a.refused)),
    );
  }

  /** This node, leading, releases its own shards: the same path, without the bus. */
  releaseOwn(leader: string, term: Term, moves: readonly HandoffMove[], version: number): Promise<ShardId[]> {
    return new Promise((resolve) =>
      this.#submit({ requestId: `own-${++this.#seq}`, leader, term, moves, version }, (a) =>
        resolve([...a.released]),
      ),
    );
  }

  /** The shard host's answer (bound to its `answer` action). */
  answer(a: ReleaseAnswer): void {
    const waiting = this.#waiting.get(a.requestId);
    if (waiting === undefined) return;
    this.#waiting.delete(a.requestId);
    if (a.refused !== null) this.#refused(waiting.req, a.refused);
    // Called from a statechart action: a requester gone away must not fail the actor.
    try {
      waiting.reply(a);
    } catch (err) {
      this.d.log.debug({ err, requestId: a.requestId }, 'could not answer a hand-off request');
    }
  }

  /** The node stops: requests still waiting get nothing released. */
  close(): void {
    for (const [requestId, w] of this.#waiting)
      w.reply({ requestId, released: [], refused: { code: 'stopping', message: 'stopping' } });
    this.#waiting.clear();
  }

  #submit(req: ReleaseRequest, reply: (a: ReleaseAnswer) => void): void {
    this.#waiting.set(req.requestId, { req, reply });
    this.d.request(req);
  }

  #respond(m: BusMessage, reply: object): void {
    m.respond?.(encode(reply));
  }

  /** Counts and logs a refusal by its kind: stale, forged (no such plan), or unverified. */
  #refused(req: Refused, refusal: HandoffRefusal): void {
    const c = this.d.counters;
    switch (refusal.code) {
      case 'stale-term':
      case 'not-lease-holder':
        c.staleHandoffs++;
        break;
      case 'not-planned':
      case 'wrong-incarnation':
        c.forgedHandoffs++;
        break;
      case 'lease-unreadable':
      case 'topology-unreadable':
        c.unverifiedHandoffs++;
        break;
      case 'malformed':
      case 'stopping':
        break;
    }
    this.d.log.warn(
      { code: refusal.code, term: req.term, leader: req.leader, why: refusal.message },
      'refused a hand-off',
    );
  }
}
