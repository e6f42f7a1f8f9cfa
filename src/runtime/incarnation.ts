/**
 * Incarnations: a node process's start time, made unique per transport in this process, so a node
 * stopped and started again in the same millisecond still comes back as a newer incarnation (or the
 * leader would never admit it), and separate simulated runs stay independent of each other.
 */
import type { Clock } from '../ports/clock.js';
import type { Transport } from '../ports/transport.js';

const last = new WeakMap<Transport, number>();

export function nextIncarnation(transport: Transport, clock: Clock): number {
  const incarnation = Math.max(clock.now(), (last.get(transport) ?? 0) + 1);
  last.set(transport, incarnation);
  return incarnation;
}
