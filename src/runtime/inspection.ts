/**
 * Inspection, for observers only: with `inspection` on, XState's inspection events of the node's
 * actors go to its observation stream (Stately's format), and with `publish` also to the bus for a
 * relay in another process. The node works the same without it.
 */
import type { Logger } from 'pino';
import { createInspector, type Inspector } from '../observe/inspection-bridge.js';
import { publishObservations } from '../observe/wire.js';
import type { EventFanout } from './event-fanout.js';
import type { NodeParts } from './node-parts.js';
import type { ResolvedOptions } from './options.js';

export async function openInspection(
  o: ResolvedOptions,
  parts: NodeParts,
  fanout: EventFanout,
  log: Logger,
): Promise<Inspector | null> {
  if (o.inspection === null) return null;
  if (o.inspection.publish) {
    // Before the actor starts: a relay elsewhere needs every actor's registration.
    const publisher = await publishObservations({
      bus: parts.conn.bus,
      cluster: o.cluster,
      nodeId: o.nodeId,
      clock: o.clock,
      onError: (err) => log.debug({ err }, 'observation publish failed'),
    });
    parts.unsubs.push(fanout.observe(publisher.observe), publisher.close);
  }
  return createInspector(o.nodeId, (event) => fanout.emit({ kind: 'inspection', nodeId: o.nodeId, event }), {
    ...o.inspection,
    clock: o.clock,
  });
}
