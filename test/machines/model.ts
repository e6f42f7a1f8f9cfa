/**
 * Model-based coverage: paths from `@xstate/graph` that reach every state and take every transition
 * the sample events allow, executed against the real machine under a simulated clock with fake actors.
 * The pure `transition()` of the machine predicts each step's state, emitted events and what the subject
 * sends to the root (proposals, leadership reports); the run must agree, and the union of transitions taken in the runs must cover the machine.
 */
import { getAdjacencyMap, getShortestPaths } from '@xstate/graph';
import { expect } from 'vitest';
import {
  type AnyActorRef,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  createActor,
  createMachine,
  type EventObject,
  initialTransition,
  transition,
} from 'xstate';
import {
  allTransitionKeys,
  type Coverage,
  type FakeActors,
  sentToRoot,
  settle,
  type TaggedClock,
} from './harness.js';

/** A real run of the machine the paths execute against. */
export interface Run {
  readonly subject: AnyActorRef;
  readonly clock: TaggedClock;
  readonly fakes: FakeActors;
  /** Events the subject emitted, in order. */
  readonly emitted: readonly EventObject[];
  /** Events the subject sent to the root (proposals and leadership reports), in order. */
  sent(): readonly EventObject[];
  /** Calls of the actions named in the spec's `bound`, in order (the run provides them to record). */
  readonly calls?: readonly BoundCall[];
  stop(): void;
}

export interface ModelSpec<TInput> {
  readonly machine: AnyStateMachine;
  /**
   * Sample events for a state, payloads included (times taken from the state's context, so that
   * outcomes are never in the past); filtered by what the state accepts.
   */
  readonly events: (snapshot: AnyMachineSnapshot) => readonly EventObject[];
  /** The part of the context that decides which transitions are enabled; the rest is not told apart. */
  readonly abstract: (snapshot: AnyMachineSnapshot) => unknown;
  readonly start: (input: TInput, coverage: Coverage) => Run;
  /** Which emitted events the model is expected to predict exactly (default: all). */
  readonly predicts?: (event: EventObject) => boolean;
  /**
   * The subject runs under the stand-in root (system id 'node'): the model's steps see a root there
   * too, so that actions sending to it only when it exists are predicted.
   */
  readonly underRoot?: boolean;
  /** Actions the runtime binds (hooks into the application); the model predicts each call's params. */
  readonly bound?: readonly string[];
}

/** One call of an action the runtime binds. */
export interface BoundCall {
  readonly type: string;
  readonly params: unknown;
}

/**
 * Event sequences from the initial state: the shortest path to every abstract state, and from each
 * state one path per enabled sample event (so every edge of the graph is taken once). Sequences that
 * are prefixes of others are dropped.
 */
export function transitionPaths<TInput>(spec: ModelSpec<TInput>, input: TInput): EventObject[][] {
  const serializeState = (s: AnyMachineSnapshot) => JSON.stringify([s.value, spec.abstract(s)]);
  const options = {
    input,
    serializeState,
    limit: 20_000,
    events: (s: AnyMachineSnapshot) => (s.status === 'active' ? spec.events(s).filter((e) => s.can(e)) : []),
  };
  // The graph's traversal shares one mock actor system across all steps, where a child spawned with a
  // system id twice (on two branches) collides; xstate's pure transition gives each step its own.
  const machine = Object.create(spec.machine) as AnyStateMachine;
  machine.transition = ((s: AnyMachineSnapshot, e: EventObject) =>
    transition(spec.machine, s, e)[0]) as AnyStateMachine['transition'];
  const adjacency = getAdjacencyMap(machine, options) as unknown as Record<
    string,
    { state: AnyMachineSnapshot; transitions: Record<string, { event: EventObject }> }
  >;
  const heads = new Map<string, EventObject[]>();
  for (const p of getShortestPaths(machine, options)) {
    const events = p.steps.map((s) => s.event as EventObject).filter((e) => e.type !== 'xstate.init');
    heads.set(serializeState(p.state as AnyMachineSnapshot), events);
  }
  const paths: EventObject[][] = [];
  for (const [key, entry] of Object.entries(adjacency)) {
    const head = heads.get(key);
    if (!head) throw new Error(`no path to ${key}`);
    paths.push(head);
    for (const { event } of Object.values(entry.transitions)) paths.push([...head, event]);
  }
  return dropPrefixes(paths);
}

function dropPrefixes(paths: EventObject[][]): EventObject[][] {
  const keyed = paths.map((p) => ({ p, k: p.map((e) => JSON.stringify(e)) }));
  keyed.sort((a, b) => b.k.length - a.k.length);
  const kept: typeof keyed = [];
  for (const c of keyed) {
    if (kept.some((x) => c.k.every((e, i) => x.k[i] === e))) continue;
    kept.push(c);
  }
  return kept.map((c) => c.p);
}

/** Maps each invocation id of the machine to the name of the actor it invokes. */
function invokeSources(machine: AnyStateMachine): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (n: AnyStateMachine['root']) => {
    for (const inv of n.invoke) out.set(inv.id, String(inv.src));
    for (const c of Object.values(n.states)) walk(c as AnyStateMachine['root']);
  };
  walk(machine.root);
  return out;
}

const boundBy = (
  names: readonly string[],
  actions: readonly { type: string; params?: unknown }[],
): BoundCall[] =>
  actions.filter((a) => names.includes(a.type)).map((a) => ({ type: a.type, params: a.params }));
