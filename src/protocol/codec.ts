/**
 * Wire formats of everything a node reads from the transport, each validated before use: anything
 * malformed, forged or oversized is dropped (and counted by the caller), never applied.
 */
import { z } from 'zod';
import {
  type DomainEvent,
  natSchema,
  nodeIdSchema,
  parseDomainEvent,
  plannedMoveSchema,
  rebalanceReasonSchema,
} from '../domain/events.js';
import { type ClusterState, MAX_RETIRED_NODES } from '../domain/state.js';
import type { ShardId, Term } from '../domain/values.js';
import {
  HANDOFF_REFUSAL_CODES,
  type HandoffMove,
  type HandoffRefusal,
  type HandoffRefusalCode,
  type Heartbeat,
  type LeaseRecord,
  type MemberProbeReply,
  type OperatorCommand,
} from './messages.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Largest message a node accepts on its subscriptions; anything larger is dropped unread. */
export const MAX_MESSAGE_BYTES = 256 * 1024;
/** Largest topology record accepted from the store. */
export const MAX_TOPOLOGY_BYTES = 4 * 1024 * 1024;

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

export function encode(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Parses JSON bytes, refusing oversized payloads and invalid UTF-8. */
export function decodeJson(data: Uint8Array, maxBytes = MAX_MESSAGE_BYTES): Decoded<unknown> {
  if (data.byteLength > maxBytes)
    return { ok: false, error: `payload of ${data.byteLength} bytes exceeds ${maxBytes}` };
  try {
    return { ok: true, value: JSON.parse(decoder.decode(data)) };
  } catch (err) {
    return { ok: false, error: `not JSON: ${(err as Error).message}` };
  }
}

function parseWith<T>(schema: z.ZodType<T>, data: Uint8Array, maxBytes?: number): Decoded<T> {
  const json = decodeJson(data, maxBytes);
  if (!json.ok) return json;
  return validate(schema, json.value);
}

function validate<T>(schema: z.ZodType<T>, value: unknown): Decoded<T> {
  const r = schema.safeParse(value);
  return r.success ? { ok: true, value: r.data } : { ok: false, error: z.prettifyError(r.error) };
}

/**
 * A decoder that remembers its last `kept` answers by message text. Every node of a process that
 * hosts several (embedded clusters, the simulator) receives its own copy of each heartbeat, event
 * and topology; validating a text once serves them all. The answers are immutable values.
 */
function remembering<T>(
  parse: (json: unknown) => Decoded<T>,
  kept: number,
  maxBytes = MAX_MESSAGE_BYTES,
): (data: Uint8Array) => Decoded<T> {
  const answers = new Map<string, Decoded<T>>();
  return (data) => {
    if (data.byteLength > maxBytes)
      return { ok: false, error: `payload of ${data.byteLength} bytes exceeds ${maxBytes}` };
    let text: string;
    try {
      text = decoder.decode(data);
    } catch (err) {
      return { ok: false, error: `not JSON: ${(err as Error).message}` };
    }
    const known = answers.get(text);
    if (known !== undefined) return known;
    let answer: Decoded<T>;
    try {
      answer = parse(JSON.parse(text));
    } catch (err) {
      answer = { ok: false, error: `not JSON: ${(err as Error).message}` };
    }
    if (answers.size >= kept) answers.delete(answers.keys().next().value as string);
    answers.set(text, answer);
    return answer;
  };
}

const nodeIdS = nodeIdSchema;
const nat = natSchema;
const statusS = z.enum(['Joining', 'Active', 'Draining', 'Failed', 'Left']);

// ---- heartbeats ----------------------------------------------------------------------------------

const heartbeatS = z.strictObject({
  nodeId: nodeIdS,
  incarnation: nat,
  weight: z.number().positive().max(1000),
  status: statusS,
  version: nat,
  load: z.number().finite().nonnegative(),
});

export const decodeHeartbeat: (data: Uint8Array) => Decoded<Heartbeat> = remembering(
  (json) => validate(heartbeatS, json),
  256,
);

// ---- domain events -------------------------------------------------------------------------------

/**
 * An event's JSON, kept while the event is: a leader encodes each event for the audit stream and for
 * the outbox of every commit until the stream has stored it.
 */
const eventJsonMemo = new WeakMap<DomainEvent, string>();

export function eventJson(e: DomainEvent): string {
  let j = eventJsonMemo.get(e);
  if (j === undefined) {
    j = JSON.stringify(e);
    eventJsonMemo.set(e, j);
  }
  return j;
}

export function eventBytes(e: DomainEvent): Uint8Array {
  return encoder.encode(eventJson(e));
}

export const decodeDomainEvent: (data: Uint8Array) => Decoded<DomainEvent> = remembering((json) => {
  const r = parseDomainEvent(json);
  return r.ok ? { ok: true, value: r.value } : { ok: false, error: r.error };
}, 1024);

// ---- lease -----------------------------------------------------------------------------------------

const leaseValueS = z.strictObject({ holder: nodeIdS, term: z.number().int().positive().optional() });

/** The lease value: the holder, and from the first renewal on the term (= revision of the winning create). */
export function encodeLease(holder: string, term?: Term): Uint8Array {
  return encode(term === undefined ? { holder } : { holder, term });
}

export function decodeLease(data: Uint8Array, revision: number): Decoded<LeaseRecord> {
  const r = parseWith(leaseValueS, data);
  if (!r.ok) return r;
  return { ok: true, value: { holder: r.value.holder, term: r.value.term ?? revision, revision } };
}

// ---- topology --------------------------------------------------------------------------------------

const clusterStateS = z.strictObject({
  shardCount: z.number().int().min(1).max(65536),
  nodes: z.record(
    nodeIdS,
    z.strictObject({
      id: nodeIdS,
      status: statusS,
      incarnation: nat,
      lastSeen: z.number().finite(),
      weight: z.number().positive(),
      departedAt: z.number().finite().optional(),
    }),
  ),
  // Absent from records written before compaction existed: read as no tombstones.
  retired: z
    .array(z.strictObject({ id: nodeIdS, incarnation: nat }))
    .max(MAX_RETIRED_NODES)
    .default([]),
  leader: z.strictObject({ nodeId: nodeIdS, term: nat }).nullable(),
  highestTerm: nat,
  shardMap: z.strictObject({ version: nat, term: nat, owners: z.array(nodeIdS.nullable()) }),
  orphaned: z.array(nat),
  orphanedFrom: z.record(z.string().regex(/^\d+$/), nodeIdS),
  bootstrapped: z.boolean(),
  epoch: nat,
  balancedEpoch: nat,
  rebalance: z
    .strictObject({
      rebalanceId: z.string().min(1).max(200),
      reason: rebalanceReasonSchema,
      epoch: nat,
      term: nat,
      startedAt: z.number().finite(),
      remaining: z.array(plannedMoveSchema),
      moved: nat,
    })
    .nullable(),
});

const topologyRecordS = z.strictObject({
  format: z.literal(1),
  writer: nodeIdS,
  term: nat,
  state: clusterStateS,
  /** The audit outbox (see outbox.ts); absent in records written before it existed. */
  outbox: z.string().optional(),
});

/** A decoded topology record: the state, who wrote it in which term, and the audit outbox (encoded). */
export interface TopologyRecordBody {
  readonly state: ClusterState;
  readonly writer: string;
  readonly term: Term;
  readonly outbox: string;
}

/**
 * The topology record in the store: the whole cluster state, stamped with the writer and its term,
 * and the committed events not yet stored in the audit stream (encoded with `encodeOutbox`).
 */
export function encodeTopology(state: ClusterState, writer: string, term: Term, outbox = ''): Uint8Array {
  return encode(
    outbox === '' ? { format: 1, writer, term, state } : { format: 1, writer, term, state, outbox },
  );
}

/** Validates a topology record; the last few are remembered (every node reads each commit). */
export const decodeTopology: (data: Uint8Array) => Decoded<TopologyRecordBody> = remembering(
  parseTopology,
  4,
  MAX_TOPOLOGY_BYTES,
);

function parseTopology(json: unknown): Decoded<TopologyRecordBody> {
  const r = validate(topologyRecordS, json);
  if (!r.ok) return r;
  const s = r.value.state;
  if (s.shardMap.owners.length !== s.shardCount) {
    return {
      ok: false,
      error: `shard map has ${s.shardMap.owners.length} owners for ${s.shardCount} shards`,
    };
  }
  return {
    ok: true,
    value: {
      state: s as unknown as ClusterState,
      writer: r.value.writer,
      term: r.value.term,
      outbox: r.value.outbox ?? '',
    },
  };
}

// ---- commands (request/reply to the leader) --------------------------------------------------------

const commandS = z.strictObject({
  requestId: z.string().min(1).max(200),
  from: nodeIdS,
  command: z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('drainNode'), nodeId: nodeIdS, incarnation: nat.optional() }),
    // A leave always names the incarnation that leaves: without it, a late leave of an old process
    // would remove the newer one.
    z.strictObject({ type: z.literal('leaveCluster'), nodeId: nodeIdS, incarnation: nat }),
    z.strictObject({ type: z.literal('markNodeFailed'), nodeId: nodeIdS, incarnation: nat.optional() }),
  ]),
});

