import { describe, expect, it } from 'vitest';
import { assign, createActor, fromCallback, setup } from 'xstate';
import { createInspector, safeJson } from '../../../src/observe/inspection-bridge.js';
import type { InspectionEvent } from '../../../src/observe/observation.js';
import { SimulatedClock } from '../../../src/ports/simulated-clock.js';

const ticker = fromCallback(() => () => {});
const child = setup({}).createMachine({
  id: 'child',
  initial: 'a',
  states: { a: { on: { NEXT: 'b' } }, b: { type: 'final' } },
});
const parent = setup({
  types: { context: {} as { ref: unknown; self: unknown; n: number } },
  actors: { child, ticker },
  guards: { isReady: () => true },
  actions: { bump: assign({ n: ({ context }) => context.n + 1 }) },
}).createMachine({
  id: 'parent',
  context: ({ spawn }) => {
    const ref = spawn('child', { id: 'kid' });
    return { ref, self: null, n: 0 };
  },
  initial: 'idle',
  states: {
    idle: { on: { GO: { target: 'running', guard: 'isReady' } } },
    running: {
      type: 'parallel',
      invoke: { src: 'ticker', id: 'tick' },
      states: {
        left: { initial: 'l1', states: { l1: { on: { L: 'l2' } }, l2: {} } },
        right: { initial: 'r1', states: { r1: { on: { BUMP: { actions: 'bump' } } } } },
      },
      on: { HALT: 'halted' },
    },
    halted: { type: 'final' },
  },
});

function run(opts: Parameters<typeof createInspector>[2] = {}) {
  const events: InspectionEvent[] = [];
  const inspect = createInspector('n7', (e) => events.push(e), opts);
  const actor = createActor(parent, { inspect });
  return { events, inspect, actor };
}

describe('inspection bridge', () => {
  it('prefixes every session id with the node id and sends the machine definition on registration', () => {
    const { events, actor } = run();
    actor.start();
    const actors = events.filter((e) => e.type === '@xstate.actor');
    expect(actors.length).toBeGreaterThanOrEqual(2);
    for (const e of events) {
      expect(e.sessionId.startsWith('n7:')).toBe(true);
      expect(e.rootId).toBe(`n7:${actor.sessionId}`);
    }
    const root = actors.find((e) => e.sessionId === `n7:${actor.sessionId}`);
    expect(root?.type === '@xstate.actor' && root.name).toBe('parent');
    const def =
      root?.type === '@xstate.actor'
        ? (root.definition as { id: string; states: Record<string, unknown> })
        : null;
    expect(def?.id).toBe('parent');
    expect(Object.keys(def?.states ?? {})).toEqual(['idle', 'running', 'halted']);
    const kid = actors.find((e) => e.type === '@xstate.actor' && e.name === 'child');
    expect(kid?.type === '@xstate.actor' && kid.parentId).toBe(`n7:${actor.sessionId}`);
    actor.stop();
  });

  it('keeps transition targets of the definition as state id references, as machine.toJSON() gives them', () => {
    const { events, actor } = run();
    actor.start();
    const root = events.find((e) => e.type === '@xstate.actor' && e.name === 'parent');
    const def = (
      root as { definition: { states: { idle: { transitions: { target: string[]; guard: unknown }[] } } } }
    ).definition;
    expect(def.states.idle.transitions[0]?.target).toEqual(['#parent.running']);
    expect(def.states.idle.transitions[0]?.guard).toBe('isReady');
    actor.stop();
  });

  it('emits only JSON-safe events even when the context holds actor refs and cycles', () => {
    const { events, actor } = run();
    actor.start();
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    actor.send({ type: 'GO', payload: cyclic } as never);
    actor.send({ type: 'BUMP' });
    for (const e of events) expect(() => JSON.stringify(e)).not.toThrow();
    const last = [...events]
      .reverse()
      .find((e) => e.type === '@xstate.snapshot' && e.sessionId === `n7:${actor.sessionId}`);
    const snap = (last as { snapshot: { value: unknown; context: { n: number; ref: unknown } } }).snapshot;
    expect(snap.value).toEqual({ running: { left: 'l1', right: 'r1' } });
    expect(snap.context.n).toBe(1);
    expect(snap.context.ref).toMatchObject({ actorRef: 'kid' });
    actor.stop();
  });

  it('reports the transitions of each microstep by source and target state ids', () => {
    const { events, actor } = run();
    actor.start();
    actor.send({ type: 'GO' });
    actor.send({ type: 'L' });
    const steps = events.filter((e) => e.type === '@xstate.microstep');
    expect(steps.map((e) => (e.type === '@xstate.microstep' ? e.transitions : null))).toEqual([
      [{ source: 'parent.idle', targets: ['parent.running'], eventType: 'GO' }],
      [{ source: 'parent.running.left.l1', targets: ['parent.running.left.l2'], eventType: 'L' }],
    ]);
    actor.stop();
  });

  it('emits @xstate.stopped once for a child that finishes and once for each actor when the root stops', () => {
    const { events, actor } = run();
    actor.start();
    actor.send({ type: 'GO' });
    const kid = actor.getSnapshot().children.kid!;
    kid.send({ type: 'NEXT' });
    const stoppedIds = () => events.filter((e) => e.type === '@xstate.stopped').map((e) => e.sessionId);
    expect(stoppedIds()).toEqual([`n7:${kid.sessionId}`]);
    actor.stop();
    const ids = stoppedIds();
    expect(ids).toContain(`n7:${actor.sessionId}`);
    expect(new Set(ids).size).toBe(ids.length);
    const registered = events.filter((e) => e.type === '@xstate.actor').map((e) => e.sessionId);
    expect(new Set(ids)).toEqual(new Set(registered));
  });

  it('drops @xstate.event before snapshots under the rate limit, never registrations, and sends the latest snapshot afterwards', async () => {
    const clock = new SimulatedClock(0);
    const { events, inspect, actor } = run({ maxEventsPerSecond: 10, clock });
    actor.start();
    actor.send({ type: 'GO' });
    for (let i = 0; i < 30; i++) actor.send({ type: 'BUMP' });
    expect(inspect.stats().dropped).toBeGreaterThan(0);
    expect(events.filter((e) => e.type === '@xstate.actor').length).toBeGreaterThanOrEqual(3);
    const inWindow = events.filter((e) => e.type !== '@xstate.actor' && e.type !== '@xstate.stopped');
    expect(inWindow.length).toBeLessThanOrEqual(10);
    expect(events.filter((e) => e.type === '@xstate.event').length).toBeLessThanOrEqual(5);
    await clock.advance(1000);
    const last = [...events]
      .reverse()
      .find((e) => e.type === '@xstate.snapshot' && e.sessionId === `n7:${actor.sessionId}`);
    expect((last as { snapshot: { context: { n: number } } }).snapshot.context.n).toBe(30);
    inspect.dispose();
    actor.stop();
  });
});

describe('safeJson', () => {
  it('drops functions, cuts cycles and depth, and turns maps and sets into plain data', () => {
    const a: Record<string, unknown> = { f: () => 1, m: new Map([['k', 1]]), s: new Set([1, 2]), big: 10n };
    a.me = a;
    const shared = { x: 1 };
    const copy = safeJson({ a, deep: { l1: { l2: { l3: 1 } } }, twice: [shared, shared] }, 3) as Record<
      string,
      unknown
    >;
    expect(copy).toEqual({
      a: { m: { k: 1 }, s: [1, 2], big: '10', me: '[Circular]' },
      deep: { l1: { l2: '[…]' } },
      twice: [{ x: 1 }, { x: 1 }],
    });
  });
});
