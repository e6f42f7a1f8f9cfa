/**
 * Opens what a running node is made of — the connection, the lease and topology stores, the bus
 * subscriptions, the audit appender, the hand-off and command endpoints — and wires them to the
 * root statechart. Watches open before the actor starts: the actor's first heartbeat gets this
 * incarnation admitted, so a start that fails on the way must fail before it.
 */
import type { Logger } from 'pino';
import type { ClusterNodeContext, ClusterNodeEvent } from '../../machines/cluster-node.machine.js';
import { confirmEveryMs } from '../../machines/hosting.js';
import { StoppedError } from '../domain/errors.js';
import type { ShardId } from '../domain/values.js';
import type { Unsubscribe } from '../ports/kv.js';
import type { Connection, ConnectionStatus, Transport } from '../ports/transport.js';
import { names } from '../protocol/names.js';
import { decodeOutbox } from '../protocol/outbox.js';
import { AuditAppender, publishQuietly } from './audit-appender.js';
import { EventAdmission } from './event-admission.js';
import type { EventFanout } from './event-fanout.js';
import { handOff } from './handoff-client.js';
import { HandoffServer } from './handoff-server.js';
import { dropMalformed, type InboundDeps, onBusEvent, onHeartbeat } from './inbound.js';
import { LeaderCommands } from './leader-commands.js';
import { KvLeaseStore } from './lease-store.js';
import { bindClusterNodeMachine } from './machine-binding.js';
import type { NodeCounters } from './node-counters.js';
import type { ResolvedOptions } from './options.js';
import { answerMemberProbe, checkStart } from './start-checks.js';
import { withTimeout } from './timeout.js';
import { TopologyResync } from './topology-resync.js';
import { KvTopologyStore } from './topology-store.js';

export interface PartsDeps {
  readonly options: ResolvedOptions;
  readonly log: Logger;
  readonly counters: NodeCounters;
  readonly fanout: EventFanout;
  /** False once the node was stopped while starting: opening stops there. */
  readonly stillStarting: () => boolean;
  /** Whether the node runs (started, not stopping). */
  readonly running: () => boolean;
  /** Sends a fact to the root actor (buffered until it runs). */
  readonly send: (event: ClusterNodeEvent) => void;
  readonly onStatus: (s: ConnectionStatus) => void;
  /** The root's context, null before it runs. */
  readonly view: () => ClusterNodeContext | null;
  /** Resolves when `cond` holds, checked after every change of the root; rejects on stop or timeout. */
  readonly waitFor: (cond: () => boolean, what: string, timeoutMs: number) => Promise<void>;
  /** Whether the root leads (from the lease won on, before fencing completes). */
  readonly leading: () => boolean;
  /** This process's incarnation. */
  readonly incarnation: number;
  /** Where this process is in its life, as it answers the member probe. */
  readonly phase: () => 'starting' | 'running' | 'stopping';
}

export interface NodeParts {
  readonly transport: Transport;
  readonly conn: Connection;
  readonly unsubs: Unsubscribe[];
  readonly audit: AuditAppender;
  readonly commands: LeaderCommands;
  readonly handoffs: HandoffServer;
  readonly resync: TopologyResync;
  /** The root statechart bound to these parts. */
  machine(): ReturnType<typeof bindClusterNodeMachine>;
  /**
   * Ends subscriptions and timers, lets queued audit appends drain for up to a request timeout when
   * graceful (the rest stay in the topology record's outbox), then closes the connection.
   */
  close(graceful: boolean): Promise<void>;
}

