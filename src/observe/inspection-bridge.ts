/**
 * Turns XState v5's `inspect` callbacks into Stately's inspection wire format (see
 * {@link InspectionEvent}), JSON-safe and prefixed with the node id, ready to travel over a
 * WebSocket to the visualizer.
 */
import type { AnyActorRef, InspectionEvent as XStateInspectionEvent } from 'xstate';
import type { InspectionEvent } from '../observe/observation.js';
import { type Clock, systemClock } from '../ports/clock.js';

/** Version tag of the wire format, as `@statelyai/inspect` sends it. */
export const INSPECTION_WIRE_VERSION = '0.0.1';

/** Options of {@link createInspector}. */
export interface InspectorOptions {
  /**
   * Upper bound on events emitted per second. Beyond half of it `@xstate.event`s are dropped;
   * beyond all of it snapshots and microsteps are dropped too, and the latest snapshot of each
   * throttled actor is sent when the window closes so the picture converges. `@xstate.actor` and
   * `@xstate.stopped` always pass. Unlimited when absent or not positive.
   */
  readonly maxEventsPerSecond?: number;
  /** Clock for timestamps and the rate window; the system clock unless given. */
  readonly clock?: Clock;
  /** Depth at which snapshot contexts are cut (deeper values become `"[…]"`). Default 8. */
  readonly maxDepth?: number;
  /**
   * Also publish the node's observations (these inspection events, its views, the domain events it
   * decided) on `aether.<cluster>.inspect.<nodeId>`, for `aether visualize` in another process.
   * Set `maxEventsPerSecond` with it: every event becomes a message. Default false.
   */
  readonly publish?: boolean;
}

/** An `inspect` observer for `createActor(machine, { inspect })`, with counters for diagnostics. */
export interface Inspector {
  (ev: XStateInspectionEvent): void;
  /** Events emitted and dropped by the rate limit so far. */
  stats(): { emitted: number; dropped: number };
  /** Cancels a pending trailing flush (call when the node stops). */
  dispose(): void;
}

const TERMINAL = new Set(['stopped', 'done', 'error']);

/**
 * Creates an XState `inspect` observer that converts every `@xstate.actor`, `@xstate.event`,
 * `@xstate.snapshot` and `@xstate.microstep` into the wire format and hands it to `emit`; it also
 * emits `@xstate.stopped` once when an actor reaches `stopped`, `done` or `error`.
 */
