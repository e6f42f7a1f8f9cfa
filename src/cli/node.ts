/**
 * `aether node`: runs one cluster node as a process over NATS. Status changes go to stdout (one
 * line each, or one JSON object each with `--json`), logs to a file or stderr. SIGTERM/SIGINT
 * leave the cluster gracefully (NodeLeft at once, no failure timeout) and exit 0.
 */
import { parseArgs } from 'node:util';
import { type Logger, pino } from 'pino';
import { type NatsTransportOptions, natsTransport } from '../adapters/nats/nats-transport.js';
import type { NatsLogger } from '../adapters/nats/store-checks.js';
import { DEFAULT_TIMING, FAST_TIMING, resolveTiming, type TimingConfig } from '../config.js';
import { InvalidConfigError, StoppedError } from '../domain/errors.js';
import type { DomainEvent } from '../domain/events.js';
import { isNodeId } from '../domain/values.js';
import type { StatusLine } from '../observe/status-line.js';
import type { Transport } from '../ports/transport.js';
import { type ClusterNode, createClusterNode } from '../runtime/cluster-node.js';
import type { ClusterNodeOptions } from '../runtime/options.js';
import { settleWithin } from './exit.js';
import {
  isParseArgsError,
  NATS_FLAGS,
  NATS_FLAGS_HELP,
  natsTransportOptions,
  parsePositiveDuration,
  parsePositiveInt,
  UsageError,
} from './flags.js';
import { transitionLogLine } from './transition-log.js';

/** Timing flags and the field each sets. */
const TIMING_FLAGS = {
  'lease-ttl': 'leaseTtlMs',
  renew: 'renewIntervalMs',
  'renew-deadline': 'renewDeadlineMs',
  retry: 'retryIntervalMs',
  heartbeat: 'heartbeatIntervalMs',
  'failure-timeout': 'failureTimeoutMs',
  'handoff-timeout': 'handoffTimeoutMs',
  'request-timeout': 'requestTimeoutMs',
} as const satisfies Record<string, keyof TimingConfig>;

const FLAG_OF_FIELD: Record<string, string> = Object.fromEntries(
  Object.entries(TIMING_FLAGS).map(([flag, field]) => [field, `--${flag}`]),
);

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const HELP = `usage: aether node --cluster NAME --id ID [options]

Runs one cluster node over NATS until SIGTERM or SIGINT, then leaves the cluster gracefully.
Prints one status line per change on stdout:
  status Active leader n2 term 41 shards 205 version 312

  --cluster NAME          cluster name (letters, digits, "_", "-")
  --id ID                 this node's id, unique in the cluster
  --shards N              number of shards; every node must agree (default 1024)
  --weight W              relative capacity for placement (default 1)
  --placement P           balanced (default) or consistent-hash
  --replicas R            replicas of the buckets and audit stream when created (3 on a 3-server cluster)
  --timing fast|default   timing preset (default: default; fast = 2 s lease for demos and tests)
  durations over the preset (500ms, 2s, 1m, or plain milliseconds):
  --lease-ttl D           lease TTL                 --renew D             renew interval
  --renew-deadline D      leader steps down after   --retry D             retry interval
  --heartbeat D           heartbeat interval        --failure-timeout D   node failure timeout
  --handoff-timeout D     hand-off timeout          --request-timeout D   store/request timeout
  --json                  status as one JSON object per line
  --log-file PATH         pino logs to this file (default: stderr)
  --log-level LEVEL       ${LOG_LEVELS.join(', ')} (default info); info logs one line per
                          membership or leadership change the node sees (joined, draining,
                          failed, left, removed, elected, lost), never renewals or shard moves

${NATS_FLAGS_HELP}

Exit codes: 0 after a graceful stop; 1 on a store or connection failure (no server answered
within --connect-timeout, connection closed, store refused), within a few seconds of it;
2 on invalid options (also when the cluster refuses them at start: another shard count, or an id
a running process uses); 130 on a second signal during the graceful leave.`;

