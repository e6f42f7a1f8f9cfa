/**
 * What a chaos harness sees of a real cluster through NATS itself, on a connection of its own that
 * no fault touches: the lease key's changes, every topology commit the watch delivers, the domain
 * events and renewals on the bus, and the audit stream read on demand. It also sends operator
 * commands (a drain) to the leader, as any operator client would.
 */

import { type NatsTransportOptions, natsTransport } from '../adapters/nats/nats-transport.js';
import type { HistoryEntry } from '../checker/history.js';
import { TimeoutError } from '../domain/errors.js';
import type { DomainEvent } from '../domain/events.js';
import type { NodeId } from '../domain/values.js';
import type { AuditLog } from '../ports/bus.js';
import type { Unsubscribe } from '../ports/kv.js';
import type { Connection } from '../ports/transport.js';
import {
  type CommandReply,
  decodeCommandReply,
  decodeDomainEvent,
  decodeTopology,
  encode,
} from '../protocol/codec.js';
import type { OperatorCommand } from '../protocol/messages.js';
import { names } from '../protocol/names.js';
import { LEASE_KEY } from '../runtime/lease-store.js';
import { TOPOLOGY_KEY } from '../runtime/topology-store.js';
import { leaseTap, readAuditFrom } from '../sim/history-taps.js';

/** The operator's name on the leader subject. */
const OPERATOR = 'chaos-operator';

export interface ClusterObserverOptions {
  readonly servers: readonly string[];
  /** Credentials and TLS of the connection (its `servers` are overridden by `servers`). */
  readonly connection?: NatsTransportOptions;
  /** Read the audit stream only from what is stored after opening (a check of a running cluster). */
  readonly auditFromNow?: boolean;
  readonly cluster: string;
  readonly leaseTtlMs: number;
  /** Replicas of the buckets and stream, as the nodes create them. */
  readonly replicas?: number;
  /** Receives each observation (stamped by `now`). */
  readonly feed: (entry: HistoryEntry) => void;
  /** Receives each domain event the first time it is seen. */
  readonly onEvent?: (e: DomainEvent) => void;
  readonly now: () => number;
}

export class ClusterObserver {
  readonly #o: ClusterObserverOptions;
  readonly #n: ReturnType<typeof names>;
  readonly #conn: Connection;
  readonly #audit: AuditLog;
  readonly #unsubscribe: Unsubscribe[] = [];
  readonly #seen = new Set<string>();
  #auditNext = 1;
  #reading: Promise<void> | null = null;
  #lastRevision = 0;
  #requests = 0;
  /** Topology commits the watch skipped (overwritten before delivery). */
  gaps = 0;

  private constructor(o: ClusterObserverOptions, conn: Connection, audit: AuditLog) {
    this.#o = o;
    this.#n = names(o.cluster);
    this.#conn = conn;
    this.#audit = audit;
  }

  /** Connects, creates the cluster's buckets and stream as a node would, and starts watching. */
  static async open(o: ClusterObserverOptions): Promise<ClusterObserver> {
    const replicas = o.replicas !== undefined ? { replicas: o.replicas } : {};
    const conn = await natsTransport({
      ...o.connection,
      servers: [...o.servers],
      ...(o.replicas !== undefined ? { auditLog: { replicas: o.replicas } } : {}),
    }).connect(`chaos-observer-${Math.random().toString(36).slice(2, 8)}`);
    const n = names(o.cluster);
    const audit = await conn.auditLog(n.auditStream, n.events);
    const obs = new ClusterObserver(o, conn, audit);
    if (o.auditFromNow === true) obs.#auditNext = (await audit.lastSeq()) + 1;
    try {
      await obs.#watch(replicas);
    } catch (err) {
      await conn.close().catch(() => {});
      throw err;
    }
    return obs;
  }

