/**
 * What other nodes say on the bus, checked before the root actor sees it: heartbeats (decoded, an
 * older incarnation's dropped) and domain events (decoded, on their own subject, a lower term's
 * dropped, the rest admitted only from their term's lease holder by {@link EventAdmission}). Anything
 * malformed or forged is dropped, logged and counted, never applied.
 */
import type { Logger } from 'pino';
import { type ClusterState, retiredIncarnation } from '../domain/state.js';
import type { NodeId } from '../domain/values.js';
import type { BusMessage } from '../ports/bus.js';
import { decodeDomainEvent, decodeHeartbeat, decodeJson } from '../protocol/codec.js';
import type { Heartbeat } from '../protocol/messages.js';
import type { EventAdmission } from './event-admission.js';
import type { MessageKind, NodeCounters } from './node-counters.js';

export interface InboundDeps {
  readonly nodeId: NodeId;
  readonly log: Logger;
  readonly counters: NodeCounters;
  /** The topology this node holds and the highest term it knows; null before the actor runs. */
  readonly view: () => { readonly cluster: ClusterState; readonly highestTerm: number } | null;
  readonly heartbeat: (hb: Heartbeat) => void;
  /** Where a well-formed event of a current term goes to be checked against its term's lease holder. */
  readonly admission: Pick<EventAdmission, 'admit'>;
  /** Whether an event of this id was delivered here already (this node's own, or a repeat). */
  readonly delivered: (id: string) => boolean;
}

/** Counts and logs a message dropped as malformed. */
export function dropMalformed(
  d: Pick<InboundDeps, 'log' | 'counters'>,
  kind: MessageKind,
  error: string,
): void {
  d.counters.malformed[kind]++;
  d.log.warn({ kind, error: error.slice(0, 500) }, 'dropped a malformed message');
}

export function onHeartbeat(d: InboundDeps, m: BusMessage): void {
  const decoded = decodeHeartbeat(m.data);
  if (!decoded.ok) {
    dropMalformed(d, 'heartbeat', decoded.error);
    return;
  }
  const hb = decoded.value;
  const cluster = d.view()?.cluster;
  const known = cluster?.nodes[hb.nodeId];
  const retired = cluster ? (retiredIncarnation(cluster, hb.nodeId) ?? -1) : -1;
  if ((known && hb.incarnation < known.incarnation) || hb.incarnation <= retired) {
    // A previous process of that node (delayed, or still running): it must not keep the new one alive.
    d.counters.staleHeartbeats++;
    d.log.warn(
      { from: hb.nodeId, incarnation: hb.incarnation, known: known?.incarnation ?? retired },
      'dropped a heartbeat from an older incarnation',
    );
    return;
  }
  d.heartbeat(hb);
}

export function onBusEvent(d: InboundDeps, m: BusMessage): void {
  // A leader hears each of its own events back: skip what was delivered before validating it
  // (whatever such a message says, it is never acted on twice).
  const id = peekId(m.data);
  if (id !== null && d.delivered(id)) return;
  const decoded = decodeDomainEvent(m.data);
  if (!decoded.ok) {
    dropMalformed(d, 'event', decoded.error);
    return;
  }
  const e = decoded.value;
  if (!m.subject.endsWith(`.${e.type}`)) {
    dropMalformed(d, 'event', `type ${e.type} on subject ${m.subject}`);
    return;
  }
  if (e.origin === d.nodeId) return; // our own, already delivered
  const highest = d.view()?.highestTerm ?? 0;
  // Anything from a lower term is ignored, except a deposed leader saying it stepped down.
  if (e.term < highest && e.type !== 'LeadershipLost') {
    d.counters.staleEvents++;
    d.log.warn(
      { type: e.type, id: e.id, term: e.term, highestTerm: highest },
      'dropped an event from a lower term',
    );
    return;
  }
  d.admission.admit(e);
}

/** The `id` field of a JSON object message, or null. */
function peekId(data: Uint8Array): string | null {
  const json = decodeJson(data);
  if (!json.ok || typeof json.value !== 'object' || json.value === null || !('id' in json.value)) return null;
  return typeof json.value.id === 'string' ? json.value.id : null;
}
