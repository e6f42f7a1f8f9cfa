/**
 * Observations across processes: a node with `inspection: { publish: true }` publishes its
 * inspection events, its views (throttled) and the domain events it decided on
 * `aether.<cluster>.inspect.<nodeId>`, one JSON {@link Observation} per message; a relay in another
 * process (`aether visualize`) subscribes to `aether.<cluster>.inspect.*` and validates every
 * message before use.
 *
 * Inspection events describe actors once, when they start. A relay that starts later publishes on
 * `aether.<cluster>.inspect-sync`; every publishing node answers by sending its live actors again
 * (registration with the latest snapshot) and its latest view.
 */
import { z } from 'zod';
import { parseDomainEvent } from '../domain/events.js';
import type { NodeId } from '../domain/values.js';
import type { ClusterView, InspectionEvent, Observation } from '../observe/observation.js';
import type { MessageBus } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import type { Unsubscribe } from '../ports/kv.js';
import { type Decoded, decodeJson, encode } from '../protocol/codec.js';

/** Subject a node publishes its observations on. */
export const inspectSubject = (cluster: string, nodeId: string): string =>
  `aether.${cluster}.inspect.${nodeId}`;
/** Subject matching every node's observations of a cluster. */
export const inspectWildcard = (cluster: string): string => `aether.${cluster}.inspect.*`;
/** Subject on which a relay asks publishing nodes to send their live actors again. */
export const inspectSyncSubject = (cluster: string): string => `aether.${cluster}.inspect-sync`;

/**
 * Largest observation accepted. A root actor's registration carries its machine definition and a
 * snapshot holding the whole cluster state, tens of KiB with 1024 shards; NATS' default payload
 * limit (1 MiB) bounds what can arrive anyway.
 */
export const MAX_OBSERVATION_BYTES = 1024 * 1024;

const nodeIdS = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
const num = z.number().finite();
const statusS = z.enum(['Joining', 'Active', 'Draining', 'Failed', 'Left']);
const eventS = z.looseObject({ type: z.string().min(1).max(200) });
const metaS = { createdAt: z.string().max(40), id: z.string().max(200), _version: z.string().max(20) };

/** Session ids must carry the sender's prefix, so one node cannot overwrite another's actors. */
const inspectionSchema = (nodeId: string) => {
  const own = z
    .string()
    .max(300)
    .refine((s) => s.startsWith(`${nodeId}:`), `must start with "${nodeId}:"`);
  return z.discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('@xstate.actor'),
      sessionId: own,
      parentId: own.optional(),
      rootId: own,
      name: z.string().max(200),
      definition: z.unknown().optional(),
      snapshot: z.unknown(),
      ...metaS,
    }),
    z.strictObject({
      type: z.literal('@xstate.event'),
      sessionId: own,
      sourceId: own.optional(),
      rootId: own,
      event: eventS,
      ...metaS,
    }),
    z.strictObject({
      type: z.literal('@xstate.snapshot'),
      sessionId: own,
      rootId: own,
      event: eventS,
      snapshot: z.unknown(),
      ...metaS,
    }),
    z.strictObject({
      type: z.literal('@xstate.microstep'),
      sessionId: own,
      rootId: own,
      event: eventS,
      transitions: z
        .array(
          z.strictObject({
            source: z.string().max(500),
            targets: z.array(z.string().max(500)).max(64),
            eventType: z.string().max(200),
          }),
        )
        .max(256),
      snapshot: z.unknown(),
      ...metaS,
    }),
    z.strictObject({
      type: z.literal('@xstate.stopped'),
      sessionId: own,
      rootId: own,
      ...metaS,
    }),
  ]);
};