/** Reads the timing flags over a preset; a bad combination names the flags, not the fields. */
export function timingFromFlags(
  preset: string | undefined,
  flags: Partial<Record<keyof typeof TIMING_FLAGS, string | undefined>>,
): TimingConfig {
  const base =
    preset === undefined || preset === 'default' ? DEFAULT_TIMING : preset === 'fast' ? FAST_TIMING : null;
  if (base === null)
    throw new UsageError(`--timing: expected fast or default, got ${JSON.stringify(preset)}`);
  const partial: Partial<Record<keyof TimingConfig, number>> = {};
  for (const [flag, field] of Object.entries(TIMING_FLAGS)) {
    const raw = flags[flag as keyof typeof TIMING_FLAGS];
    const v = raw === undefined ? undefined : parsePositiveDuration(`--${flag}`, raw);
    if (v !== undefined) partial[field] = v;
  }
  try {
    return resolveTiming(partial, base);
  } catch (err) {
    if (err instanceof InvalidConfigError)
      throw new UsageError(flagWords(err.message.replace(/^invalid config: /, '')));
    throw err;
  }
}

/** Rewrites `timing.renewIntervalMs` as `--renew` in a message. */
function flagWords(message: string): string {
  return message.replace(/timing\.(\w+)/g, (m, field: string) => FLAG_OF_FIELD[field] ?? m);
}

export type { StatusLine } from '../observe/status-line.js';

function statusOf(node: ClusterNode): StatusLine {
  const v = node.state();
  return {
    type: 'status',
    node: node.nodeId,
    status: v.status,
    leader: v.leader?.nodeId ?? null,
    term: v.leader?.term ?? null,
    isLeader: v.isLeader,
    shards: node.ownedShards().length,
    fenced: v.fenced,
    unowned: v.shardMap.owners.filter((o) => o === null).length,
    version: v.shardMap.version,
    mapTerm: v.shardMap.term,
    nodes: Object.fromEntries(v.nodes.map((n) => [n.id, n.status])),
    connection: node.connectionStatus,
  };
}

function humanStatus(s: StatusLine): string {
  const nodes = Object.entries(s.nodes)
    .map(([id, st]) => `${id}:${st}`)
    .join(',');
  return (
    `status ${s.status} leader ${s.leader ?? '-'} term ${s.term ?? '-'} shards ${s.shards} version ${s.version}` +
    `${s.isLeader ? ' (leading)' : ''}${s.fenced ? ' (fenced)' : ''}${s.unowned > 0 ? ` unowned ${s.unowned}` : ''}` +
    `${s.connection !== 'connected' ? ` nats ${s.connection}` : ''} nodes ${nodes || '-'}`
  );
}

function makeLogger(file: string | undefined, level: string): Logger {
  // Synchronous writes: a node killed right after an event still leaves the line in its log.
  const dest = pino.destination(
    file === undefined ? { fd: 2, sync: true } : { dest: file, sync: true, mkdir: true },
  );
  return pino({ level, base: { pid: process.pid } }, dest);
}

/** The transport's logger, minus the store warnings the node itself logs at start. */
function natsLogger(log: Logger): NatsLogger {
  return {
    info: (obj, msg) => log.info(obj, msg),
    debug: (obj, msg) => log.debug(obj, msg),
    warn: (obj, msg) => {
      const code = (obj as { code?: unknown }).code;
      if (code === 'SERVER_VERSION' || code === 'REPLICAS') return;
      log.warn(obj, msg);
    },
  };
}

/** How long `aether node` keeps retrying a start that fails on transient store errors. */
const START_WITHIN_MS = 30_000;

/**
 * A store that answered late, had no stream leader, or did not yet see a bucket another node had
 * just created (a replicated stream on a server cluster is found a moment after its creation): worth
 * another start. Refusals are not.
 */
function transient(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (code === 'TIMEOUT') return true;
  return code === 'TRANSPORT' && /no responders|stream not found/i.test((err as Error).message);
}

const PLACEMENTS = ['balanced', 'consistent-hash'] as const;

/** What the `aether node` flags ask for, checked. */
export interface NodeSettings {
  readonly cluster: string;
  readonly id: string;
  readonly shards: number | undefined;
  readonly weight: number | undefined;
  readonly placement: (typeof PLACEMENTS)[number] | undefined;
  readonly replicas: number | undefined;
  readonly timing: TimingConfig;
  readonly nats: NatsTransportOptions;
  readonly json: boolean;
  readonly logFile: string | undefined;
  readonly logLevel: string;
}

/**
 * Parses `--weight`: a plain decimal number in (0, 1000] (no hex, exponent or sign, which `Number`
 * would take); `undefined` passes through. @throws UsageError naming the flag.
 */
