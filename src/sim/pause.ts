/**
 * Process pauses (a long GC, a stopped VM, SIGSTOP): while paused, a node runs nothing — its timers
 * do not fire and the answers and messages that reach it wait — and on resume everything it missed
 * runs in the order it arrived. Built from a {@link PauseGate} per node, a {@link PausableClock} for
 * its timers and a {@link PausableTransport} for its I/O, around the shared clock and transport.
 */
import type { AuditLog, BusMessage, MessageBus } from '../ports/bus.js';
import type { Clock, TimerHandle } from '../ports/clock.js';
import type { KvBucket, KvBucketOptions, KvEntry, Unsubscribe } from '../ports/kv.js';
import type { Connection, ConnectionStatus, StoreWarning, Transport } from '../ports/transport.js';

/** Holds a node's callbacks while it is paused and releases them, in order, on resume. */
export class PauseGate {
  readonly #base: Clock;
  #paused = false;
  #discarded = false;
  #held: (() => void)[] = [];

  /** @param base the shared clock, on which held callbacks are released one timer each. */
  constructor(base: Clock) {
    this.#base = base;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Callbacks waiting for the resume. */
  get held(): number {
    return this.#held.length;
  }

  /** Runs `fn` now, or holds it until the resume. */
  run(fn: () => void): void {
    if (this.#discarded) return;
    if (this.#paused) this.#held.push(fn);
    else fn();
  }

  pause(): void {
    this.#paused = true;
  }

  /**
   * Releases held callbacks in arrival order, each as its own zero-delay timer on the shared clock,
   * so promise continuations run between them as they would in a process catching up.
   */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    const held = this.#held;
    this.#held = [];
    for (const fn of held) this.#base.setTimeout(() => this.run(fn), 0);
  }

  /** The process is gone: drop what is held and ignore whatever arrives later. */
  discard(): void {
    this.#discarded = true;
    this.#held = [];
  }
}

interface PausableTimer {
  cancelled: boolean;
  handle: TimerHandle;
}

/** A node's clock: the shared clock's time, with timers that do not fire while the node is paused. */
export class PausableClock implements Clock {
  readonly #base: Clock;
  readonly #gate: PauseGate;

  constructor(base: Clock, gate: PauseGate) {
    this.#base = base;
    this.#gate = gate;
  }

  now(): number {
    return this.#base.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t: PausableTimer = { cancelled: false, handle: null };
    t.handle = this.#base.setTimeout(() => {
      if (!t.cancelled) this.#gate.run(() => !t.cancelled && fn());
    }, ms);
    return t;
  }

  clearTimeout(handle: TimerHandle): void {
    const t = handle as PausableTimer | null;
    if (!t || typeof t !== 'object') return;
    t.cancelled = true;
    this.#base.clearTimeout(t.handle);
  }
}

/** Sees every answered request on a node's subscriptions (e.g. hand-off replies). */
export type RespondTap = (nodeId: string, subject: string, request: Uint8Array, reply: Uint8Array) => void;

/**
 * Sees a node's KV reads: called as the read is issued, by the process behind `gate`; the function it
 * returns, if any, gets the answer as the process receives it (after its pause, if it is paused), just
 * before the process itself does.
 */
export type ReadTap = (
  nodeId: string,
  gate: PauseGate,
  bucket: string,
  key: string,
) => ((entry: KvEntry | null) => void) | null;

/**
 * Wraps a transport so each node's incoming messages, watch changes, status reports and operation
 * results pass through its {@link PauseGate}. Outgoing traffic is untouched (a paused node sends
 * nothing anyway: nothing of it runs).
 */
export class PausableTransport implements Transport {
  readonly kind: string;
  readonly #inner: Transport;
  readonly #gateOf: (nodeId: string) => PauseGate;
  readonly #tap: RespondTap | null;
  readonly #readTap: ReadTap | null;

  constructor(inner: Transport, gateOf: (nodeId: string) => PauseGate, tap?: RespondTap, readTap?: ReadTap) {
    this.#inner = inner;
    this.kind = inner.kind;
    this.#gateOf = gateOf;
    this.#tap = tap ?? null;
    this.#readTap = readTap ?? null;
  }

  async connect(nodeId: string): Promise<Connection> {
    const gate = this.#gateOf(nodeId);
    const inner = await gated(gate, this.#inner.connect(nodeId));
    return new GatedConnection(nodeId, inner, gate, this.#tap, this.#readTap);
  }
}

function gated<T>(gate: PauseGate, p: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    p.then(
      (v) => gate.run(() => resolve(v)),
      (e: unknown) => gate.run(() => reject(e)),
    );
  });
}

class GatedConnection implements Connection {
  readonly bus: MessageBus;
  readonly #nodeId: string;
  readonly #inner: Connection;
  readonly #gate: PauseGate;
  readonly #readTap: ReadTap | null;

  constructor(
    nodeId: string,
    inner: Connection,
    gate: PauseGate,
    tap: RespondTap | null,
    readTap: ReadTap | null,
  ) {
    this.#nodeId = nodeId;
    this.#inner = inner;
    this.#gate = gate;
    this.#readTap = readTap;
    const bus = inner.bus;
    this.bus = {
      publish: (subject, data) => bus.publish(subject, data),
      subscribe: (pattern, handler) =>
        gated(
          gate,
          bus.subscribe(pattern, (m) =>
            gate.run(() => handler(tap && m.respond ? tapped(nodeId, m, tap) : m)),
          ),
        ),
      request: (subject, data, opts) => gated(gate, bus.request(subject, data, opts)),
    };
  }

  async kv(bucket: string, opts?: KvBucketOptions): Promise<KvBucket> {
    const b = await gated(this.#gate, this.#inner.kv(bucket, opts));
    const gate = this.#gate;
    const readTap = this.#readTap;
    const nodeId = this.#nodeId;
    return {
      get: (key) => {
        const seen = readTap?.(nodeId, gate, bucket, key) ?? null;
        const read = b.get(key);
        if (seen === null) return gated(gate, read);
        return gated(
          gate,
          read.then((entry) => {
            gate.run(() => seen(entry));
            return entry;
          }),
        );
      },
      create: (key, value) => gated(gate, b.create(key, value)),
      update: (key, value, rev) => gated(gate, b.update(key, value, rev)),
      delete: (key, rev) => gated(gate, b.delete(key, rev)),
      watch: (key, onChange, o) =>
        gated(
          gate,
          b.watch(key, (c) => gate.run(() => onChange(c)), o),
        ),
    };
  }

  async auditLog(name: string, subjects: string): Promise<AuditLog> {
    const log = await gated(this.#gate, this.#inner.auditLog(name, subjects));
    const gate = this.#gate;
    return {
      append: (subject, data, msgId, expect) => gated(gate, log.append(subject, data, msgId, expect)),
      lastSeq: () => gated(gate, log.lastSeq()),
      read: (fromSeq) => log.read(fromSeq),
    };
  }

  get storeWarnings(): readonly StoreWarning[] {
    return this.#inner.storeWarnings;
  }

  onStatus(listener: (status: ConnectionStatus) => void): Unsubscribe {
    return this.#inner.onStatus((s) => this.#gate.run(() => listener(s)));
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

function tapped(nodeId: string, m: BusMessage, tap: RespondTap): BusMessage {
  const respond = m.respond!.bind(m);
  return {
    subject: m.subject,
    data: m.data,
    respond: (reply: Uint8Array) => {
      tap(nodeId, m.subject, m.data, reply);
      respond(reply);
    },
  };
}
