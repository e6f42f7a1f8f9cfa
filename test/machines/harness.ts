/**
 * Test doubles and coverage bookkeeping for the statechart tests: promise actors resolved by the test,
 * a tiny root that stands in for the cluster-node actor (system id 'node') and records what its
 * children propose and report, and the set of state nodes and transitions of a machine, keyed so that the keys of
 * a machine and of its `.provide()`d copy agree.
 */
import {
  type AnyActorLogic,
  type AnyActorRef,
  type AnyStateMachine,
  type AnyTransitionDefinition,
  assign,
  createActor,
  fromPromise,
  type InspectionEvent,
  type StateNode,
  setup,
} from 'xstate';
import { SimulatedClock, settle } from '../../src/ports/simulated-clock.js';

/** One invocation of a fake promise actor, settled by the test. */
export interface FakeCall {
  readonly src: string;
  readonly input: unknown;
  settled: boolean;
  /** The invoking state was left: XState stopped the actor and ignores its result. */
  aborted: boolean;
  resolve(output: unknown): void;
  reject(error: unknown): void;
}

/** Promise actors whose outcome the test chooses, call by call. */
export class FakeActors {
  readonly calls: FakeCall[] = [];

  /** A `fromPromise` logic that records each call and waits for the test to settle it. */
  logic<TOutput, TInput>(src: string) {
    return fromPromise<TOutput, TInput>(
      ({ input, signal }) =>
        new Promise<TOutput>((resolve, reject) => {
          const call: FakeCall = {
            src,
            input,
            settled: false,
            aborted: false,
            resolve: (o) => {
              call.settled = true;
              resolve(o as TOutput);
            },
            reject: (e) => {
              call.settled = true;
              reject(e);
            },
          };
          signal.addEventListener('abort', () => {
            call.aborted = true;
          });
          this.calls.push(call);
        }),
    );
  }

  /** Inputs of every call of `src`, in order. */
  inputsOf(src: string): unknown[] {
    return this.calls.filter((c) => c.src === src).map((c) => c.input);
  }

  /** The live, unsettled call of `src`. */
  pending(src: string): FakeCall {
    const live = this.calls.filter((c) => c.src === src && !c.settled && !c.aborted);
    const call = live[live.length - 1];
    if (!call) throw new Error(`no pending call of ${src}`);
    return call;
  }

  has(src: string): boolean {
    return this.calls.some((c) => c.src === src && !c.settled && !c.aborted);
  }

  async resolve(src: string, output: unknown): Promise<void> {
    this.pending(src).resolve(output);
    await settle();
  }

  async reject(src: string, error: unknown = new Error(`${src} failed`)): Promise<void> {
    this.pending(src).reject(error);
    await settle();
  }
}

/** Every state node of `machine`, by id (the root included). */
export function allStateIds(machine: AnyStateMachine): string[] {
  return allNodes(machine).map((n) => n.id);
}

/** Every transition of `machine` (guarded alternatives separately, `after`, `always`, invoke done/error). */
export function allTransitionKeys(machine: AnyStateMachine): string[] {
  const keys: string[] = [];
  for (const node of allNodes(machine)) {
    for (const [eventType, list] of node.transitions) {
      list.forEach((_, i) => {
        keys.push(`${node.id} | ${eventType} | ${i}`);
      });
    }
    (node.always ?? []).forEach((_, i) => {
      keys.push(`${node.id} | always | ${i}`);
    });
  }
  return keys;
}

/** The key of a transition definition as found in an inspection event. */
export function transitionKey(t: AnyTransitionDefinition): string {
  const source = t.source;
  const always = t.eventType === '';
  const list = always ? (source.always ?? []) : (source.transitions.get(t.eventType) ?? []);
  return `${source.id} | ${always ? 'always' : t.eventType} | ${list.indexOf(t)}`;
}

function allNodes(machine: AnyStateMachine): StateNode<never, never>[] {
  const out: StateNode<never, never>[] = [];
  const walk = (n: StateNode<never, never>) => {
    out.push(n);
    for (const child of Object.values(n.states)) walk(child as StateNode<never, never>);
  };
  walk(machine.root as unknown as StateNode<never, never>);
  return out;
}

/** Records the transitions taken and the state nodes entered by one actor, from inspection events. */
export class Coverage {
  readonly transitions = new Set<string>();
  readonly states = new Set<string>();
  /** Transitions taken since the last `take()`. */
  #recent: string[] = [];

  /** Watches the actor whose id is `subjectId` (give the actor under test that id). */
  constructor(private readonly subjectId = 'subject') {}

  private isSubject(ref: unknown): boolean {
    return (ref as { id?: unknown }).id === this.subjectId;
  }

