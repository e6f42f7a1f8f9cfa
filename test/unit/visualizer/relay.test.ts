import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { DomainEvent } from '../../../src/domain/events.js';
import type { ClusterView, InspectionEvent, Observation } from '../../../src/observe/observation.js';
import {
  type ControlRequest,
  type Relay,
  type RelayHello,
  startRelay,
} from '../../../src/visualizer/relay.js';

const relays: Relay[] = [];
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  for (const r of relays.splice(0)) await r.close();
});

async function relay(opts: Parameters<typeof startRelay>[0] = {}): Promise<Relay> {
  const r = await startRelay({ port: 0, flushIntervalMs: 10, ...opts });
  relays.push(r);
  return r;
}

/** A WebSocket client that collects messages and waits for one matching a predicate. */
function client(r: Relay, origin?: string) {
  const ws = new WebSocket(`${r.url.replace('http', 'ws')}ws`, origin ? { origin } : {});
  sockets.push(ws);
  const messages: { type: string; [k: string]: unknown }[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (d) => {
    messages.push(JSON.parse(String(d)));
    for (const w of waiters.splice(0)) w();
  });
  const next = <T = { type: string; [k: string]: unknown }>(
    pred: (m: { type: string; [k: string]: unknown }) => boolean,
    ms = 3000,
  ): Promise<T> =>
    new Promise((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`no matching message within ${ms} ms`)), ms);
      const check = () => {
        const found = messages.find(pred);
        if (found) {
          clearTimeout(deadline);
          resolve(found as T);
        } else waiters.push(check);
      };
      check();
    });
  return { ws, messages, next, hello: () => next<RelayHello>((m) => m.type === 'hello') };
}

