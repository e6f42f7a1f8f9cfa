/**
 * The visualizer relay: serves the page under `visualizer/`, keeps the last known picture of the
 * cluster (live actors, each node's latest view, recent domain events) and streams observations to
 * browsers over a WebSocket at `/ws`, batched so that bursts (1024 `ShardAssigned` at bootstrap)
 * reach the page as a few frames rather than thousands.
 *
 * Wire protocol (JSON text frames), server → browser:
 * - `{ type: 'hello', actors, views, events, controls }` once per connection ({@link RelayHello});
 * - `{ type: 'batch', observations }` every {@link RelayOptions.flushIntervalMs} while there is news;
 * - `{ type: 'control-result', requestId, action, nodeId, ok, message }` answering a control request.
 * Browser → server: `{ type: 'control', action, nodeId?, requestId? }` ({@link ControlRequest}).
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type WebSocket, WebSocketServer } from 'ws';
import { InvalidConfigError } from '../domain/errors.js';
import type { DomainEvent } from '../domain/events.js';
import { isNodeId } from '../domain/values.js';
import type { ClusterView, InspectionEvent, Observation } from '../observe/observation.js';

/** What a browser may ask the cluster to do to one of its nodes (or, for `add`, to the cluster). */
export type ControlAction = 'crash' | 'pause' | 'resume' | 'drain' | 'add' | 'stop';
export const CONTROL_ACTIONS: readonly ControlAction[] = ['crash', 'pause', 'resume', 'drain', 'add', 'stop'];

/** A control request from a browser; `nodeId` is required for every action but `add`. */
export interface ControlRequest {
  readonly action: ControlAction;
  readonly nodeId?: string | undefined;
}

/** The answer to a {@link ControlRequest}, shown to the user as is. */
export interface ControlResult {
  readonly ok: boolean;
  readonly message: string;
}

/** The subset of a pino logger the relay uses. */
export interface RelayLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface RelayOptions {
  /** TCP port; 0 (the default) picks a free one. */
  readonly port?: number;
  /** Interface to bind; loopback by default, since the controls can crash nodes. */
  readonly host?: string;
  /** Carries out control requests; without it the page shows no controls and requests are refused. */
  readonly onControl?: (c: ControlRequest) => Promise<ControlResult> | ControlResult;
  readonly logger?: RelayLogger;
  /** How often queued observations are flushed to browsers, ms. 50 by default: smooth yet cheap. */
  readonly flushIntervalMs?: number;
  /** Domain events kept for new browsers; shard-level events may use at most half. 500 by default. */
  readonly maxEvents?: number;
  /** Directory of the page; `visualizer/` at the package root by default. */
  readonly staticDir?: string;
  /**
   * A browser whose unsent data exceeds this many bytes is disconnected; it reconnects and gets the
   * full state again, which is cheaper than queueing without bound. 8 MiB by default.
   */
  readonly maxBufferedBytes?: number;
}

/** A live actor as the relay keeps it: its `@xstate.actor` event with the latest snapshot. */
export interface KeptActor {
  readonly nodeId: string;
  /** The registration event; its `snapshot` is replaced by the latest one seen. */
  readonly actor: Extract<InspectionEvent, { type: '@xstate.actor' }>;
  /** Transitions of the last microstep, if any. */
  readonly lastTransitions: Extract<InspectionEvent, { type: '@xstate.microstep' }>['transitions'] | null;
  /** Type of the event that caused the last microstep. */
  readonly lastEventType: string | null;
}

/** A domain event as kept and replayed, with the node that reported it. */
export interface KeptEvent {
  readonly nodeId: string;
  readonly event: DomainEvent;
}

/** The picture of the cluster a new browser starts from (also `GET /state.json`). */
export interface RelayState {
  readonly actors: readonly KeptActor[];
  readonly views: readonly ClusterView[];
  /** Oldest first. */
  readonly events: readonly KeptEvent[];
  readonly controls: boolean;
}

export interface RelayHello extends RelayState {
  readonly type: 'hello';
}

export interface RelayStats {
  readonly clients: number;
  readonly actors: number;
  readonly views: number;
  readonly events: number;
  /** Observations published since start. */
  readonly published: number;
  /** Batches sent (each to every connected browser). */
  readonly batches: number;
  /** Browsers disconnected for falling behind. */
  readonly slowClientsDropped: number;
}

export interface Relay {
  /** `http://host:port/` of the page. */
  readonly url: string;
  readonly port: number;
  /** Records an observation and queues it for connected browsers. Never throws. */
  publish(o: Observation): void;
  /** The kept state, as a new browser would receive it. */
  state(): RelayState;
  stats(): RelayStats;
  close(): Promise<void>;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
};

const SHARD_LEVEL = new Set(['ShardAssigned', 'ShardMigrated']);

