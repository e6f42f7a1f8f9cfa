/**
 * Feeds a relay from the message bus instead of in-process nodes: the nodes' observation stream
 * (`aether.<cluster>.inspect.*`, see `wire.ts`) and the cluster's domain events
 * (`aether.<cluster>.events.>`). Everything is validated first; what is malformed is dropped and
 * counted, never shown.
 */
import { DOMAIN_EVENT_TYPES } from '../domain/events.js';
import { INSPECTION_WIRE_VERSION } from '../observe/inspection-bridge.js';
import type { Observation } from '../observe/observation.js';
import { decodeObservation, inspectSyncSubject, inspectWildcard } from '../observe/wire.js';
import type { MessageBus } from '../ports/bus.js';
import { type Clock, systemClock } from '../ports/clock.js';
import type { Unsubscribe } from '../ports/kv.js';
import { decodeDomainEvent, encode } from '../protocol/codec.js';
import type { Relay, RelayLogger } from './relay.js';

export interface BusFeedOptions {
  readonly bus: MessageBus;
  readonly cluster: string;
  /** Where observations go; only `publish` is used. */
  readonly relay: Pick<Relay, 'publish'>;
  readonly clock?: Clock;
  readonly logger?: RelayLogger;
  /**
   * Least time between two sync requests, ms. A request goes out at start and whenever an actor
   * unknown here reports (its registration was missed). Default 5000.
   */
  readonly resyncIntervalMs?: number;
}

export interface BusFeedStats {
  /** Valid observations passed to the relay (domain events included). */
  readonly received: number;
  /** Messages dropped as malformed, by source. */
  readonly malformed: { readonly inspect: number; readonly events: number };
  /** Sync requests sent. */
  readonly syncRequests: number;
}

export interface BusFeed {
  stats(): BusFeedStats;
  close(): void;
}

const EVENT_TYPES = new Set<string>(DOMAIN_EVENT_TYPES);
/** Malformed messages logged one by one before the log falls back to one line per hundred. */
const LOGGED_IN_FULL = 20;

/** Subscribes and starts feeding; resolves once both subscriptions are in place and a sync was requested. */
export async function feedRelayFromBus(opts: BusFeedOptions): Promise<BusFeed> {
  const { bus, cluster, relay, logger } = opts;
  const clock = opts.clock ?? systemClock;
  const resyncMs = opts.resyncIntervalMs ?? 5000;
  let received = 0;
  let syncRequests = 0;
  const malformed = { inspect: 0, events: 0 };
  let lastSync = Number.NEGATIVE_INFINITY;
  /** sessionId -> rootId of every actor known to be live, per node. */
  const sessions = new Map<string, { nodeId: string; rootId: string }>();
  /** Incarnation and status each node last reported in its view. */
  const reported = new Map<string, { incarnation: number; status: string }>();
  let synthetic = 0;

  const requestSync = (): void => {
    const now = clock.now();
    if (now - lastSync < resyncMs) return;
    lastSync = now;
    syncRequests++;
    try {
      bus.publish(inspectSyncSubject(cluster), encode({ at: now }));
    } catch (err) {
      logger?.warn({ err }, 'visualizer: sync request failed');
    }
  };

  const dropped = (source: 'inspect' | 'events', subject: string, error: string): void => {
    malformed[source]++;
    const n = malformed.inspect + malformed.events;
    if (n <= LOGGED_IN_FULL || n % 100 === 0) {
      logger?.warn(
        { subject, error: error.slice(0, 300), malformed: n },
        'visualizer: dropped a malformed message',
      );
    }
  };

  const forward = (o: Observation): void => {
    received++;
    relay.publish(o);
  };

  /** A node gone for good (failed or left) sends no goodbye: forget its actors here and in the relay. */
  const forgetNode = (nodeId: string): void => {
    for (const [sessionId, s] of sessions) {
      if (s.nodeId !== nodeId || s.rootId !== sessionId) continue;
      forward({
        kind: 'inspection',
        nodeId,
        event: {
          type: '@xstate.stopped',
          sessionId,
          rootId: sessionId,
          createdAt: String(clock.now()),
          id: `${nodeId}:gone-${++synthetic}`,
          _version: INSPECTION_WIRE_VERSION,
        },
      });
    }
    for (const [sessionId, s] of sessions) if (s.nodeId === nodeId) sessions.delete(sessionId);
  };

  const onInspect = (subject: string, data: Uint8Array): void => {
    const d = decodeObservation(subject, data);
    if (!d.ok) {
      dropped('inspect', subject, d.error);
      return;
    }
    const o = d.value;
    if (o.kind === 'view') reported.set(o.nodeId, { incarnation: o.view.incarnation, status: o.view.status });
    if (o.kind === 'inspection') {
      const e = o.event;
      if (e.type === '@xstate.actor') {
        if (e.sessionId === e.rootId) {
          for (const [sid, s] of sessions) if (s.rootId === e.rootId) sessions.delete(sid);
        } else if (!sessions.has(e.rootId)) {
          requestSync();
        }
        sessions.set(e.sessionId, { nodeId: o.nodeId, rootId: e.rootId });
      } else if (e.type === '@xstate.stopped') {
        if (e.sessionId === e.rootId) {
          for (const [sid, s] of sessions) if (s.rootId === e.rootId) sessions.delete(sid);
        } else sessions.delete(e.sessionId);
      } else if (!sessions.has(e.sessionId)) {
        requestSync();
      }
    }
    forward(o);
  };

  const onEvent = (subject: string, data: Uint8Array): void => {
    const d = decodeDomainEvent(data);
    if (!d.ok) {
      dropped('events', subject, d.error);
      return;
    }
    const e = d.value;
    if (!EVENT_TYPES.has(e.type) || !subject.endsWith(`.${e.type}`)) {
      dropped('events', subject, `type ${e.type} on subject ${subject}`);
      return;
    }
    forward({ kind: 'domain', nodeId: e.origin, event: e });
    // Only the incarnation that failed or left: a node restarted since keeps its new actors.
    const last = reported.get(e.type === 'NodeFailed' || e.type === 'NodeLeft' ? e.nodeId : '');
    if (e.type === 'NodeFailed' && (last === undefined || last.incarnation <= e.incarnation)) {
      forgetNode(e.nodeId);
    } else if (
      e.type === 'NodeLeft' &&
      (last === undefined || last.status === 'Draining' || last.status === 'Left')
    ) {
      forgetNode(e.nodeId);
    }
  };

  const unsubs: Unsubscribe[] = [];
  try {
    unsubs.push(await bus.subscribe(inspectWildcard(cluster), (m) => onInspect(m.subject, m.data)));
    unsubs.push(await bus.subscribe(`aether.${cluster}.events.>`, (m) => onEvent(m.subject, m.data)));
  } catch (err) {
    for (const u of unsubs) u();
    throw err;
  }
  requestSync();

  return {
    stats: () => ({ received, malformed: { ...malformed }, syncRequests }),
    close() {
      for (const u of unsubs.splice(0)) {
        try {
          u();
        } catch {
          // the connection is already gone
        }
      }
    },
  };
}