const viewSchema = (nodeId: string) =>
  z.strictObject({
    nodeId: z.literal(nodeId),
    cluster: nodeIdS,
    status: statusS,
    incarnation: num,
    leader: z.strictObject({ nodeId: nodeIdS, term: num }).nullable(),
    isLeader: z.boolean(),
    nodes: z
      .array(
        z.looseObject({
          id: nodeIdS,
          status: statusS,
          incarnation: num,
          shards: z.number().int().nonnegative(),
        }),
      )
      .max(10_000),
    shardMap: z.looseObject({
      version: num,
      term: num,
      owners: z.array(nodeIdS.nullable()).max(65_536),
    }),
    handoffs: z.array(z.strictObject({ shardId: z.number().int(), from: nodeIdS, to: nodeIdS })).max(65_536),
    fenced: z.boolean(),
    at: num,
  });

/**
 * Validates one message from `aether.<cluster>.inspect.<nodeId>`: JSON, within
 * {@link MAX_OBSERVATION_BYTES}, an {@link Observation} whose node is the subject's last token,
 * whose session ids carry that node's prefix and whose views and domain events are well formed.
 */
export function decodeObservation(subject: string, data: Uint8Array): Decoded<Observation> {
  const nodeId = subject.slice(subject.lastIndexOf('.') + 1);
  if (!nodeIdS.safeParse(nodeId).success) return { ok: false, error: `bad node id in subject ${subject}` };
  const json = decodeJson(data, MAX_OBSERVATION_BYTES);
  if (!json.ok) return json;
  const o = json.value as { kind?: unknown; nodeId?: unknown; event?: unknown; view?: unknown };
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return { ok: false, error: 'not an object' };
  if (o.nodeId !== nodeId)
    return { ok: false, error: `nodeId ${JSON.stringify(o.nodeId)} on subject ${subject}` };
  const extra = Object.keys(o).filter((k) => !['kind', 'nodeId', 'event', 'view'].includes(k));
  if (extra.length > 0) return { ok: false, error: `unknown fields ${extra.join(', ')}` };
  switch (o.kind) {
    case 'inspection': {
      const r = inspectionSchema(nodeId).safeParse(o.event);
      if (!r.success) return { ok: false, error: z.prettifyError(r.error) };
      return { ok: true, value: { kind: 'inspection', nodeId, event: r.data as InspectionEvent } };
    }
    case 'view': {
      const r = viewSchema(nodeId).safeParse(o.view);
      if (!r.success) return { ok: false, error: z.prettifyError(r.error) };
      return { ok: true, value: { kind: 'view', nodeId, view: r.data as unknown as ClusterView } };
    }
    case 'domain': {
      const r = parseDomainEvent(o.event);
      if (!r.ok) return r;
      if (r.value.origin !== nodeId)
        return { ok: false, error: `event decided by ${r.value.origin} sent by ${nodeId}` };
      return { ok: true, value: { kind: 'domain', nodeId, event: r.value } };
    }
    default:
      return { ok: false, error: `unknown kind ${JSON.stringify(o.kind)}` };
  }
}

/** Observations larger than this are sent with their snapshot's context cut. */
export const MAX_PUBLISHED_BYTES = 256 * 1024;

function withoutContext(o: Extract<Observation, { kind: 'inspection' }>): Observation {
  const e = o.event;
  if (!('snapshot' in e) || e.snapshot === null || typeof e.snapshot !== 'object') return o;
  const snapshot = { ...(e.snapshot as Record<string, unknown>), context: '[…]' };
  const event = e.type === '@xstate.actor' ? e : { ...e, event: { type: e.event.type } };
  return { ...o, event: { ...event, snapshot } as InspectionEvent };
}

/** Options of {@link publishObservations}. */
export interface ObservationPublisherOptions {
  readonly bus: MessageBus;
  readonly cluster: string;
  readonly nodeId: NodeId;
  readonly clock: Clock;
  /** Views are sent at most this often (the latest one wins), ms. Default 250. */
  readonly viewIntervalMs?: number;
  /** Told about publish failures (a lost observation is only a stale picture). */
  readonly onError?: (err: unknown) => void;
}

