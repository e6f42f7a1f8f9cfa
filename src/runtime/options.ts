/**
 * Options of `createClusterNode`, validated at creation: a wrong option fails at once with an
 * {@link InvalidConfigError} naming the field, never later in production.
 */
import type { Logger } from 'pino';
import { pino } from 'pino';
import { STRATEGIES } from '../../machines/proposals.js';
import { DEFAULT_TIMING, resolveTiming, type TimingConfig } from '../config.js';
import { InvalidConfigError } from '../domain/errors.js';
import { DEFAULT_SHARD_COUNT, isNodeId, type ShardId } from '../domain/values.js';
import type { InspectorOptions } from '../observe/inspection-bridge.js';
import type { Clock } from '../ports/clock.js';
import { systemClock } from '../ports/clock.js';
import type { Transport } from '../ports/transport.js';

export interface ClusterNodeOptions {
  /** This node's id: 1–64 characters of letters, digits, `_` or `-`; unique in the cluster. */
  readonly nodeId: string;
  /** Cluster name (same alphabet as node ids); nodes with the same name and transport form one cluster. */
  readonly cluster: string;
  /** Where the nodes meet. Default: one in-memory transport shared by the nodes of this process. */
  readonly transport?: Transport;
  /** Number of shards; every node of a cluster must agree. Default 1024. */
  readonly shardCount?: number;
  /** Timings, over the defaults; validated (see `TimingConfig`). */
  readonly timing?: Partial<TimingConfig>;
  /** A pino logger. Default: silent. */
  readonly logger?: Logger;
  /** Source of time. Default: the system clock. A custom clock needs a transport driven by the same clock. */
  readonly clock?: Clock;
  /** Relative capacity for weighted placement. Default 1. */
  readonly weight?: number;
  /**
   * Replicas of the lease and topology buckets when this node creates them (NATS: use 3 on a
   * three-server cluster so losing a server loses no state). An existing bucket with another
   * count fails start. Default: the transport's default (1).
   */
  readonly replicas?: number;
  /** Placement strategy: `balanced` (default: even, minimal moves) or `consistent-hash` (plain ring). */
  readonly placement?: 'balanced' | 'consistent-hash';
  /** Largest number of shard hand-offs in one rebalancing round. Default 64. */
  readonly maxMovesPerRound?: number;
  /** Produce XState inspection events on the observation stream (for the visualizer). Default false. */
  readonly inspection?: boolean | InspectorOptions;
  /**
   * Called on the old owner before a shard leaves it (hand-off): stop serving it, passivate its
   * entities. The shard is not given to the new owner before this resolves. Also called when the node
   * fences itself (its membership unconfirmed for a fence window), and when a committed map takes
   * shards away with no hand-off (the node was judged failed, or its leave was recorded): they may
   * already be someone else's, so stop serving them at once.
   */
  readonly onRelease?: (shards: readonly ShardId[]) => void | Promise<void>;
  /** Called when shards arrive at this node. */
  readonly onAcquire?: (shards: readonly ShardId[]) => void | Promise<void>;
}

export interface ResolvedOptions {
  readonly nodeId: string;
  readonly cluster: string;
  readonly transport: Transport;
  readonly shardCount: number;
  readonly timing: TimingConfig;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly weight: number;
  readonly replicas: number | null;
  readonly placement: string;
  readonly maxMovesPerRound: number;
  readonly inspection: InspectorOptions | null;
  readonly onRelease: ((shards: readonly ShardId[]) => void | Promise<void>) | null;
  readonly onAcquire: ((shards: readonly ShardId[]) => void | Promise<void>) | null;
}

const KNOWN = new Set([
  'nodeId',
  'cluster',
  'transport',
  'shardCount',
  'timing',
  'logger',
  'clock',
  'weight',
  'replicas',
  'placement',
  'maxMovesPerRound',
  'inspection',
  'onRelease',
  'onAcquire',
]);

export function resolveOptions(o: ClusterNodeOptions): ResolvedOptions {
  if (o === null || typeof o !== 'object') throw new InvalidConfigError('options', 'must be an object');
  for (const k of Object.keys(o)) {
    if (!KNOWN.has(k)) throw new InvalidConfigError(k, `unknown option (known: ${[...KNOWN].join(', ')})`);
  }
  if (!isNodeId(o.nodeId)) {
    throw new InvalidConfigError(
      'nodeId',
      `must be 1-64 characters of letters, digits, "_" or "-", got ${JSON.stringify(o.nodeId)}`,
    );
  }
  if (!isNodeId(o.cluster)) {
    throw new InvalidConfigError(
      'cluster',
      `must be 1-64 characters of letters, digits, "_" or "-", got ${JSON.stringify(o.cluster)}`,
    );
  }
  const shardCount = o.shardCount ?? DEFAULT_SHARD_COUNT;
  if (!Number.isInteger(shardCount) || shardCount < 1 || shardCount > 65536) {
    throw new InvalidConfigError(
      'shardCount',
      `must be an integer in [1, 65536], got ${String(o.shardCount)}`,
    );
  }
  const weight = o.weight ?? 1;
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0 || weight > 1000) {
    throw new InvalidConfigError('weight', `must be a number in (0, 1000], got ${String(o.weight)}`);
  }
  const replicas = o.replicas ?? null;
  if (replicas !== null && (!Number.isInteger(replicas) || replicas < 1 || replicas > 5)) {
    throw new InvalidConfigError('replicas', `must be an integer in [1, 5], got ${String(o.replicas)}`);
  }
  const placement = o.placement ?? 'balanced';
  if (!(placement in STRATEGIES)) {
    throw new InvalidConfigError(
      'placement',
      `must be one of ${Object.keys(STRATEGIES).join(', ')}, got ${JSON.stringify(placement)}`,
    );
  }
  const maxMovesPerRound = o.maxMovesPerRound ?? 64;
  if (!Number.isInteger(maxMovesPerRound) || maxMovesPerRound < 1) {
    throw new InvalidConfigError(
      'maxMovesPerRound',
      `must be a positive integer, got ${String(o.maxMovesPerRound)}`,
    );
  }
  if (o.transport === undefined) {
    // The public entry point supplies the embedded default; the runtime itself never picks one.
    throw new InvalidConfigError('transport', 'is required: pass memoryTransport() or natsTransport(...)');
  }
  if (typeof o.transport !== 'object' || typeof o.transport.connect !== 'function') {
    throw new InvalidConfigError(
      'transport',
      'must be a Transport (memoryTransport() or natsTransport(...))',
    );
  }
  for (const hook of ['onRelease', 'onAcquire'] as const) {
    if (o[hook] !== undefined && typeof o[hook] !== 'function')
      throw new InvalidConfigError(hook, 'must be a function');
  }
  const timing = resolveTiming(o.timing ?? {}, DEFAULT_TIMING);
  const inspection = o.inspection === true ? {} : o.inspection ? o.inspection : null;
  return {
    nodeId: o.nodeId,
    cluster: o.cluster,
    transport: o.transport,
    shardCount,
    timing,
    logger: o.logger ?? pino({ level: 'silent' }),
    clock: o.clock ?? systemClock,
    weight,
    replicas,
    placement,
    maxMovesPerRound,
    inspection,
    onRelease: o.onRelease ?? null,
    onAcquire: o.onAcquire ?? null,
  };
}