  async #watch(replicas: { replicas?: number }): Promise<void> {
    const o = this.#o;
    const n = this.#n;
    const [lease, topology] = await Promise.all([
      this.#conn.kv(n.leaseBucket, { ttlMs: o.leaseTtlMs, ...replicas }),
      this.#conn.kv(n.topologyBucket, { ...replicas }),
    ]);
    const onBus = (data: Uint8Array) => {
      const d = decodeDomainEvent(data);
      if (!d.ok || this.#seen.has(d.value.id)) return;
      this.#seen.add(d.value.id);
      o.feed({ kind: 'event', at: o.now(), event: d.value });
      o.onEvent?.(d.value);
    };
    this.#unsubscribe.push(await this.#conn.bus.subscribe(n.events, (m) => onBus(m.data)));
    this.#unsubscribe.push(await this.#conn.bus.subscribe(n.renewals, (m) => onBus(m.data)));
    this.#unsubscribe.push(await lease.watch(LEASE_KEY, leaseTap(o.feed, o.now), { includeCurrent: true }));
    this.#unsubscribe.push(
      await topology.watch(
        TOPOLOGY_KEY,
        (c) => {
          if (c.op !== 'put' || c.value === null) return;
          const d = decodeTopology(c.value);
          if (!d.ok) return;
          // The bucket holds one key and one revision of it: a jump in revisions is a write the
          // watch never delivered (overwritten first).
          const afterGap = this.#lastRevision > 0 && c.revision !== this.#lastRevision + 1;
          if (afterGap) this.gaps++;
          this.#lastRevision = c.revision;
          o.feed({
            kind: 'commit',
            at: o.now(),
            revision: c.revision,
            writer: d.value.writer,
            term: d.value.term,
            state: d.value.state,
            ...(afterGap ? { afterGap } : {}),
          });
        },
        { includeCurrent: true },
      ),
    );
  }

  /** Reads what the audit stream stored since the last read and feeds it as one `audit` entry. */
  readAudit(): Promise<void> {
    this.#reading ??= this.#readAudit().finally(() => {
      this.#reading = null;
    });
    return this.#reading;
  }

  async #readAudit(): Promise<void> {
    const { messages, next } = await readAuditFrom(this.#audit, this.#auditNext);
    this.#auditNext = next;
    if (messages.length > 0) this.#o.feed({ kind: 'audit', at: this.#o.now(), messages });
  }

  /**
   * Sends an operator command to whoever leads, retrying while none answers, until `withinMs`.
   * @throws TimeoutError when no leader answered in time.
   */
  async command(command: OperatorCommand, withinMs: number, retryMs: number): Promise<CommandReply> {
    const deadline = Date.now() + withinMs;
    let last = 'no leader answered';
    while (Date.now() < deadline) {
      const requestId = `${OPERATOR}-${++this.#requests}`;
      try {
        const raw = await this.#conn.bus.request(
          this.#n.leader,
          encode({ requestId, from: OPERATOR, command }),
          { timeoutMs: Math.max(500, Math.min(5_000, deadline - Date.now())) },
        );
        const r = decodeCommandReply(raw);
        if (!r.ok) last = r.error;
        else if (r.value.ok || r.value.code !== 'NOT_LEADER') return r.value;
        else last = r.value.message;
      } catch (err) {
        last = (err as Error).message;
      }
      await new Promise((r) => setTimeout(r, retryMs));
    }
    throw new TimeoutError(`${command.type} ${command.nodeId} not answered within ${withinMs} ms: ${last}`);
  }

  /** Asks the leader to drain a node. */
  drain(nodeId: NodeId, withinMs: number, retryMs: number): Promise<CommandReply> {
    return this.command({ type: 'drainNode', nodeId }, withinMs, retryMs);
  }

  async close(): Promise<void> {
    for (const u of this.#unsubscribe.splice(0)) u();
    await this.#reading?.catch(() => {});
    await this.#conn.close().catch(() => {});
  }
}
