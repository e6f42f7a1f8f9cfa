/** Creates a node's root actor: the bound statechart on the node's clock, with its input. */
import { type Actor, createActor, type InspectionEvent } from 'xstate';
import { ROOT_SYSTEM_ID } from '../../machines/system-ids.js';
import type { bindClusterNodeMachine } from './machine-binding.js';
import type { ResolvedOptions } from './options.js';

export function createRootActor(
  machine: ReturnType<typeof bindClusterNodeMachine>,
  o: ResolvedOptions,
  incarnation: number,
  inspect: ((event: InspectionEvent) => void) | null,
): Actor<ReturnType<typeof bindClusterNodeMachine>> {
  return createActor(machine, {
    systemId: ROOT_SYSTEM_ID,
    clock: {
      setTimeout: (fn, ms) => o.clock.setTimeout(fn, ms),
      clearTimeout: (h) => o.clock.clearTimeout(h),
    },
    input: {
      nodeId: o.nodeId,
      incarnation,
      weight: o.weight,
      shardCount: o.shardCount,
      timing: o.timing,
      maxMovesPerRound: o.maxMovesPerRound,
      strategy: o.placement,
      now: o.clock.now(),
      // Event ids decided here: unique per process incarnation.
      idPrefix: `${o.nodeId}-${incarnation.toString(36)}`,
    },
    // Inspection is for observers (the visualizer) only: the node works the same without it.
    ...(inspect ? { inspect } : {}),
  });
}