export async function openParts(d: PartsDeps): Promise<NodeParts> {
  const o = d.options;
  const { clock, timing: t } = o;
  const log = d.log;
  const n = names(o.cluster);
  const now = () => clock.now();
  const conn = await o.transport.connect(o.nodeId);
  const unsubs: Unsubscribe[] = [];
  try {
    if (!d.stillStarting()) throw new StoppedError(`node ${o.nodeId} stopped while starting`);
    const replicas = o.replicas === null ? {} : { replicas: o.replicas };
    const [leaseBucket, topologyBucket, auditLog] = await Promise.all([
      conn.kv(n.leaseBucket, { ttlMs: t.leaseTtlMs, ...replicas }),
      conn.kv(n.topologyBucket, { ...replicas }),
      conn.auditLog(n.auditStream, n.events),
    ]);
    const lease = new KvLeaseStore(leaseBucket, clock, {
      timeoutMs: t.requestTimeoutMs,
      onMalformed: (error) => dropMalformed(d, 'lease', error),
    });
    const topology = new KvTopologyStore(topologyBucket, clock, {
      timeoutMs: t.requestTimeoutMs,
      onMalformed: (error) => dropMalformed(d, 'topology', error),
    });
    // Before any subscription or heartbeat: a refused start leaves the running cluster untouched.
    const probeDeps = {
      nodeId: o.nodeId,
      incarnation: d.incarnation,
      bus: conn.bus,
      names: n,
    };
    await checkStart({
      ...probeDeps,
      cluster: o.cluster,
      shardCount: o.shardCount,
      timeoutMs: t.requestTimeoutMs,
      log,
      readTopology: () => topology.read(),
    });
    const audit = new AuditAppender({
      audit: auditLog,
      bus: conn.bus,
      names: n,
      clock,
      log,
      counters: d.counters,
      timing: t,
      committedTerm: async () => (await topology.read())?.term ?? null,
      leads: (term) => d.leading() && d.view()?.term === term,
    });
    const commands = new LeaderCommands({
      nodeId: o.nodeId,
      bus: conn.bus,
      names: n,
      clock,
      log,
      timing: t,
      leading: d.leading,
      submit: (requestId, command) => d.send({ type: 'COMMAND', at: now(), requestId, command }),
      dropped: (error) => dropMalformed(d, 'command', error),
    });
    const handoffs = new HandoffServer({
      nodeId: o.nodeId,
      log,
      counters: d.counters,
      highestTerm: () => d.view()?.highestTerm ?? null,
      request: (req) => d.send({ type: 'RELEASE_REQUESTED', at: now(), ...req }),
      dropped: (error) => dropMalformed(d, 'handoff', error),
    });
    const resync = new TopologyResync({
      topology,
      clock,
      log,
      counters: d.counters,
      intervalMs: confirmEveryMs(t),
      due: d.running,
      follows: () => !d.leading(),
      heldRevision: () => d.view()?.revision ?? 0,
      adopt: (state, revision) => d.send({ type: 'TOPOLOGY', at: now(), state, revision }),
      contact: (at, state) => d.send({ type: 'STORE_CONTACT', at, receivedAt: now(), state }),
    });
    const admission = new EventAdmission({
      clock,
      log,
      counters: d.counters,
      waitMs: t.leaseTtlMs,
      committedLeader: () => d.view()?.cluster.leader ?? null,
      deliver: (e) => d.fanout.deliver(e),
    });
    unsubs.push(() => admission.close());
    const inbound: InboundDeps = {
      nodeId: o.nodeId,
      log,
      counters: d.counters,
      view: d.view,
      heartbeat: (heartbeat) => d.send({ type: 'HEARTBEAT', at: now(), heartbeat }),
      admission,
      delivered: (id) => d.fanout.delivered(id),
    };

    unsubs.push(conn.onStatus(d.onStatus));
    unsubs.push(await answerMemberProbe(probeDeps, d.phase));
    unsubs.push(await conn.bus.subscribe(n.heartbeats, (m) => onHeartbeat(inbound, m)));
    unsubs.push(await conn.bus.subscribe(n.events, (m) => onBusEvent(inbound, m)));
    unsubs.push(await conn.bus.subscribe(n.renewals, (m) => onBusEvent(inbound, m)));
    unsubs.push(await conn.bus.subscribe(n.handoff(o.nodeId), (m) => handoffs.onMessage(m)));
    unsubs.push(await lease.watch((l) => d.send({ type: 'LEASE_CHANGED', at: now(), lease: l })));
    // No lease at all (a new cluster, or the last leader released it): campaign now rather than after a TTL.
    const current = await lease.read().catch(() => null);
    if (current !== null && current.lease === null) d.send({ type: 'LEASE_CHANGED', at: now(), lease: null });
    unsubs.push(
      await topology.watch((r) => {
        if (r.state.leader !== null) admission.noteHolder(r.state.leader.term, r.state.leader.nodeId);
        d.send({ type: 'TOPOLOGY', at: now(), state: r.state, revision: r.revision });
      }),
    );

    const release = async (shards: readonly ShardId[]) => {
      if (shards.length === 0 || !o.onRelease) return;
      try {
        await withTimeout(Promise.resolve(o.onRelease(shards)), t.handoffTimeoutMs, clock, 'onRelease');
      } catch (err) {
        log.error({ err }, 'onRelease failed; the shards stay here');
        throw err;
      }
    };
    const acquired = (shards: readonly ShardId[]) => {
      if (!o.onAcquire) return;
      Promise.resolve(o.onAcquire(shards)).catch((err: unknown) => log.error({ err }, 'onAcquire failed'));
    };
    return {
      transport: o.transport,
      conn,
      unsubs,
      audit,
      commands,
      handoffs,
      resync,
      machine: () =>
        bindClusterNodeMachine({
          nodeId: o.nodeId,
          clock,
          lease,
          topology,
          handOff: (input) =>
            handOff(
              {
                nodeId: o.nodeId,
                bus: conn.bus,
                names: n,
                clock,
                log,
                timeoutMs: t.handoffTimeoutMs,
                cluster: () => d.view()?.cluster ?? null,
                fenced: (term, timeoutMs) =>
                  d
                    .waitFor(
                      () => {
                        const v = d.view();
                        return v?.fenced === true && v.term === term;
                      },
                      `the election of term ${term} to commit`,
                      timeoutMs,
                    )
                    .then(
                      () => true,
                      () => false,
                    ),
                releaseOwn: (moves, term, version) => handoffs.releaseOwn(o.nodeId, term, moves, version),
                dropped: (error) => dropMalformed(d, 'handoff', error),
              },
              input,
            ),
          release,
          acquired,
          answerRelease: (a) => handoffs.answer(a),
          publishHeartbeat: (hb) => publishQuietly({ bus: conn.bus, log }, n.heartbeats, hb),
          outbox: {
            unstored: () => audit.unstored(),
            adopt: (record) => {
              const events = decodeOutbox(record.outbox);
              if (events.ok) audit.adopt(events.value, record.term);
              else dropMalformed(d, 'topology', events.error);
            },
          },
        }),
      close: async (graceful) => {
        resync.stop();
        commands.close();
        handoffs.close();
        unsubscribeAll(unsubs);
        // A graceful stop lets the backlog drain for a moment; what remains is in the outbox.
        if (graceful) {
          await withTimeout(audit.flushed(), t.requestTimeoutMs, clock, 'audit flush').catch(() => {});
        }
        audit.stop();
        await conn.close().catch(() => {});
      },
    };
  } catch (err) {
    unsubscribeAll(unsubs);
    await conn.close().catch(() => {});
    throw err;
  }
}

function unsubscribeAll(unsubs: Unsubscribe[]): void {
  for (const u of unsubs.splice(0)) {
    try {
      u();
    } catch {
      // already gone
    }
  }
}
