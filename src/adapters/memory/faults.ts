/**
 * Fault injection for the memory transport. Every fault targets one node's connection(s), the way
 * a network problem between that node and the NATS server would: isolation, extra delay, message
 * loss and an abrupt crash. Each can also be had as a named {@link Fault} with `inject`/`heal`,
 * which is what chaos scenarios compose.
 */
import { InvalidValueError } from '../../domain/errors.js';

/** A fault that can be switched on and off, e.g. by a chaos scenario. */
export interface Fault {
  /** Human-readable, e.g. `isolate node-a`. */
  readonly name: string;
  inject(): void;
  heal(): void;
}

/** The faults that {@link FaultController.clear} can undo one at a time. */
export type FaultKind = 'isolate' | 'delay' | 'drop';

/** One active fault, as listed by {@link FaultController.active}. */
export type ActiveFault =
  | { readonly nodeId: string; readonly kind: 'isolate' }
  | { readonly nodeId: string; readonly kind: 'delay'; readonly ms: number }
  | { readonly nodeId: string; readonly kind: 'drop'; readonly probability: number };

/** @internal What the transport does when a fault changes. */
export interface FaultHooks {
  isolationChanged(nodeId: string, isolated: boolean): void;
  crash(nodeId: string): void;
}

interface NodeFaults {
  isolated: boolean;
  delayMs: number;
  drop: { probability: number; rng: () => number } | null;
}

/** The fault hooks of one memory transport: `transport.faults`. */
export class FaultController {
  readonly #nodes = new Map<string, NodeFaults>();
  readonly #hooks: FaultHooks;

  /** @internal */
  constructor(hooks: FaultHooks) {
    this.#hooks = hooks;
  }

  /**
   * Cuts the node off: its KV and audit-log operations reject with TransportError, its publishes
   * are dropped, it receives nothing and its status becomes `disconnected`. KV watches catch up on
   * heal, as a JetStream consumer resumes from its last sequence; plain messages are lost.
   */
  isolate(nodeId: string): void {
    const f = this.#of(nodeId);
    if (f.isolated) return;
    f.isolated = true;
    this.#hooks.isolationChanged(nodeId, true);
  }

  /** Undoes isolation, delay and drop for the node; its status becomes `connected` again. */
  heal(nodeId: string): void {
    this.clear(nodeId, 'delay');
    this.clear(nodeId, 'drop');
    this.clear(nodeId, 'isolate');
  }

  /** Heals every node. */
  healAll(): void {
    for (const nodeId of [...this.#nodes.keys()]) this.heal(nodeId);
  }

  /** Undoes one kind of fault for the node, leaving the others in place. */
  clear(nodeId: string, kind: FaultKind): void {
    const f = this.#nodes.get(nodeId);
    if (!f) return;
    if (kind === 'delay') f.delayMs = 0;
    else if (kind === 'drop') f.drop = null;
    else if (f.isolated) {
      f.isolated = false;
      this.#hooks.isolationChanged(nodeId, false);
    }
  }

  /** Makes the node's KV operations and its message deliveries, to and from it, take `ms` longer. `0` clears. */
  delay(nodeId: string, ms: number): void {
    if (!Number.isFinite(ms) || ms < 0)
      throw new InvalidValueError(`delay must be a finite ms ≥ 0, got ${ms}`);
    this.#of(nodeId).delayMs = ms;
  }

  /**
   * Drops each bus message to or from the node with `probability`, deciding with `rng` (inject a
   * seeded one, e.g. {@link seededRandom}, for repeatable runs). KV operations and watches are not
   * affected: JetStream retransmits what a consumer misses. `0` clears.
   */
  drop(nodeId: string, probability: number, rng: () => number): void {
    if (!(probability >= 0 && probability <= 1)) {
      throw new InvalidValueError(`drop probability must be within [0, 1], got ${probability}`);
    }
    this.#of(nodeId).drop = probability === 0 ? null : { probability, rng };
  }

  /**
   * Closes the node's connections abruptly: subscriptions and watches vanish without a word to
   * anyone, pending operations fail and later ones throw StoppedError. The node may connect again.
   */
  crash(nodeId: string): void {
    this.#hooks.crash(nodeId);
  }

  /** Whether the node is isolated. */
  isIsolated(nodeId: string): boolean {
    return this.#nodes.get(nodeId)?.isolated ?? false;
  }

  /** The node's injected delay in ms (0 when none). */
  delayOf(nodeId: string): number {
    return this.#nodes.get(nodeId)?.delayMs ?? 0;
  }

  /** The node's message drop probability (0 when none). */
  dropProbabilityOf(nodeId: string): number {
    return this.#nodes.get(nodeId)?.drop?.probability ?? 0;
  }

  /** Every fault in place, node by node. */
  active(): ActiveFault[] {
    const out: ActiveFault[] = [];
    for (const [nodeId, f] of this.#nodes) {
      if (f.isolated) out.push({ nodeId, kind: 'isolate' });
      if (f.delayMs > 0) out.push({ nodeId, kind: 'delay', ms: f.delayMs });
      if (f.drop) out.push({ nodeId, kind: 'drop', probability: f.drop.probability });
    }
    return out;
  }

  /** @internal Rolls the node's drop dice for one message; true means the message is lost. */
  shouldDrop(nodeId: string): boolean {
    const d = this.#nodes.get(nodeId)?.drop;
    return d ? d.rng() < d.probability : false;
  }

  /** Isolation of `nodeId` as a named fault; `heal` undoes only the isolation. */
  isolateFault(nodeId: string): Fault {
    return {
      name: `isolate ${nodeId}`,
      inject: () => this.isolate(nodeId),
      heal: () => this.clear(nodeId, 'isolate'),
    };
  }

  /** A delay of `ms` on `nodeId` as a named fault; `heal` undoes only the delay. */
  delayFault(nodeId: string, ms: number): Fault {
    return {
      name: `delay ${nodeId} by ${ms} ms`,
      inject: () => this.delay(nodeId, ms),
      heal: () => this.clear(nodeId, 'delay'),
    };
  }

  /** Message loss on `nodeId` as a named fault; `heal` undoes only the loss. */
  dropFault(nodeId: string, probability: number, rng: () => number): Fault {
    return {
      name: `drop ${Math.round(probability * 100)}% of messages of ${nodeId}`,
      inject: () => this.drop(nodeId, probability, rng),
      heal: () => this.clear(nodeId, 'drop'),
    };
  }

  /** A crash of `nodeId` as a named fault. `heal` does nothing: a crashed node comes back by connecting again. */
  crashFault(nodeId: string): Fault {
    return { name: `crash ${nodeId}`, inject: () => this.crash(nodeId), heal: () => {} };
  }

  #of(nodeId: string): NodeFaults {
    let f = this.#nodes.get(nodeId);
    if (!f) {
      f = { isolated: false, delayMs: 0, drop: null };
      this.#nodes.set(nodeId, f);
    }
    return f;
  }
}

/**
 * A small seeded pseudo-random generator (mulberry32) returning numbers in [0, 1), for
 * repeatable drop faults and chaos runs. The same seed yields the same sequence.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