export interface CommandRequest {
  readonly requestId: string;
  readonly from: string;
  readonly command: OperatorCommand;
}

/** The leader's answer: accepted with the committed events, or rejected with a code and reason. */
export type CommandReply =
  | { readonly ok: true; readonly events: readonly DomainEvent[] }
  | { readonly ok: false; readonly code: string; readonly message: string };

export const decodeCommand = (data: Uint8Array): Decoded<CommandRequest> => parseWith(commandS, data);

const replyS = z.union([
  z.strictObject({ ok: z.literal(true), events: z.array(z.unknown()) }),
  z.strictObject({ ok: z.literal(false), code: z.string().max(100), message: z.string().max(2000) }),
]);

export function decodeCommandReply(data: Uint8Array): Decoded<CommandReply> {
  const r = parseWith(replyS, data, MAX_TOPOLOGY_BYTES);
  if (!r.ok) return r;
  if (!r.value.ok) return { ok: true, value: r.value };
  const events: DomainEvent[] = [];
  for (const e of r.value.events) {
    const p = parseDomainEvent(e);
    if (!p.ok) return { ok: false, error: p.error };
    events.push(p.value);
  }
  return { ok: true, value: { ok: true, events } };
}

// ---- hand-off (leader asks an old owner to release shards) -------------------------------------