export function parseWeight(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const w = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || !(w > 0 && w <= 1000))
    throw new UsageError(`--weight: a number in (0, 1000], got ${JSON.stringify(raw)}`);
  return w;
}

/**
 * Reads and checks the command line of `aether node`; `'help'` when help was asked.
 * @throws UsageError naming the flag, or parseArgs's TypeError for an unknown flag.
 */
export async function parseNodeFlags(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<NodeSettings | 'help'> {
  const { values } = parse(argv);
  if (values.help) return 'help';
  if (values.cluster === undefined) throw new UsageError('--cluster is required');
  if (values.id === undefined) throw new UsageError('--id is required');
  for (const flag of ['cluster', 'id'] as const) {
    if (!isNodeId(values[flag]))
      throw new UsageError(
        `--${flag}: 1-64 letters, digits, "_" or "-", got ${JSON.stringify(values[flag])}`,
      );
  }
  const logLevel = values['log-level'] ?? 'info';
  if (!LOG_LEVELS.includes(logLevel))
    throw new UsageError(`--log-level: one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);
  const placement = values.placement;
  if (placement !== undefined && !(PLACEMENTS as readonly string[]).includes(placement))
    throw new UsageError(`--placement: balanced or consistent-hash, got ${JSON.stringify(placement)}`);
  const replicas = parsePositiveInt('--replicas', values.replicas);
  if (replicas !== undefined && replicas > 5) throw new UsageError(`--replicas: at most 5, got ${replicas}`);
  return {
    cluster: values.cluster,
    id: values.id,
    shards: parsePositiveInt('--shards', values.shards),
    weight: parseWeight(values.weight),
    placement: placement as NodeSettings['placement'],
    replicas,
    timing: timingFromFlags(values.timing, values),
    nats: await natsTransportOptions(values, env),
    json: values.json === true,
    logFile: values['log-file'],
    logLevel,
  };
}

/** The options of `createClusterNode` for these settings, over the given transport and logger. */
export function clusterNodeOptions(
  s: NodeSettings,
  transport: Transport,
  logger: Logger,
): ClusterNodeOptions {
  return {
    nodeId: s.id,
    cluster: s.cluster,
    transport,
    timing: s.timing,
    logger,
    ...(s.shards !== undefined ? { shardCount: s.shards } : {}),
    ...(s.replicas !== undefined ? { replicas: s.replicas } : {}),
    ...(s.weight !== undefined ? { weight: s.weight } : {}),
    ...(s.placement !== undefined ? { placement: s.placement } : {}),
  };
}

/** The `aether node` subcommand. */
export async function node(argv: readonly string[]): Promise<number> {
  let settings: NodeSettings;
  try {
    const parsed = await parseNodeFlags(argv);
    if (parsed === 'help') {
      console.log(HELP);
      return 0;
    }
    settings = parsed;
  } catch (err) {
    if (err instanceof UsageError || isParseArgsError(err)) {
      console.error(`aether node: ${err.message}\n\nRun "aether node --help" for the options.`);
      return 2;
    }
    throw err;
  }

  const s = settings;
  const json = s.json;
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const log = makeLogger(s.logFile, s.logLevel);
  const create = () =>
    createClusterNode(
      clusterNodeOptions(
        s,
        natsTransport({
          ...s.nats,
          logger: natsLogger(log.child({ component: 'nats' })),
          ...(s.replicas !== undefined ? { auditLog: { replicas: s.replicas } } : {}),
        }),
        log,
      ),
    );
  let n: ClusterNode;
  try {
    n = create();
  } catch (err) {
    if (err instanceof InvalidConfigError) {
      console.error(`aether node: ${err.message}`);
      return 2;
    }
    throw err;
  }

  let last = '';
  let warned = 0;
  const report = () => {
    // Store warnings as soon as the connection and buckets report them, before any status.
    for (const w of n.storeWarnings.slice(warned)) {
      out(
        json
          ? JSON.stringify({ type: 'warning', code: w.code, message: w.message })
          : `warning ${w.code}: ${w.message}`,
      );
    }
    warned = n.storeWarnings.length;
    const s = statusOf(n);
    const key = JSON.stringify(s);
    if (key === last) return;
    last = key;
    out(json ? JSON.stringify({ ...s, at: new Date().toISOString() }) : humanStatus(s));
  };
  // A status line per burst of decisions, not per snapshot: a 1024-shard rebalance is thousands of
  // snapshots, and each status costs a pass over the shard map.
  let scheduled = false;
  const reportSoon = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      report();
    });
  };
  const onEvent = (e: DomainEvent) => {
    const line = transitionLogLine(e);
    if (line) log.info(line.fields, line.msg);
    reportSoon();
  };
  let offObserve = n.on('*', onEvent);
  // Connection status and leadership live partly outside the root snapshot: look now and then too.
  const poll = setInterval(report, 250);

  let signalled: NodeJS.Signals | null = null;
  let signalledAt = 0;
  let stopping: Promise<void> | null = null;
  const stopOnSignal = (sig: NodeJS.Signals) => {
    // A terminal's Ctrl-C reaches every process of the group, and wrappers (npx, tsx) relay it
    // too: only a signal well after the first means "do not wait for the graceful leave".
    if (signalled !== null && Date.now() - signalledAt < 1_000) return;
    if (signalled !== null) {
      // A second signal: the operator does not want to wait for the graceful leave.
      log.warn({ signal: sig }, 'second signal, exiting at once');
      log.flush();
      process.exit(130);
    }
    signalled = sig;
    signalledAt = Date.now();
    log.info({ signal: sig }, 'stopping');
    stopping = n.stop();
  };
  process.on('SIGTERM', stopOnSignal);
  process.on('SIGINT', stopOnSignal);

  try {
    const startBy = Date.now() + START_WITHIN_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        await n.start();
        break;
      } catch (err) {
        if (signalled !== null && err instanceof StoppedError) {
          await stopping;
          return 0;
        }
        if (!transient(err) || Date.now() >= startBy || signalled !== null) throw err;
        // A store still electing stream leaders (a cluster just started, a server just died)
        // answers late for a few seconds: try again with a fresh node rather than give up.
        const delay = Math.min(2_000, 250 * 2 ** attempt);
        log.warn({ err, attempt, delay }, 'start failed on a transient store error; retrying');
        await new Promise((r) => setTimeout(r, delay));
        offObserve();
        n = create();
        offObserve = n.on('*', onEvent);
      }
    }
    report();
    // Every change of the root's snapshot (shards served, leadership, fencing) asks for a status line.
    n.actor?.subscribe({ next: reportSoon, error: () => {} });
    // Run until a signal stops the node, or the node stops by itself (its connection closed).
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (signalled !== null || n.status() === 'Left') {
          clearInterval(check);
          resolve();
        }
      }, 50);
    });
    if (signalled === null) {
      log.error('node stopped: its connection closed');
      console.error('aether node: stopped because the NATS connection closed');
      return 1;
    }
    await stopping;
    report();
    out(
      json
        ? JSON.stringify({ type: 'stopped', node: n.nodeId, signal: signalled })
        : `stopped (${signalled})`,
    );
    return 0;
  } catch (err) {
    log.error({ err }, 'node failed');
    // Refused at start for its own options (shard count, an id a running process uses): a usage error.
    if (err instanceof InvalidConfigError) {
      console.error(`aether node: refused to start: ${err.message}`);
      await n.stop().catch(() => {});
      return 2;
    }
    const code = (err as { code?: unknown }).code;
    console.error(`aether node: ${typeof code === 'string' ? `${code}: ` : ''}${(err as Error).message}`);
    // A node that never connected may leave a socket the client will not close: do not wait on it.
    await settleWithin(n.stop());
    return 1;
  } finally {
    clearInterval(poll);
    offObserve();
    process.off('SIGTERM', stopOnSignal);
    process.off('SIGINT', stopOnSignal);
    log.flush();
  }
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      ...NATS_FLAGS,
      cluster: { type: 'string' },
      id: { type: 'string' },
      shards: { type: 'string' },
      weight: { type: 'string' },
      placement: { type: 'string' },
      replicas: { type: 'string' },
      timing: { type: 'string' },
      'lease-ttl': { type: 'string' },
      renew: { type: 'string' },
      'renew-deadline': { type: 'string' },
      retry: { type: 'string' },
      heartbeat: { type: 'string' },
      'failure-timeout': { type: 'string' },
      'handoff-timeout': { type: 'string' },
      'request-timeout': { type: 'string' },
      json: { type: 'boolean' },
      'log-file': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
