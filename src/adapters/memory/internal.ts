/**
 * What the parts of the memory transport share: the process-wide state (`TransportCore`) and one
 * node's view of it (`Endpoint`).
 * @internal
 */
import { TransportError } from '../../domain/errors.js';
import type { Clock } from '../../ports/clock.js';
import type { FaultController } from './faults.js';

/** @internal A resource that goes away when its connection closes. */
export interface Owned {
  close(): void;
}

/** @internal One node's connection as the stores and the bus see it. */
export interface Endpoint {
  readonly nodeId: string;
  readonly core: TransportCore;
  isOpen(): boolean;
  isIsolated(): boolean;
  /** Extra ms a delay fault puts on this node's traffic. */
  delayMs(): number;
  /** @throws StoppedError when the connection is closed. */
  assertOpen(): void;
  /**
   * Runs `fn` as a request to the server: asynchronously, after the node's delay, in order with
   * the node's other requests, failing with TransportError when isolated and StoppedError when closed.
   */
  roundTrip<T>(fn: () => T): Promise<T>;
  /** Ties `resource` to the connection, so closing the connection closes it; returns the release. */
  own(resource: Owned): () => void;
}

/** @internal Process-wide state of one memory transport. */
export interface TransportCore {
  readonly clock: Clock;
  readonly latencyMs: number;
  readonly maxPayload: number;
  readonly duplicateWindowMs: number;
  readonly faults: FaultController;
  /** Where an exception from a subscriber's handler goes. */
  readonly onHandlerError: (err: unknown) => void;
  /** Runs `fn` after `ms` on the clock, or in a microtask when `ms` is 0. */
  schedule(fn: () => void, ms: number): void;
}

/** @internal Throws TransportError for a payload over the size limit, as NATS max_payload does. */
export function checkPayload(core: TransportCore, data: Uint8Array): void {
  if (data.byteLength > core.maxPayload) {
    throw new TransportError(`payload of ${data.byteLength} bytes exceeds the maximum of ${core.maxPayload}`);
  }
}