export function createInspector(
  nodeId: string,
  emit: (e: InspectionEvent) => void,
  opts: InspectorOptions = {},
): Inspector {
  const clock = opts.clock ?? systemClock;
  const maxDepth = opts.maxDepth ?? 8;
  const limit =
    opts.maxEventsPerSecond !== undefined && opts.maxEventsPerSecond > 0 ? opts.maxEventsPerSecond : 0;
  const live = new Set<string>();
  let seq = 0;
  let emitted = 0;
  let dropped = 0;
  let windowStart = clock.now();
  let windowCount = 0;
  /** Latest snapshot event of each actor whose snapshot was dropped in this window. */
  const pending = new Map<string, InspectionEvent>();
  let flushTimer: unknown = null;

  const prefix = (sessionId: string): string => `${nodeId}:${sessionId}`;
  const meta = () => ({
    createdAt: String(clock.now()),
    id: `${nodeId}:${++seq}`,
    _version: INSPECTION_WIRE_VERSION,
  });

  const send = (e: InspectionEvent): void => {
    emitted++;
    windowCount++;
    try {
      emit(e);
    } catch {
      // A failing subscriber must not break the actor system it observes.
    }
  };

  const flushPending = (): void => {
    flushTimer = null;
    windowStart = clock.now();
    windowCount = 0;
    const events = [...pending.values()];
    pending.clear();
    for (const e of events) send(e);
  };

  /** Applies the rate limit: returns whether `e` may go now. */
  const admit = (e: InspectionEvent): boolean => {
    if (limit === 0 || e.type === '@xstate.actor' || e.type === '@xstate.stopped') return true;
    const now = clock.now();
    if (now - windowStart >= 1000 && flushTimer === null) {
      windowStart = now;
      windowCount = 0;
    }
    const budget = e.type === '@xstate.event' ? limit / 2 : limit;
    if (windowCount < budget) return true;
    dropped++;
    if (e.type === '@xstate.snapshot' || e.type === '@xstate.microstep') {
      const { sessionId, rootId, event, snapshot, createdAt, id, _version } = e;
      pending.set(sessionId, {
        type: '@xstate.snapshot',
        sessionId,
        rootId,
        event,
        snapshot,
        createdAt,
        id,
        _version,
      });
      if (flushTimer === null)
        flushTimer = clock.setTimeout(flushPending, Math.max(1, 1000 - (now - windowStart)));
    }
    return false;
  };

  const out = (e: InspectionEvent): void => {
    if (!admit(e)) return;
    if ('snapshot' in e) pending.delete(e.sessionId);
    send(e);
  };

  const stopped = (sessionId: string, rootId: string): void => {
    if (!live.delete(sessionId)) return;
    pending.delete(sessionId);
    out({ type: '@xstate.stopped', sessionId, rootId, ...meta() });
  };

  const inspector = ((ev: XStateInspectionEvent): void => {
    const actorRef = ev.actorRef as AnyActorRef;
    const sessionId = prefix(actorRef.sessionId);
    const rootId = prefix(ev.rootId);
    switch (ev.type) {
      case '@xstate.actor': {
        live.add(sessionId);
        const logic = (actorRef as { logic?: { id?: unknown; toJSON?: () => unknown } }).logic;
        const definition = typeof logic?.toJSON === 'function' ? safeJson(logic.toJSON(), 64) : undefined;
        const parent = (actorRef as { _parent?: AnyActorRef })._parent;
        let snapshot: unknown = null;
        try {
          // Not yet initialised at registration time for most actors; the first @xstate.snapshot fills it in.
          snapshot = jsonSnapshot(actorRef.getSnapshot(), maxDepth);
        } catch {
          snapshot = null;
        }
        out({
          type: '@xstate.actor',
          sessionId,
          parentId: parent ? prefix(parent.sessionId) : undefined,
          rootId,
          name: definition !== undefined && typeof logic?.id === 'string' ? logic.id : actorRef.id,
          definition,
          snapshot,
          ...meta(),
        });
        return;
      }
      case '@xstate.event':
        out({
          type: '@xstate.event',
          sessionId,
          sourceId: ev.sourceRef ? prefix(ev.sourceRef.sessionId) : undefined,
          rootId,
          event: jsonEvent(ev.event, maxDepth),
          ...meta(),
        });
        return;
      case '@xstate.snapshot': {
        out({
          type: '@xstate.snapshot',
          sessionId,
          rootId,
          event: jsonEvent(ev.event, maxDepth),
          snapshot: jsonSnapshot(ev.snapshot, maxDepth),
          ...meta(),
        });
        const status = (ev.snapshot as { status?: unknown }).status;
        if (typeof status === 'string' && TERMINAL.has(status)) stopped(sessionId, rootId);
        return;
      }
      case '@xstate.microstep': {
        // An empty microstep (a child being torn down) says nothing worth drawing.
        if (ev._transitions.length === 0) return;
        out({
          type: '@xstate.microstep',
          sessionId,
          rootId,
          event: jsonEvent(ev.event, maxDepth),
          transitions: ev._transitions.map((t) => ({
            source: t.source.id,
            targets: t.target?.map((s) => s.id) ?? [],
            eventType: t.eventType,
          })),
          snapshot: jsonSnapshot(ev.snapshot, maxDepth),
          ...meta(),
        });
        return;
      }
      default:
        // @xstate.action and @xstate.transition are not part of the wire format we keep.
        return;
    }
  }) as Inspector;

  inspector.stats = () => ({ emitted, dropped });
  inspector.dispose = () => {
    if (flushTimer !== null) clock.clearTimeout(flushTimer);
    flushTimer = null;
    pending.clear();
  };
  return inspector;
}