/** What {@link publishObservations} returns: an observation listener and its teardown. */
export interface ObservationPublisher {
  /** Pass to `node.observe`. */
  readonly observe: (o: Observation) => void;
  /** Stops publishing and answering sync requests. */
  readonly close: () => void;
  /** Messages published so far. */
  published(): number;
}

/**
 * Publishes a node's observations on its inspect subject: inspection events as they come (the
 * inspection bridge rate-limits them), views at most every `viewIntervalMs`, and the domain events
 * this node decided (others' arrive on the events subject anyway). Answers sync requests.
 */
export async function publishObservations(opts: ObservationPublisherOptions): Promise<ObservationPublisher> {
  const { bus, clock, nodeId } = opts;
  const subject = inspectSubject(opts.cluster, nodeId);
  const viewMs = opts.viewIntervalMs ?? 250;
  /** Live actors as a late relay needs them: registration with the latest snapshot. */
  const live = new Map<string, Extract<InspectionEvent, { type: '@xstate.actor' }>>();
  let latestView: ClusterView | null = null;
  let lastViewAt = Number.NEGATIVE_INFINITY;
  let viewTimer: unknown = null;
  let closed = false;
  let count = 0;

  const send = (o: Observation): void => {
    if (closed) return;
    try {
      let data = encode(o);
      // A burst can make a context huge (1024 shard events queued at bootstrap); the state value
      // is what the chart needs, so the context is cut rather than the message lost.
      if (data.byteLength > MAX_PUBLISHED_BYTES && o.kind === 'inspection') data = encode(withoutContext(o));
      bus.publish(subject, data);
      count++;
    } catch (err) {
      opts.onError?.(err);
    }
  };
  const sendView = (): void => {
    viewTimer = null;
    if (latestView === null) return;
    lastViewAt = clock.now();
    send({ kind: 'view', nodeId, view: latestView });
  };
  const track = (e: InspectionEvent): void => {
    switch (e.type) {
      case '@xstate.actor':
        live.set(e.sessionId, e);
        return;
      case '@xstate.snapshot':
      case '@xstate.microstep': {
        const kept = live.get(e.sessionId);
        if (kept) live.set(e.sessionId, { ...kept, snapshot: e.snapshot });
        return;
      }
      case '@xstate.stopped':
        if (e.sessionId === e.rootId) live.clear();
        else live.delete(e.sessionId);
        return;
      default:
        return;
    }
  };

  const unsubscribe: Unsubscribe = await bus.subscribe(inspectSyncSubject(opts.cluster), () => {
    // Roots first, so a relay never sees a child before its parent.
    const actors = [...live.values()].sort(
      (a, b) => Number(a.sessionId !== a.rootId) - Number(b.sessionId !== b.rootId),
    );
    for (const actor of actors) send({ kind: 'inspection', nodeId, event: actor });
    if (latestView !== null) {
      if (viewTimer !== null) clock.clearTimeout(viewTimer);
      sendView();
    }
  });

  return {
    observe(o) {
      if (closed) return;
      switch (o.kind) {
        case 'inspection':
          track(o.event);
          send(o);
          return;
        case 'domain':
          if (o.event.origin === nodeId) send(o);
          return;
        case 'view': {
          latestView = o.view;
          if (viewTimer !== null) return;
          const wait = lastViewAt + viewMs - clock.now();
          if (wait <= 0) sendView();
          else viewTimer = clock.setTimeout(sendView, wait);
          return;
        }
        default:
          return;
      }
    },
    close() {
      if (closed) return;
      // The last view goes out, so the picture ends on the node's final state.
      if (viewTimer !== null) {
        clock.clearTimeout(viewTimer);
        sendView();
      }
      closed = true;
      live.clear();
      try {
        unsubscribe();
      } catch {
        // already gone with the connection
      }
    },
    published: () => count,
  };
}