/** Starts the relay; resolves once it listens. */
export async function startRelay(opts: RelayOptions = {}): Promise<Relay> {
  const host = opts.host ?? '127.0.0.1';
  const flushMs = opts.flushIntervalMs ?? 50;
  const maxEvents = opts.maxEvents ?? 500;
  const maxBuffered = opts.maxBufferedBytes ?? 8 * 1024 * 1024;
  const staticDir = path.resolve(opts.staticDir ?? findPageDir());
  const elkPath = createRequire(import.meta.url).resolve('elkjs/lib/elk.bundled.js');
  const controls = opts.onControl !== undefined;
  const log = opts.logger;

  const store = new RelayStore(maxEvents);
  let queue: Observation[] = [];
  let published = 0;
  let batches = 0;
  let slowClientsDropped = 0;
  const clients = new Set<WebSocket>();

  const server = createServer((req, res) => {
    void serveHttp(req, res).catch((err: unknown) => {
      log?.warn({ err }, 'visualizer relay: request failed');
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });

  async function serveHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const rawPath = (req.url ?? '/').split('?')[0] ?? '/';
    if (rawPath === '/state.json') {
      const body = JSON.stringify(store.state(controls));
      res.writeHead(200, { 'content-type': MIME['.json']!, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    let file: string | null;
    if (rawPath === '/vendor/elk.bundled.js') file = elkPath;
    else file = resolveStatic(staticDir, rawPath);
    if (file === null) {
      notFound(res);
      return;
    }
    const info = await stat(file).catch(() => null);
    if (!info?.isFile()) {
      notFound(res);
      return;
    }
    const body = await readFile(file);
    res.writeHead(200, {
      'content-type': MIME[path.extname(file)] ?? 'application/octet-stream',
      'content-length': body.length,
      // The page is small and changes with the package; never serve a stale copy.
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  server.on('upgrade', (req, socket, head) => {
    const pathname = (req.url ?? '').split('?')[0];
    if (pathname !== '/ws' || !sameOrigin(req)) {
      socket.write('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  wss.on('connection', (ws: WebSocket) => {
    clients.add(ws);
    const hello: RelayHello = { type: 'hello', ...store.state(controls) };
    ws.send(JSON.stringify(hello));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      void handleMessage(ws, data.toString());
    });
    ws.on('close', () => clients.delete(ws));
    ws.on('error', () => clients.delete(ws));
  });

  async function handleMessage(ws: WebSocket, text: string): Promise<void> {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (!msg || typeof msg !== 'object' || (msg as { type?: unknown }).type !== 'control') return;
    const m = msg as { action?: unknown; nodeId?: unknown; requestId?: unknown };
    const requestId = typeof m.requestId === 'string' || typeof m.requestId === 'number' ? m.requestId : null;
    const reply = (r: ControlResult): void => {
      if (ws.readyState !== ws.OPEN) return;
      ws.send(
        JSON.stringify({
          type: 'control-result',
          requestId,
          action: typeof m.action === 'string' ? m.action : null,
          nodeId: typeof m.nodeId === 'string' ? m.nodeId : null,
          ok: r.ok,
          message: r.message,
        }),
      );
    };
    if (!opts.onControl) return reply({ ok: false, message: 'controls are disabled on this relay' });
    if (typeof m.action !== 'string' || !CONTROL_ACTIONS.includes(m.action as ControlAction)) {
      return reply({ ok: false, message: `unknown control action ${JSON.stringify(m.action)}` });
    }
    const action = m.action as ControlAction;
    if (action !== 'add' && !isNodeId(m.nodeId)) {
      return reply({ ok: false, message: `${action} needs a valid nodeId` });
    }
    const nodeId = isNodeId(m.nodeId) ? m.nodeId : undefined;
    try {
      const r = await opts.onControl({ action, nodeId });
      log?.info({ action, nodeId, ok: r.ok }, 'visualizer control');
      reply({ ok: Boolean(r.ok), message: String(r.message ?? '') });
    } catch (err) {
      reply({ ok: false, message: err instanceof Error ? err.message : String(err) });
    }
  }

  const flush = (): void => {
    if (queue.length === 0) return;
    const observations = queue;
    queue = [];
    if (clients.size === 0) return;
    let frame: string;
    try {
      frame = JSON.stringify({ type: 'batch', observations });
    } catch (err) {
      log?.warn({ err }, 'visualizer relay: observation batch is not serializable; dropped');
      return;
    }
    batches++;
    for (const ws of clients) {
      if (ws.readyState !== ws.OPEN) continue;
      if (ws.bufferedAmount > maxBuffered) {
        // It reconnects and starts again from the kept state.
        slowClientsDropped++;
        clients.delete(ws);
        ws.terminate();
        continue;
      }
      ws.send(frame);
    }
  };
  const timer = setInterval(flush, flushMs);
  timer.unref();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
  log?.info({ url }, 'visualizer listening');

  let closed = false;
  return {
    url,
    port,
    publish(o) {
      if (closed) return;
      published++;
      try {
        if (store.apply(o)) queue.push(o);
      } catch (err) {
        log?.warn({ err }, 'visualizer relay: observation ignored');
      }
    },
    state: () => store.state(controls),
    stats: () => ({
      clients: clients.size,
      actors: store.actors.size,
      views: store.views.size,
      events: store.eventCount(),
      published,
      batches,
      slowClientsDropped,
    }),
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      flush();
      for (const ws of clients) ws.close(1001, 'relay closing');
      clients.clear();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The relay's memory of the cluster, updated by every observation.
 * @internal exported for tests.
 */
export class RelayStore {
  readonly actors = new Map<string, KeptActor>();
  readonly views = new Map<string, ClusterView>();
  private seq = 0;
  private readonly topology: { seq: number; e: KeptEvent }[] = [];
  private readonly shardLevel: { seq: number; e: KeptEvent }[] = [];
  /** Ids of recent domain events: several nodes report the same event. */
  private readonly seenIds = new Set<string>();
  private readonly seenOrder: string[] = [];

  constructor(private readonly maxEvents: number) {}

  /** Applies an observation; returns false when it is a duplicate not worth forwarding. */
  apply(o: Observation): boolean {
    switch (o.kind) {
      case 'view':
        this.views.set(o.view.nodeId ?? o.nodeId, o.view);
        return true;
      case 'domain':
        return this.addEvent(o.nodeId, o.event);
      case 'inspection':
        this.inspect(o.nodeId, o.event);
        return true;
      default:
        return false;
    }
  }

  private addEvent(nodeId: string, event: DomainEvent): boolean {
    if (typeof event.id === 'string') {
      if (this.seenIds.has(event.id)) return false;
      this.seenIds.add(event.id);
      this.seenOrder.push(event.id);
      if (this.seenOrder.length > 4 * this.maxEvents + 2048) {
        for (const id of this.seenOrder.splice(0, this.seenOrder.length - 2 * this.maxEvents - 1024)) {
          this.seenIds.delete(id);
        }
      }
    }
    const shard = SHARD_LEVEL.has(event.type);
    const ring = shard ? this.shardLevel : this.topology;
    ring.push({ seq: this.seq++, e: { nodeId, event } });
    const cap = shard ? Math.floor(this.maxEvents / 2) : this.maxEvents;
    if (ring.length > cap) ring.splice(0, ring.length - cap);
    // Together at most maxEvents: the topology ring yields to nothing, shard-level events fill the rest.
    const overflow = this.topology.length + this.shardLevel.length - this.maxEvents;
    if (overflow > 0) {
      if (this.shardLevel.length >= overflow) this.shardLevel.splice(0, overflow);
      else this.topology.splice(0, overflow - this.shardLevel.splice(0).length);
    }
    return true;
  }

  private inspect(nodeId: string, e: InspectionEvent): void {
    switch (e.type) {
      case '@xstate.actor': {
        if (e.sessionId === e.rootId && this.actors.has(e.sessionId)) {
          // The same root again: a restarted node. Its previous incarnation's actors are gone.
          this.dropRoot(e.rootId);
        }
        this.actors.set(e.sessionId, { nodeId, actor: e, lastTransitions: null, lastEventType: null });
        return;
      }
      case '@xstate.snapshot': {
        const kept = this.actors.get(e.sessionId);
        if (kept) this.actors.set(e.sessionId, { ...kept, actor: { ...kept.actor, snapshot: e.snapshot } });
        return;
      }
      case '@xstate.microstep': {
        const kept = this.actors.get(e.sessionId);
        if (kept) {
          this.actors.set(e.sessionId, {
            ...kept,
            actor: { ...kept.actor, snapshot: e.snapshot },
            lastTransitions: e.transitions,
            lastEventType: e.event.type,
          });
        }
        return;
      }
      case '@xstate.stopped':
        if (e.sessionId === e.rootId) this.dropRoot(e.rootId);
        else this.actors.delete(e.sessionId);
        return;
      default:
        return;
    }
  }

  private dropRoot(rootId: string): void {
    for (const [id, a] of this.actors) if (a.actor.rootId === rootId) this.actors.delete(id);
  }

  eventCount(): number {
    return this.topology.length + this.shardLevel.length;
  }

  state(controls: boolean): RelayState {
    const events = [...this.topology, ...this.shardLevel].sort((a, b) => a.seq - b.seq).map((x) => x.e);
    return { actors: [...this.actors.values()], views: [...this.views.values()], events, controls };
  }
}

/** Maps a request path to a file under `root`, or null when it is not a plain path inside it. */
function resolveStatic(root: string, rawPath: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  const segments = decoded.split('/');
  if (segments.some((s) => s === '..' || s === '.' || s.startsWith('.'))) return null;
  const rel = decoded === '/' || decoded === '' ? 'index.html' : decoded.replace(/^\/+/, '');
  const file = path.resolve(root, rel);
  if (file !== root && !file.startsWith(root + path.sep)) return null;
  return file;
}

function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found');
}

/** Browsers always send Origin on WebSocket upgrades; refuse pages from elsewhere driving the controls. */
function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

/** `visualizer/` at the package root, found upward from this module (works from `src/` and `dist/src/`). */
function findPageDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'visualizer', 'index.html');
    if (existsSync(candidate) && existsSync(path.join(dir, 'package.json'))) {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (pkg.name === 'aether-cluster') return path.join(dir, 'visualizer');
    }
    dir = path.dirname(dir);
  }
  throw new InvalidConfigError(
    'staticDir',
    'visualizer page not found: no visualizer/index.html above the relay module; pass staticDir',
  );
}