/** The parts of a snapshot worth showing, JSON-safe; children travel as their own actors. */
function jsonSnapshot(snapshot: unknown, maxDepth: number): unknown {
  if (snapshot === null || typeof snapshot !== 'object') return null;
  const s = snapshot as Record<string, unknown>;
  const out: Record<string, unknown> = { status: s.status };
  if ('value' in s) out.value = safeJson(s.value, maxDepth);
  if ('context' in s) out.context = safeJson(s.context, maxDepth);
  if (s.output !== undefined) out.output = safeJson(s.output, maxDepth);
  if (s.error !== undefined) out.error = safeJson(s.error, maxDepth);
  if (s.children && typeof s.children === 'object') {
    out.children = Object.fromEntries(
      Object.entries(s.children as Record<string, unknown>).flatMap(([k, v]) =>
        isActorRef(v) ? [[k, { sessionId: v.sessionId, id: v.id }]] : [],
      ),
    );
  }
  return out;
}

function jsonEvent(event: unknown, maxDepth: number): { type: string; [k: string]: unknown } {
  const copy = safeJson(event, maxDepth);
  if (copy && typeof copy === 'object' && !Array.isArray(copy)) {
    const o = copy as Record<string, unknown>;
    return { ...o, type: typeof o.type === 'string' ? o.type : 'unknown' };
  }
  return { type: 'unknown' };
}

function isActorRef(v: unknown): v is { sessionId: string; id: string } {
  return (
    v !== null &&
    typeof v === 'object' &&
    typeof (v as { sessionId?: unknown }).sessionId === 'string' &&
    typeof (v as { send?: unknown }).send === 'function'
  );
}

/**
 * A structural, JSON-safe copy that honours `toJSON` like `JSON.stringify`: functions dropped, actor refs replaced by `{ actorRef: id }`,
 * cycles and depth beyond `maxDepth` cut, Maps/Sets turned into objects/arrays.
 * @internal
 */
export function safeJson(
  value: unknown,
  maxDepth: number,
  seen: WeakSet<object> = new WeakSet(),
  viaToJSON = false,
): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'bigint':
      return value.toString();
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  if (value === null) return null;
  const obj = value as object;
  if (isActorRef(obj)) return { actorRef: obj.id, sessionId: obj.sessionId };
  if (maxDepth <= 0) return '[…]';
  if (!viaToJSON && typeof (obj as { toJSON?: unknown }).toJSON === 'function') {
    // As JSON.stringify does: XState's state nodes and transitions describe themselves this way.
    let replaced: unknown;
    try {
      replaced = (obj as { toJSON: () => unknown }).toJSON();
    } catch {
      return undefined;
    }
    // Like JSON.stringify, the result's own toJSON is not applied again.
    if (replaced !== obj) return safeJson(replaced, maxDepth, seen, true);
  }
  if (seen.has(obj)) return '[Circular]';
  seen.add(obj);
  try {
    if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? null : obj.toISOString();
    if (obj instanceof Error) return { name: obj.name, message: obj.message };
    if (Array.isArray(obj)) return obj.map((v) => safeJson(v, maxDepth - 1, seen) ?? null);
    if (obj instanceof Map) {
      const o: Record<string, unknown> = {};
      for (const [k, v] of obj) o[String(k)] = safeJson(v, maxDepth - 1, seen);
      return o;
    }
    if (obj instanceof Set) return [...obj].map((v) => safeJson(v, maxDepth - 1, seen) ?? null);
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) {
      const c = safeJson(v, maxDepth - 1, seen);
      if (c !== undefined) o[k] = c;
    }
    return o;
  } finally {
    // Shared (non-cyclic) references may appear twice; only ancestors count as cycles.
    seen.delete(obj);
  }
}
