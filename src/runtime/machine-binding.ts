/**
 * Binds the root statechart to the ports: the lease and topology stores, the leader's hand-off
 * requests, the application's release and acquire hooks, and the heartbeat publish.
 */
import { fromPromise } from 'xstate';
import { clusterNodeMachine } from '../../machines/cluster-node.machine.js';
import { leadershipMachine } from '../../machines/leadership.machine.js';
import {
  type HandOffInput,
  type HandOffOutput,
  rebalancingMachine,
} from '../../machines/rebalancing.machine.js';
import { type ReleaseAnswer, shardHostMachine } from '../../machines/shard-host.machine.js';
import { NotLeaderError } from '../domain/errors.js';
import type { DomainEvent } from '../domain/events.js';
import type { NodeId, ShardId } from '../domain/values.js';
import type { Clock } from '../ports/clock.js';
import type { Heartbeat } from '../protocol/messages.js';
import type { KvLeaseStore } from './lease-store.js';
import type { KvTopologyStore, TopologyRecord } from './topology-store.js';

export interface MachinePorts {
  readonly nodeId: NodeId;
  readonly clock: Clock;
  readonly lease: KvLeaseStore;
  readonly topology: KvTopologyStore;
  readonly handOff: (input: HandOffInput) => Promise<HandOffOutput>;
  /** The application stops serving shards (its `onRelease` hook, within the hand-off timeout). */
  readonly release: (shards: readonly ShardId[]) => Promise<void>;
  /** The application starts serving shards (its `onAcquire` hook). */
  readonly acquired: (shards: readonly ShardId[]) => void;
  readonly answerRelease: (answer: ReleaseAnswer) => void;
  readonly publishHeartbeat: (hb: Heartbeat) => void;
  /** The audit outbox: what a commit carries, and what a leader's read of the record brings. */
  readonly outbox: {
    readonly unstored: () => readonly DomainEvent[];
    readonly adopt: (record: TopologyRecord) => void;
  };
}

export function bindClusterNodeMachine(p: MachinePorts) {
  const { lease, topology, clock } = p;
  return clusterNodeMachine.provide({
    actors: {
      leadership: leadershipMachine.provide({
        actors: {
          acquireLease: fromPromise(({ input }) => lease.acquire(input.nodeId)),
          renewLease: fromPromise(({ input }) =>
            lease.renew(input.nodeId, input.term, input.revision, input.notAfter),
          ),
          releaseLease: fromPromise(({ input }) => lease.release(input.term, input.revision)),
          readLease: fromPromise(() => lease.read()),
        },
      }),
      rebalancing: rebalancingMachine.provide({
        actors: { handOff: fromPromise(({ input }) => p.handOff(input)) },
      }),
      shardHost: shardHostMachine.provide({
        actors: {
          readLease: fromPromise(() => lease.read()),
          readTopology: fromPromise(async () => {
            const r = await topology.read();
            return { cluster: r?.state ?? null, at: clock.now() };
          }),
          releaseShards: fromPromise(async ({ input }) => {
            await p.release(input.shards);
            return { at: clock.now() };
          }),
        },
        actions: {
          acquired: (_, { shards }) => {
            if (shards.length > 0) p.acquired(shards);
          },
          lost: (_, { shards }) => {
            // The hook's failure is logged by `release`; the shards are gone whatever it says.
            if (shards.length > 0) p.release(shards).catch(() => {});
          },
          answer: (_, answer) => p.answerRelease(answer),
        },
      }),
      readTopology: fromPromise(async () => {
        const r = await topology.read();
        if (r !== null) p.outbox.adopt(r);
        return { state: r?.state ?? null, revision: r?.revision ?? 0, at: clock.now() };
      }),
      commitTopology: fromPromise(async ({ input }) => {
        // Fencing on the writer's side too: never write on top of a state a newer term has written.
        const newest = Math.max(input.state.highestTerm, input.state.shardMap.term);
        if (newest > input.term)
          throw new NotLeaderError(
            `term ${input.term} is deposed: the topology already carries term ${newest}`,
          );
        const outbox = [...p.outbox.unstored(), ...input.events];
        const revision = await topology.commit(
          input.state,
          input.expectedRevision,
          p.nodeId,
          input.term,
          outbox,
        );
        return { revision, at: clock.now() };
      }),
    },
    actions: {
      sendHeartbeat: (_, hb: Heartbeat) => p.publishHeartbeat(hb),
    },
  });
}