const handoffS = z
  .strictObject({
    term: z.number().int().positive(),
    leader: nodeIdS,
    moves: z.array(z.strictObject({ shardId: nat, to: nodeIdS, incarnation: nat })).max(65536),
    version: nat,
  })
  .refine((r) => new Set(r.moves.map((m) => m.shardId)).size === r.moves.length, {
    message: 'a shard is named twice',
  });

export interface HandoffRequest {
  readonly term: Term;
  readonly leader: string;
  /** The moves of the committed plan whose shards the leader asks for, each naming its target. */
  readonly moves: readonly HandoffMove[];
  /** Shard-map version the leader held when it asked: the plan behind the request is in it. */
  readonly version: number;
}

export const decodeHandoff = (data: Uint8Array): Decoded<HandoffRequest> => parseWith(handoffS, data);

const handoffReplyS = z.strictObject({
  released: z.array(nat),
  refused: z.string().max(500).optional(),
  code: z.enum(HANDOFF_REFUSAL_CODES).optional(),
});

/** The old owner's answer: the shards released, or a typed refusal (then nothing was released). */
export interface HandoffReply {
  readonly released: readonly ShardId[];
  readonly refused?: string | undefined;
  readonly code?: HandoffRefusalCode | undefined;
}

/** The reply that carries `refusal`: nothing released. */
export function refusalReply(refusal: HandoffRefusal): HandoffReply {
  return { released: [], refused: refusal.message.slice(0, 500), code: refusal.code };
}

export const decodeHandoffReply = (data: Uint8Array): Decoded<HandoffReply> => parseWith(handoffReplyS, data);

// ---- member probe (a process about to start asks whether its id already runs) --------------------

const memberProbeReplyS = z.strictObject({
  nodeId: nodeIdS,
  incarnation: nat,
  phase: z.enum(['starting', 'running', 'stopping']),
});

export const decodeMemberProbeReply = (data: Uint8Array): Decoded<MemberProbeReply> =>
  parseWith(memberProbeReplyS, data);