function get(r: Relay, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: r.port, path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          type: String(res.headers['content-type'] ?? ''),
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

const meta = (id: string) => ({ createdAt: '0', id, _version: '0.0.1' });
const actorEv = (node: string, sid: string, root: string, name = 'm'): InspectionEvent => ({
  type: '@xstate.actor',
  sessionId: `${node}:${sid}`,
  rootId: `${node}:${root}`,
  name,
  definition: { id: name, states: {} },
  snapshot: null,
  ...meta(`${node}-${sid}-a`),
});
const snapshotEv = (node: string, sid: string, root: string, value: unknown): InspectionEvent => ({
  type: '@xstate.snapshot',
  sessionId: `${node}:${sid}`,
  rootId: `${node}:${root}`,
  event: { type: 'X' },
  snapshot: { status: 'active', value },
  ...meta(`${node}-${sid}-s`),
});
const stoppedEv = (node: string, sid: string, root: string): InspectionEvent => ({
  type: '@xstate.stopped',
  sessionId: `${node}:${sid}`,
  rootId: `${node}:${root}`,
  ...meta(`${node}-${sid}-x`),
});
const insp = (nodeId: string, event: InspectionEvent): Observation => ({ kind: 'inspection', nodeId, event });
const leaderElected = (id: string, nodeId: string, term: number): DomainEvent => ({
  type: 'LeaderElected',
  id,
  origin: nodeId,
  term,
  version: 1,
  at: 1000,
  nodeId,
  previous: null,
});
const view = (nodeId: string, version: number): ClusterView => ({
  nodeId,
  cluster: 'c',
  status: 'Active',
  incarnation: 1,
  leader: { nodeId: 'n1', term: 3 },
  isLeader: nodeId === 'n1',
  nodes: [],
  shardMap: { version, term: 3, owners: ['n1', null] },
  handoffs: [],
  fenced: false,
  at: 5,
});

describe('visualizer relay', () => {
  it('replays the kept state to a new browser: live actors with their latest snapshot, views, events', async () => {
    const r = await relay();
    r.publish(insp('n1', actorEv('n1', 'x:0', 'x:0', 'leadership')));
    r.publish(insp('n1', snapshotEv('n1', 'x:0', 'x:0', 'follower')));
    r.publish(insp('n1', snapshotEv('n1', 'x:0', 'x:0', 'leader')));
    r.publish({ kind: 'view', nodeId: 'n1', view: view('n1', 1) });
    r.publish({ kind: 'view', nodeId: 'n1', view: view('n1', 2) });
    r.publish({ kind: 'domain', nodeId: 'n1', event: leaderElected('e1', 'n1', 3) });
    const hello = await client(r).hello();
    expect(hello.controls).toBe(false);
    expect(hello.actors).toHaveLength(1);
    expect(hello.actors[0]?.actor.name).toBe('leadership');
    expect(hello.actors[0]?.actor.snapshot).toEqual({ status: 'active', value: 'leader' });
    expect(hello.views.map((v) => v.shardMap.version)).toEqual([2]);
    expect(hello.events.map((e) => e.event.id)).toEqual(['e1']);
  });

  it('streams observations published after connecting, in batches, and forwards a domain event reported twice only once', async () => {
    const r = await relay();
    const c = client(r);
    await c.hello();
    r.publish({ kind: 'domain', nodeId: 'n1', event: leaderElected('e1', 'n1', 3) });
    r.publish({ kind: 'domain', nodeId: 'n2', event: leaderElected('e1', 'n1', 3) });
    r.publish({ kind: 'view', nodeId: 'n2', view: view('n2', 4) });
    const batch = await c.next<{ observations: Observation[] }>((m) => m.type === 'batch');
    expect(batch.observations.map((o) => o.kind)).toEqual(['domain', 'view']);
    expect(r.stats().events).toBe(1);
  });

  it('forgets stopped actors, all of a node when its root stops, and the old incarnation when a root registers again', async () => {
    const r = await relay();
    r.publish(insp('n1', actorEv('n1', 'x:0', 'x:0')));
    r.publish(insp('n1', actorEv('n1', 'x:1', 'x:0')));
    r.publish(insp('n1', actorEv('n1', 'x:2', 'x:0')));
    r.publish(insp('n2', actorEv('n2', 'x:0', 'x:0')));
    r.publish(insp('n1', stoppedEv('n1', 'x:1', 'x:0')));
    expect(r.state().actors.map((a) => a.actor.sessionId)).toEqual(['n1:x:0', 'n1:x:2', 'n2:x:0']);
    r.publish(insp('n1', stoppedEv('n1', 'x:0', 'x:0')));
    expect(r.state().actors.map((a) => a.actor.sessionId)).toEqual(['n2:x:0']);

    r.publish(insp('n2', actorEv('n2', 'x:5', 'x:0')));
    r.publish(insp('n2', actorEv('n2', 'x:0', 'x:0', 'restarted')));
    expect(r.state().actors.map((a) => [a.actor.sessionId, a.actor.name])).toEqual([['n2:x:0', 'restarted']]);
  });

  it('gives a reconnecting browser the full state again', async () => {
    const r = await relay();
    r.publish(insp('n1', actorEv('n1', 'x:0', 'x:0')));
    const first = client(r);
    await first.hello();
    first.ws.close();
    r.publish({ kind: 'view', nodeId: 'n1', view: view('n1', 9) });
    const hello = await client(r).hello();
    expect(hello.actors).toHaveLength(1);
    expect(hello.views[0]?.shardMap.version).toBe(9);
  });

  it('keeps topology events when a burst of shard assignments overflows the event memory', async () => {
    const r = await relay({ maxEvents: 100 });
    r.publish({ kind: 'domain', nodeId: 'n1', event: leaderElected('lead', 'n1', 3) });
    for (let s = 0; s < 1024; s++) {
      r.publish({
        kind: 'domain',
        nodeId: 'n1',
        event: {
          type: 'ShardAssigned',
          id: `a${s}`,
          origin: 'n1',
          term: 3,
          version: 1,
          at: 1,
          shardId: s,
          nodeId: 'n1',
          reason: 'initial',
          previous: null,
        },
      });
    }
    const events = r.state().events;
    expect(events.length).toBeLessThanOrEqual(100);
    expect(events[0]?.event.id).toBe('lead');
    expect(events.at(-1)?.event.id).toBe('a1023');
  });

  it('carries a control request to onControl and its answer back to the browser', async () => {
    const seen: ControlRequest[] = [];
    const r = await relay({
      onControl: async (c) => {
        seen.push(c);
        return { ok: true, message: `crashed ${c.nodeId}` };
      },
    });
    const c = client(r);
    expect((await c.hello()).controls).toBe(true);
    c.ws.send(JSON.stringify({ type: 'control', action: 'crash', nodeId: 'n2', requestId: 7 }));
    const res = await c.next((m) => m.type === 'control-result');
    expect(res).toMatchObject({
      requestId: 7,
      action: 'crash',
      nodeId: 'n2',
      ok: true,
      message: 'crashed n2',
    });
    expect(seen).toEqual([{ action: 'crash', nodeId: 'n2' }]);

    c.ws.send(JSON.stringify({ type: 'control', action: 'format-disk', nodeId: 'n2', requestId: 8 }));
    expect(await c.next((m) => m.type === 'control-result' && m.requestId === 8)).toMatchObject({
      ok: false,
    });
    c.ws.send(JSON.stringify({ type: 'control', action: 'drain', requestId: 9 }));
    expect(await c.next((m) => m.type === 'control-result' && m.requestId === 9)).toMatchObject({
      ok: false,
    });
    expect(seen).toHaveLength(1);
  });

  it('reports a failing control as not ok with its message', async () => {
    const r = await relay({
      onControl: () => {
        throw new Error('no such node');
      },
    });
    const c = client(r);
    await c.hello();
    c.ws.send(JSON.stringify({ type: 'control', action: 'add', requestId: 'a' }));
    expect(await c.next((m) => m.type === 'control-result')).toMatchObject({
      ok: false,
      message: 'no such node',
    });
  });

  it('refuses control requests when no handler is configured', async () => {
    const r = await relay();
    const c = client(r);
    expect((await c.hello()).controls).toBe(false);
    c.ws.send(JSON.stringify({ type: 'control', action: 'crash', nodeId: 'n1', requestId: 1 }));
    expect(await c.next((m) => m.type === 'control-result')).toMatchObject({ ok: false });
  });

  it('refuses WebSocket connections from pages of another origin', async () => {
    const r = await relay({ onControl: () => ({ ok: true, message: '' }) });
    const c = client(r, 'http://evil.example');
    const status = await new Promise<number>((resolve) => {
      c.ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      c.ws.on('error', () => {});
    });
    expect(status).toBe(403);
  });

  it('serves the page, its modules, the elk bundle and the kept state', async () => {
    const r = await relay();
    r.publish({ kind: 'view', nodeId: 'n1', view: view('n1', 3) });
    const index = await get(r, '/');
    expect(index.status).toBe(200);
    expect(index.type).toContain('text/html');
    expect(index.body).toContain('data-testid="shard-grid"');
    const app = await get(r, '/app.js');
    expect(app.status).toBe(200);
    expect(app.type).toContain('javascript');
    const elk = await get(r, '/vendor/elk.bundled.js');
    expect(elk.status).toBe(200);
    expect(elk.body.length).toBeGreaterThan(100_000);
    const state = await get(r, '/state.json');
    expect(JSON.parse(state.body).views[0].shardMap.version).toBe(3);
  });

  it('answers 404 to paths that try to leave the page directory', async () => {
    const r = await relay();
    for (const path of [
      '/../package.json',
      '/%2e%2e/package.json',
      '/..%2fpackage.json',
      '/%2e%2e%5cpackage.json',
      '/missing.js',
    ]) {
      expect((await get(r, path)).status, path).toBe(404);
    }
  });
});
