/**
 * Domain events: past-tense facts about topology decisions. Every event carries the term and the
 * shard-map version it belongs to and a timestamp from the injected clock. Events arriving from
 * outside (NATS) are validated with {@link parseDomainEvent} before anything reads them.
 */
import { z } from 'zod';
import type { NodeId, ShardId, Term } from './values.js';

/** Why a rebalance started: always a topology change (invariant 4) or a new leader resuming/repairing. */
export type RebalanceReason =
  | 'bootstrap'
  | 'node-joined'
  | 'node-failed'
  | 'node-left'
  | 'node-draining'
  | 'leader-changed';

/** Why a leader stopped leading. */
export type LeadershipLostReason =
  | 'renew-deadline' // no successful renewal within renewDeadline: stepped down by itself
  | 'lease-lost' // a renewal found the lease gone or held by another
  | 'resigned' // released on purpose (stop, drain)
  | 'superseded'; // observed a higher term

/** A planned shard move, as recorded in a rebalance plan. */
export interface PlannedMove {
  readonly shardId: ShardId;
  readonly from: NodeId | null;
  readonly to: NodeId;
  readonly reason: 'recovery' | 'drain' | 'balance';
}

interface EventBase<T extends string> {
  readonly type: T;
  /** Unique id (origin node + sequence); the audit log dedupes on it. */
  readonly id: string;
  /** Node that decided the event. */
  readonly origin: NodeId;
  /** Term of the leader the event belongs to (0 before any leader). */
  readonly term: Term;
  /** Shard-map version the event belongs to. */
  readonly version: number;
  /** Injected-clock time (ms) at which the event was decided. */
  readonly at: number;
}

export interface NodeJoined extends EventBase<'NodeJoined'> {
  readonly nodeId: NodeId;
  readonly incarnation: number;
  readonly weight: number;
}
export interface NodeDraining extends EventBase<'NodeDraining'> {
  readonly nodeId: NodeId;
}
export interface NodeFailed extends EventBase<'NodeFailed'> {
  readonly nodeId: NodeId;
  readonly incarnation: number;
  /** Last heartbeat seen from the node, clock ms. */
  readonly lastSeen: number;
  /** Shards that lost their owner and await recovery. */
  readonly orphaned: readonly ShardId[];
}
export interface NodeLeft extends EventBase<'NodeLeft'> {
  readonly nodeId: NodeId;
  readonly reason: 'graceful' | 'drained';
  readonly orphaned: readonly ShardId[];
}
/**
 * A departed node's record was compacted away after the retention: its id now survives only as a
 * tombstone of `incarnation`, which fences late processes of that incarnation. One event per node, like
 * every other membership event, so the audit log and the root (which stops the node's lifecycle actor)
 * handle one node per fact.
 */
export interface NodeRemoved extends EventBase<'NodeRemoved'> {
  readonly nodeId: NodeId;
  readonly incarnation: number;
  /** Status the record had when removed. */
  readonly status: 'Failed' | 'Left';
  /** When the incarnation departed (clock ms). */
  readonly departedAt: number;
}
export interface LeaderElected extends EventBase<'LeaderElected'> {
  readonly nodeId: NodeId;
  readonly previous: { readonly nodeId: NodeId; readonly term: Term } | null;
}
export interface LeadershipRenewed extends EventBase<'LeadershipRenewed'> {
  readonly nodeId: NodeId;
  /** Clock time at which the lease lapses unless renewed again. */
  readonly expiresAt: number;
}
export interface LeadershipLost extends EventBase<'LeadershipLost'> {
  readonly nodeId: NodeId;
  readonly reason: LeadershipLostReason;
}
export interface RebalancingTriggered extends EventBase<'RebalancingTriggered'> {
  readonly rebalanceId: string;
  readonly reason: RebalanceReason;
  /** Topology epoch the plan was computed for (bumped by every membership change). */
  readonly epoch: number;
  readonly plan: readonly PlannedMove[];
}
export interface ShardAssigned extends EventBase<'ShardAssigned'> {
  readonly shardId: ShardId;
  readonly nodeId: NodeId;
  /** initial: first placement at bootstrap; recovery: the previous owner failed or left. */
  readonly reason: 'initial' | 'recovery';
  readonly previous: NodeId | null;
}
export interface ShardMigrated extends EventBase<'ShardMigrated'> {
  readonly shardId: ShardId;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly reason: 'drain' | 'balance';
}
export interface RebalancingCompleted extends EventBase<'RebalancingCompleted'> {
  readonly rebalanceId: string;
  readonly moved: number;
  /** Moves of the plan left undone (e.g. aborted by a newer topology change). */
  readonly skipped: number;
  readonly durationMs: number;
}

export type DomainEvent =
  | NodeJoined
  | NodeDraining
  | NodeFailed
  | NodeLeft
  | NodeRemoved
  | LeaderElected
  | LeadershipRenewed
  | LeadershipLost
  | RebalancingTriggered
  | ShardAssigned
  | ShardMigrated
  | RebalancingCompleted;

export type DomainEventType = DomainEvent['type'];
export type DomainEventOf<T extends DomainEventType> = Extract<DomainEvent, { type: T }>;

