/**
 * What `aether node` logs at info for a domain event: one line per membership or leadership
 * transition, with the fields an operator needs; nothing for renewals and shard moves, which come
 * by the hundred.
 */
import type { DomainEvent } from '../domain/events.js';

/** A log line: pino's merge object and message. */
export interface TransitionLogLine {
  readonly fields: Readonly<Record<string, unknown>>;
  readonly msg: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The info line for `e`, or null when `e` is not a membership or leadership transition. */
export function transitionLogLine(e: DomainEvent): TransitionLogLine | null {
  const base = { event: e.type, term: e.term, version: e.version };
  switch (e.type) {
    case 'NodeJoined':
      return {
        fields: { ...base, nodeId: e.nodeId, incarnation: e.incarnation, weight: e.weight },
        msg: `node ${e.nodeId} joined`,
      };
    case 'NodeDraining':
      return { fields: { ...base, nodeId: e.nodeId }, msg: `node ${e.nodeId} draining` };
    case 'NodeFailed':
      return {
        fields: {
          ...base,
          nodeId: e.nodeId,
          incarnation: e.incarnation,
          lastSeen: iso(e.lastSeen),
          orphaned: e.orphaned.length,
        },
        msg: `node ${e.nodeId} failed`,
      };
    case 'NodeLeft':
      return {
        fields: { ...base, nodeId: e.nodeId, reason: e.reason, orphaned: e.orphaned.length },
        msg: `node ${e.nodeId} left`,
      };
    case 'NodeRemoved':
      return {
        fields: { ...base, nodeId: e.nodeId, incarnation: e.incarnation, status: e.status },
        msg: `node ${e.nodeId} removed`,
      };
    case 'LeaderElected':
      return {
        fields: {
          ...base,
          nodeId: e.nodeId,
          previous: e.previous ? `${e.previous.nodeId} term ${e.previous.term}` : null,
        },
        msg: `${e.nodeId} elected leader in term ${e.term}`,
      };
    case 'LeadershipLost':
      return {
        fields: { ...base, nodeId: e.nodeId, reason: e.reason },
        msg: `${e.nodeId} lost leadership of term ${e.term}`,
      };
    default:
      return null;
  }
}
