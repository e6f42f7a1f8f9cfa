/**
 * Takes a stopping node out of elections: its leadership actor releases the lease if it holds it and
 * stops, so it can neither campaign nor win while the node leaves.
 */
import type { Actor, ActorRefFrom } from 'xstate';
import type { ClusterNodeMachine } from '../../machines/cluster-node.machine.js';
import type { leadershipMachine } from '../../machines/leadership.machine.js';
import { LEADERSHIP_SYSTEM_ID } from '../../machines/system-ids.js';

export function stopCampaigning(actor: Actor<ClusterNodeMachine> | null, at: number): void {
  const ref = actor?.system.get(LEADERSHIP_SYSTEM_ID) as ActorRefFrom<typeof leadershipMachine> | undefined;
  if (ref === undefined || ref.getSnapshot().status !== 'active') return;
  ref.send({ type: 'STOP', at });
}