  readonly inspect = (ev: InspectionEvent): void => {
    if (ev.type !== '@xstate.microstep' && ev.type !== '@xstate.snapshot') return;
    if (!this.isSubject(ev.actorRef)) return;
    const snapshot = ev.snapshot as { _nodes?: readonly { id: string }[] };
    for (const n of snapshot._nodes ?? []) this.states.add(n.id);
    if (ev.type === '@xstate.microstep') {
      for (const t of (ev as { _transitions: AnyTransitionDefinition[] })._transitions) {
        // Transient states (left by `always` in the same step) show up only as a transition's source.
        this.states.add(t.source.id);
        const key = transitionKey(t);
        this.transitions.add(key);
        this.#recent.push(key);
      }
    }
  };

  take(): string[] {
    const r = this.#recent;
    this.#recent = [];
    return r;
  }
}

/** An event a child sends to the root. */
export type Recorded = { readonly type: string } & Record<string, unknown>;

/** What leadership reports to the root (the other children only propose). */
export const LEADERSHIP_REPORTS: ReadonlySet<string> = new Set([
  'LEADER_ELECTED',
  'LEADERSHIP_RENEWED',
  'LEADERSHIP_LOST',
]);

/** Whether the root records `type`: a proposal or a leadership report. */
export const sentToRoot = (type: string): boolean =>
  type.startsWith('PROPOSE_') || LEADERSHIP_REPORTS.has(type);

/**
 * Runs `logic` as the child (system id 'subject') of a stand-in root with system id 'node', the id
 * children use to reach the cluster-node actor. The root records every `PROPOSE_*` and every
 * leadership report it receives, with the clock's time on arrival.
 */
export function underRoot(
  logic: AnyActorLogic,
  input: unknown,
  opts: { clock: SimulatedClock | TaggedClock; inspect?: (ev: InspectionEvent) => void },
) {
  const received: { readonly event: Recorded; readonly clockAt: number }[] = [];
  const rootMachine = setup({
    types: { context: {} as { sent: Recorded[] }, events: {} as Recorded },
    actors: { subject: logic },
  }).createMachine({
    id: 'standInRoot',
    context: { sent: [] },
    invoke: { id: 'subject', systemId: 'subject', src: 'subject', input: () => input as never },
    on: {
      '*': {
        guard: ({ event }) => sentToRoot(event.type),
        actions: [
          assign({ sent: ({ context, event }) => [...context.sent, event] }),
          ({ event }) => {
            received.push({ event, clockAt: opts.clock.now() });
          },
        ],
      },
    },
  });
  const root = createActor(rootMachine, {
    systemId: 'node',
    clock: opts.clock,
    ...(opts.inspect ? { inspect: opts.inspect } : {}),
  });
  const emitted: Recorded[] = [];
  return {
    root,
    emitted,
    /** Everything the root recorded, with the clock's time when it arrived. */
    received,
    /** Starts the root and records what the subject emits (children emit nothing: the root speaks). */
    start(): AnyActorRef {
      root.start();
      const subject = root.system.get('subject') as AnyActorRef;
      subject.on('*', (e) => emitted.push(e as Recorded));
      return subject;
    },
    get subject(): AnyActorRef {
      return root.system.get('subject') as AnyActorRef;
    },
    /** Proposals and reports, in arrival order. */
    sent(): Recorded[] {
      return root.getSnapshot().context.sent;
    },
    proposals(): Recorded[] {
      return root.getSnapshot().context.sent.filter((e) => e.type.startsWith('PROPOSE_'));
    },
    reports(): Recorded[] {
      return root.getSnapshot().context.sent.filter((e) => LEADERSHIP_REPORTS.has(e.type));
    },
  };
}

/**
 * A clock for model runs that can fire one chosen delayed event out of time order, as the model's
 * paths do (they treat `after` events like any other). Each timer is tagged with the type of the event
 * XState scheduled it for, read from the actor system's scheduled events when the timer is set.
 */
export class TaggedClock {
  #now = 0;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; fn: () => void; tag: string }>();
  readonly #seen = new WeakSet<object>();
  /** The actor system whose scheduled events name the timers; set before the actor starts. */
  system: { getSnapshot(): unknown } | null = null;

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): number {
    let tag = '';
    const scheduled = (
      this.system?.getSnapshot() as { _scheduledEvents?: Record<string, object> } | undefined
    )?._scheduledEvents;
    for (const entry of Object.values(scheduled ?? {})) {
      if (this.#seen.has(entry)) continue;
      this.#seen.add(entry);
      tag = (entry as { event: { type: string } }).event.type;
    }
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn, tag });
    return id;
  }

  clearTimeout(handle: unknown): void {
    if (typeof handle === 'number') this.#timers.delete(handle);
  }

  /** Fires the pending timer of the delayed event `type`, whatever else is due before it. */
  async fire(type: string): Promise<void> {
    await settle();
    const entry = [...this.#timers].filter(([, t]) => t.tag === type).at(-1);
    if (!entry) throw new Error(`no timer pending for ${type}`);
    const [id, timer] = entry;
    this.#timers.delete(id);
    this.#now = Math.max(this.#now, timer.at);
    timer.fn();
    await settle();
  }
}

export { SimulatedClock, settle };