export const DOMAIN_EVENT_TYPES: readonly DomainEventType[] = [
  'NodeJoined',
  'NodeDraining',
  'NodeFailed',
  'NodeLeft',
  'NodeRemoved',
  'LeaderElected',
  'LeadershipRenewed',
  'LeadershipLost',
  'RebalancingTriggered',
  'ShardAssigned',
  'ShardMigrated',
  'RebalancingCompleted',
];

/** Fields of an event that the caller fills in; `id`, `origin`, `at` are stamped by {@link EventStamp}. */
export type EventDraft<E extends DomainEvent = DomainEvent> = E extends DomainEvent
  ? Omit<E, 'id' | 'origin' | 'at'>
  : never;

/** Context every command needs to stamp the events it produces. */
export interface EventStamp {
  /** Node deciding the events. */
  readonly origin: NodeId;
  /** Injected-clock time. */
  readonly now: number;
  /** Returns a fresh unique id for each event (e.g. `${origin}-${incarnation}-${seq}`). */
  readonly nextId: () => string;
}

/** Completes a draft with id, origin and timestamp. */
export function stamp<E extends DomainEvent>(draft: EventDraft<E>, s: EventStamp): E {
  return { ...draft, id: s.nextId(), origin: s.origin, at: s.now } as unknown as E;
}

// ---- Schemas: validate events that arrive from outside -------------------------------------------

/** A node id on the wire. */
export const nodeIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
const nodeIdS = nodeIdSchema;
/** A non-negative integer (terms, versions, incarnations, shard ids). */
export const natSchema = z.number().int().nonnegative();
const nat = natSchema;
const shardS = z.number().int().nonnegative().max(65535);
const base = {
  id: z.string().min(1).max(200),
  origin: nodeIdS,
  term: nat,
  version: nat,
  at: z.number().finite().nonnegative(),
};
/** Why a rebalance started, on the wire. */
export const rebalanceReasonSchema = z.enum([
  'bootstrap',
  'node-joined',
  'node-failed',
  'node-left',
  'node-draining',
  'leader-changed',
]);
/** A planned shard move on the wire. */
export const plannedMoveSchema = z.strictObject({
  shardId: shardS,
  from: nodeIdS.nullable(),
  to: nodeIdS,
  reason: z.enum(['recovery', 'drain', 'balance']),
});

/** Zod schema of every domain event; strict, so unknown fields are rejected too. */
export const domainEventSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('NodeJoined'),
    ...base,
    nodeId: nodeIdS,
    incarnation: nat,
    weight: z.number().positive(),
  }),
  z.strictObject({ type: z.literal('NodeDraining'), ...base, nodeId: nodeIdS }),
  z.strictObject({
    type: z.literal('NodeFailed'),
    ...base,
    nodeId: nodeIdS,
    incarnation: nat,
    lastSeen: z.number().finite(),
    orphaned: z.array(shardS),
  }),
  z.strictObject({
    type: z.literal('NodeLeft'),
    ...base,
    nodeId: nodeIdS,
    reason: z.enum(['graceful', 'drained']),
    orphaned: z.array(shardS),
  }),
  z.strictObject({
    type: z.literal('NodeRemoved'),
    ...base,
    nodeId: nodeIdS,
    incarnation: nat,
    status: z.enum(['Failed', 'Left']),
    departedAt: z.number().finite(),
  }),
  z.strictObject({
    type: z.literal('LeaderElected'),
    ...base,
    nodeId: nodeIdS,
    previous: z.strictObject({ nodeId: nodeIdS, term: nat }).nullable(),
  }),
  z.strictObject({
    type: z.literal('LeadershipRenewed'),
    ...base,
    nodeId: nodeIdS,
    expiresAt: z.number().finite(),
  }),
  z.strictObject({
    type: z.literal('LeadershipLost'),
    ...base,
    nodeId: nodeIdS,
    reason: z.enum(['renew-deadline', 'lease-lost', 'resigned', 'superseded']),
  }),
  z.strictObject({
    type: z.literal('RebalancingTriggered'),
    ...base,
    rebalanceId: z.string().min(1).max(200),
    reason: rebalanceReasonSchema,
    epoch: nat,
    plan: z.array(plannedMoveSchema),
  }),
  z.strictObject({
    type: z.literal('ShardAssigned'),
    ...base,
    shardId: shardS,
    nodeId: nodeIdS,
    reason: z.enum(['initial', 'recovery']),
    previous: nodeIdS.nullable(),
  }),
  z.strictObject({
    type: z.literal('ShardMigrated'),
    ...base,
    shardId: shardS,
    from: nodeIdS,
    to: nodeIdS,
    reason: z.enum(['drain', 'balance']),
  }),
  z.strictObject({
    type: z.literal('RebalancingCompleted'),
    ...base,
    rebalanceId: z.string().min(1).max(200),
    moved: nat,
    skipped: nat,
    durationMs: z.number().finite().nonnegative(),
  }),
]);

/** Result of validating an untrusted value. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

/** Validates an untrusted value as a domain event; never throws. */
export function parseDomainEvent(value: unknown): ParseResult<DomainEvent> {
  const r = domainEventSchema.safeParse(value);
  if (r.success) return { ok: true, value: r.data as DomainEvent };
  return { ok: false, error: z.prettifyError(r.error) };
}