const emittedBy = (actions: readonly { type: string; params?: unknown }[]) =>
  actions.filter((a) => a.type === 'xstate.emit').map((a) => (a.params as { event: EventObject }).event);
const sentBy = (actions: readonly { type: string; params?: unknown }[]) =>
  actions
    .filter((a) => a.type === 'xstate.sendTo')
    .map((a) => (a.params as { event: EventObject }).event)
    .filter((e) => typeof e?.type === 'string' && sentToRoot(e.type));

type Step = [AnyMachineSnapshot, { type: string; params?: unknown }[]];

/**
 * xstate's pure `initialTransition`/`transition`, in an inert scope whose system holds an inert actor
 * under the root's system id, as the stand-in root provides in the runs.
 */
function pureUnderRoot(machine: AnyStateMachine, snapshot: AnyMachineSnapshot | null, event: unknown): Step {
  const actions: Step[1] = [];
  const self = createActor(createMachine({}));
  (self.system as unknown as { _set(id: string, ref: unknown): void })._set(
    'node',
    createActor(createMachine({})),
  );
  const scope = {
    self,
    defer: () => {},
    id: '',
    logger: () => {},
    sessionId: '',
    stopChild: () => {},
    system: self.system,
    emit: () => {},
    actionExecutor: (a: { type: string; params?: unknown }) => {
      actions.push(a);
    },
  } as never;
  const next =
    snapshot === null
      ? machine.getInitialSnapshot(scope, event)
      : machine.transition(snapshot, event as EventObject, scope);
  return [next as AnyMachineSnapshot, actions];
}

/**
 * Executes one event sequence against a fresh run, checking after every step that the run is in the
 * state the model predicts and emitted (and sent to the root) exactly what the model predicts.
 */
export async function executePath<TInput>(
  spec: ModelSpec<TInput>,
  input: TInput,
  events: readonly EventObject[],
  coverage: Coverage,
): Promise<void> {
  const sources = invokeSources(spec.machine);
  const predicts = spec.predicts ?? (() => true);
  const run = spec.start(input, coverage);
  try {
    const [initial, initialActions] = (
      spec.underRoot ? pureUnderRoot(spec.machine, null, input) : initialTransition(spec.machine, input)
    ) as Step;
    let model = initial;
    let expectedEmitted: EventObject[] = emittedBy(initialActions).filter(predicts);
    let expectedSent: EventObject[] = sentBy(initialActions);
    const bound = spec.bound ?? [];
    let expectedCalls: BoundCall[] = boundBy(bound, initialActions);
    await settle();
    const check = (where: string) => {
      expect(run.subject.getSnapshot().value, where).toEqual(model.value);
      expect(run.emitted.filter(predicts), where).toEqual(expectedEmitted);
      expect(run.sent(), where).toEqual(expectedSent);
      if (bound.length > 0) expect(run.calls, where).toEqual(expectedCalls);
    };
    check('after start');
    for (const [i, event] of events.entries()) {
      const [next, actions] = (
        spec.underRoot ? pureUnderRoot(spec.machine, model, event) : transition(spec.machine, model, event)
      ) as Step;
      const where = `step ${i} ${event.type} of ${events.map((e) => e.type).join(' → ')}`;
      await perform(run, event, sources, coverage, where);
      model = next;
      expectedEmitted = [...expectedEmitted, ...emittedBy(actions).filter(predicts)];
      expectedSent = [...expectedSent, ...sentBy(actions)];
      expectedCalls = [...expectedCalls, ...boundBy(bound, actions)];
      check(where);
    }
  } finally {
    run.stop();
  }
}

async function perform(
  run: Run,
  event: EventObject,
  sources: Map<string, string>,
  coverage: Coverage,
  where: string,
): Promise<void> {
  const type = event.type;
  if (type.startsWith('xstate.after.')) {
    coverage.take();
    await run.clock.fire(type);
    if (!coverage.take().some((k) => k.includes(`| ${type} |`))) {
      throw new Error(`${where}: the delayed transition was not taken`);
    }
    return;
  }
  for (const prefix of ['xstate.done.actor.', 'xstate.error.actor.']) {
    if (!type.startsWith(prefix)) continue;
    const src = sources.get(type.slice(prefix.length));
    if (!src) throw new Error(`${where}: unknown invocation`);
    if (prefix === 'xstate.done.actor.') await run.fakes.resolve(src, (event as { output?: unknown }).output);
    else await run.fakes.reject(src, (event as { error?: unknown }).error);
    return;
  }
  run.subject.send(event);
  await settle();
}

/** Builds every path for every input, executes them all, and returns the coverage reached. */
export async function coverModel<TInput>(
  spec: ModelSpec<TInput>,
  inputs: readonly TInput[],
  coverage: Coverage,
): Promise<{ paths: number; steps: number }> {
  let paths = 0;
  let steps = 0;
  for (const input of inputs) {
    for (const path of transitionPaths(spec, input)) {
      await executePath(spec, input, path, coverage);
      paths++;
      steps += path.length;
    }
  }
  return { paths, steps };
}

/** Transitions of the machine that no executed path took. */
export function missingTransitions(machine: AnyStateMachine, coverage: Coverage): string[] {
  return allTransitionKeys(machine).filter((k) => !coverage.transitions.has(k));
}

export type { AnyMachineSnapshot };
export { transition };
