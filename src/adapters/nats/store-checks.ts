/**
 * Checks the NATS store at start: a coordination store that silently loses acknowledged writes
 * breaks every safety argument built on it, so we say so loudly before relying on it.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import { jetstreamManager } from '@nats-io/jetstream';
import { jserrors } from '@nats-io/jetstream/internal';
import type { NatsConnection } from '@nats-io/transport-node';
import { StoreMisconfiguredError } from '../../domain/errors.js';
import type { StoreWarning } from '../../ports/transport.js';

/** Oldest nats-server release we do not warn about (see {@link checkServer}). */
export const RECOMMENDED_SERVER_VERSION = '2.10.23';

/** Fewest replicas we do not warn about on a clustered server. */
export const RECOMMENDED_REPLICAS = 3;

/** A finding of the NATS store checks; logged as a warning and returned as data. */
export interface NatsStoreWarning extends StoreWarning {
  readonly code: 'SERVER_VERSION' | 'REPLICAS' | 'AUDIT_LIMITS';
}

export type { StoreWarning };

/** The logger the NATS adapter writes to; a pino `Logger` fits. */
export interface NatsLogger {
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

/** A logger that drops everything (the default). */
export const silentLogger: NatsLogger = { warn() {}, info() {}, debug() {} };

/** Compares dotted versions numerically (`2.9.10` < `2.10.0`); pre-release suffixes are ignored. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) =>
    v
      .replace(/^v/, '')
      .split(/[-+]/)[0]
      ?.split('.')
      .map((n) => Number.parseInt(n, 10) || 0) ?? [];
  const pa = parse(a);
  const pb = parse(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/** Warns when `version` is older than {@link RECOMMENDED_SERVER_VERSION}. Pure. */
export function checkServerVersion(version: string): NatsStoreWarning[] {
  if (compareVersions(version, RECOMMENDED_SERVER_VERSION) >= 0) return [];
  return [
    {
      code: 'SERVER_VERSION',
      message:
        `nats-server ${version} is older than ${RECOMMENDED_SERVER_VERSION}: Jepsen found lost acknowledged ` +
        'writes and lost streams in older JetStream releases. Use >= ' +
        `${RECOMMENDED_SERVER_VERSION} with "jetstream { sync_interval: always }" and buckets with ` +
        `replicas >= ${RECOMMENDED_REPLICAS}.`,
      details: { version, recommended: RECOMMENDED_SERVER_VERSION },
    },
  ];
}

/** Warns when a bucket on a clustered server keeps fewer than {@link RECOMMENDED_REPLICAS} copies. Pure. */
export function checkReplicas(bucket: string, replicas: number, clustered: boolean): NatsStoreWarning[] {
  if (!clustered || replicas >= RECOMMENDED_REPLICAS) return [];
  return [
    {
      code: 'REPLICAS',
      message:
        `bucket "${bucket}" has ${replicas} replica(s) on a clustered server: losing one server loses or ` +
        `blocks it. Use replicas >= ${RECOMMENDED_REPLICAS}.`,
      details: { bucket, replicas, recommended: RECOMMENDED_REPLICAS },
    },
  ];
}

/** Result of {@link checkServer}. */
export interface ServerCheck {
  readonly version: string;
  /** Whether the server is part of a cluster (reports a cluster name). */
  readonly clustered: boolean;
  readonly warnings: readonly NatsStoreWarning[];
  /** A JetStream manager, proven to answer. */
  readonly jsm: JetStreamManager;
}

/**
 * Checks a freshly opened connection: JetStream must answer (else {@link StoreMisconfiguredError}
 * saying how to enable it), and an old server version is reported as a warning.
 * Warnings are logged through `logger` and returned.
 */
export async function checkServer(
  nc: NatsConnection,
  opts: { logger?: NatsLogger; timeoutMs?: number } = {},
): Promise<ServerCheck> {
  const logger = opts.logger ?? silentLogger;
  const info = nc.info;
  const version = info?.version ?? '0.0.0';
  const clustered = typeof info?.cluster === 'string' && info.cluster !== '';
  if (info && info.jetstream !== true) throw notEnabled(version);
  let jsm: JetStreamManager;
  try {
    // getAccountInfo proves JetStream answers for this account, not just that the server has it on.
    jsm = await jetstreamManager(nc, { timeout: opts.timeoutMs ?? 2_000, checkAPI: true });
  } catch (err) {
    if (err instanceof jserrors.JetStreamNotEnabled) throw notEnabled(version);
    if (err instanceof Error && /not enabled/i.test(err.message)) throw notEnabled(version);
    throw err;
  }
  const warnings = checkServerVersion(version);
  for (const w of warnings) logger.warn({ code: w.code, ...w.details }, w.message);
  return { version, clustered, warnings, jsm };
}

function notEnabled(version: string): StoreMisconfiguredError {
  return new StoreMisconfiguredError(
    `JetStream is not enabled on nats-server ${version}: KV buckets and the audit log need it. ` +
      'Start the server with -js (and -sd <dir> for the store), or add "jetstream {}" to its config.',
  );
}
