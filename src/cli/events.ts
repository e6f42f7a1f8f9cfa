/**
 * `aether events`: prints a cluster's domain events from its audit stream — history from a
 * sequence, a time or the start, and optionally the live events after it.
 *
 * Also home of the NATS connection flags shared with `aether node`, because this module is the
 * lighter of the two (no runtime, no statecharts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  type ConsumerMessages,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type OrderedConsumerOptions,
} from '@nats-io/jetstream';
import {
  connect,
  credsAuthenticator,
  type NatsConnection,
  type NodeConnectionOptions,
} from '@nats-io/transport-node';
import { NATS_DEFAULTS } from '../adapters/nats/nats-transport.js';
import { DOMAIN_EVENT_TYPES, type DomainEvent, parseDomainEvent } from '../domain/events.js';
import { isNodeId } from '../domain/values.js';
import { names } from '../protocol/names.js';

/** A wrong command line: the message names the flag; the command exits with code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The NATS connection flags of every command that talks to NATS. */
export const NATS_FLAGS = {
  nats: { type: 'string' },
  user: { type: 'string' },
  pass: { type: 'string' },
  token: { type: 'string' },
  creds: { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
} as const;

export const NATS_FLAGS_HELP = `NATS connection:
  --nats URL[,URL...]   servers (default $NATS_URL or nats://127.0.0.1:4222)
  --user NAME           user (default $NATS_USER); needs --pass
  --pass SECRET         password (default $NATS_PASSWORD)
  --token SECRET        token (default $NATS_TOKEN)
  --creds FILE          credentials file (JWT + nkey seed; default $NATS_CREDS)
  --tls-ca FILE         CA certificate to verify the server with (implies TLS)
  --tls-cert FILE       client certificate (with --tls-key)
  --tls-key FILE        client key (with --tls-cert)`;

type NatsFlagValues = { [K in keyof typeof NATS_FLAGS]?: string | undefined };

function readableFile(flag: string, path: string): string {
  if (!existsSync(path)) throw new UsageError(`--${flag}: file not found: ${path}`);
  return path;
}

/**
 * Turns the NATS flags (falling back to the usual `NATS_*` environment variables) into client
 * connection options. @throws UsageError naming the flag when they are inconsistent.
 */
export function natsConnectionOptions(
  v: NatsFlagValues,
  env: NodeJS.ProcessEnv = process.env,
): NodeConnectionOptions {
  const raw = v.nats ?? (env.NATS_URL || undefined) ?? 'nats://127.0.0.1:4222';
  const servers = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (servers.length === 0) throw new UsageError('--nats: no server given');
  for (const s of servers) {
    const url = /^[a-z]+:\/\//i.test(s) ? s : `nats://${s}`;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError(`--nats: not a server URL: ${JSON.stringify(s)}`);
    }
    if (!['nats:', 'tls:'].includes(parsed.protocol) || parsed.hostname === '') {
      throw new UsageError(`--nats: expected nats://host:port or tls://host:port, got ${JSON.stringify(s)}`);
    }
  }
  const opts: { -readonly [K in keyof NodeConnectionOptions]: NodeConnectionOptions[K] } = { servers };
  const user = v.user ?? (env.NATS_USER || undefined);
  const pass = v.pass ?? (env.NATS_PASSWORD || undefined);
  const token = v.token ?? (env.NATS_TOKEN || undefined);
  const creds = v.creds ?? (env.NATS_CREDS || undefined);
  const methods = [user !== undefined, token !== undefined, creds !== undefined].filter(Boolean).length;
  if (methods > 1) throw new UsageError('--user, --token and --creds exclude each other: give one');
  if (user !== undefined) {
    if (pass === undefined) throw new UsageError('--user needs --pass (or $NATS_PASSWORD)');
    opts.user = user;
    opts.pass = pass;
  } else if (v.pass !== undefined) {
    throw new UsageError('--pass needs --user');
  }
  if (token !== undefined) opts.token = token;
  if (creds !== undefined) {
    const data = readFileSync(readableFile('creds', creds));
    opts.authenticator = credsAuthenticator(new Uint8Array(data));
  }
  const ca = v['tls-ca'];
  const cert = v['tls-cert'];
  const key = v['tls-key'];
  if ((cert === undefined) !== (key === undefined))
    throw new UsageError('--tls-cert and --tls-key go together: give both');
  if (ca !== undefined || cert !== undefined) {
    opts.tls = {
      ...(ca !== undefined ? { caFile: readableFile('tls-ca', ca) } : {}),
      ...(cert !== undefined ? { certFile: readableFile('tls-cert', cert) } : {}),
      ...(key !== undefined ? { keyFile: readableFile('tls-key', key) } : {}),
    };
  }
  return opts;
}

/** Where `aether events` starts reading. */
export type Since =
  | { kind: 'all' }
  | { kind: 'new' }
  | { kind: 'seq'; seq: number }
  | { kind: 'time'; at: Date };

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses `--since`: `all`, `new`, a stream sequence (`42`), a duration back from `now` (`90s`,
 * `5m`, `2h`) or an ISO-8601 time. @throws UsageError.
 */
export function parseSince(value: string, now: number): Since {
  if (value === 'all') return { kind: 'all' };
  if (value === 'new') return { kind: 'new' };
  if (/^\d+$/.test(value)) {
    const seq = Number(value);
    if (seq < 1 || !Number.isSafeInteger(seq)) throw new UsageError('--since: a sequence starts at 1');
    return { kind: 'seq', seq };
  }
  const rel = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value);
  if (rel?.[1] && rel[2])
    return { kind: 'time', at: new Date(now - Number(rel[1]) * (UNIT_MS[rel[2]] ?? 0)) };
  const at = Date.parse(value);
  if (/^\d{4}-\d{2}-\d{2}/.test(value) && Number.isFinite(at)) return { kind: 'time', at: new Date(at) };
  throw new UsageError(
    `--since: expected all, new, a sequence (42), a duration (5m) or an ISO time, got ${JSON.stringify(value)}`,
  );
}

function shardList(shards: readonly number[]): string {
  if (shards.length <= 8) return `[${shards.join(',')}]`;
  return `${shards.length} shards`;
}

/** One line for a person: what happened, without the envelope. */
export function describeEvent(e: DomainEvent): string {
  switch (e.type) {
    case 'NodeJoined':
      return `${e.nodeId} joined (incarnation ${e.incarnation}, weight ${e.weight})`;
    case 'NodeDraining':
      return `${e.nodeId} draining`;
    case 'NodeFailed':
      return `${e.nodeId} failed (last seen ${new Date(e.lastSeen).toISOString()}), orphaned ${shardList(e.orphaned)}`;
    case 'NodeLeft':
      return `${e.nodeId} left (${e.reason}), orphaned ${shardList(e.orphaned)}`;
    case 'LeaderElected':
      return `${e.nodeId} elected in term ${e.term}${e.previous ? ` (previous ${e.previous.nodeId} term ${e.previous.term})` : ''}`;
    case 'LeadershipRenewed':
      return `${e.nodeId} renewed term ${e.term} until ${new Date(e.expiresAt).toISOString()}`;
    case 'LeadershipLost':
      return `${e.nodeId} lost term ${e.term} (${e.reason})`;
    case 'RebalancingTriggered':
      return `rebalance ${e.rebalanceId} (${e.reason}, epoch ${e.epoch}): ${e.plan.length} moves planned`;
    case 'ShardAssigned':
      return `shard ${e.shardId} -> ${e.nodeId} (${e.reason}${e.previous ? `, was ${e.previous}` : ''})`;
    case 'ShardMigrated':
      return `shard ${e.shardId} ${e.from} -> ${e.to} (${e.reason})`;
    case 'RebalancingCompleted':
      return `rebalance ${e.rebalanceId} done: ${e.moved} moved, ${e.skipped} skipped in ${e.durationMs} ms`;
    default:
      return JSON.stringify(e);
  }
}

const HELP = `usage: aether events --cluster NAME [--since all|new|SEQ|DURATION|TIME] [--follow] [--type T[,T...]] [--json]

Prints the domain events of a cluster from its audit stream, oldest first.

  --cluster NAME   cluster name (as given to "aether node")
  --since WHEN     all (default), new (only events after now), a stream sequence (42),
                   a duration back from now (30s, 5m, 2h) or an ISO time
  --follow, -f     keep printing live events after the history (until Ctrl-C)
  --type T,...     only these event types (${DOMAIN_EVENT_TYPES.join(', ')})
  --json           one JSON object per line: {"seq", "stored", "event"}

${NATS_FLAGS_HELP}`;

/** The `aether events` subcommand. */
export async function events(argv: readonly string[]): Promise<number> {
  let nc: NatsConnection | null = null;
  let messages: ConsumerMessages | null = null;
  let stopping = false;
  const onSignal = () => {
    stopping = true;
    messages?.stop();
  };
  let closedPipe = false;
  const onStdoutError = (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    closedPipe = true;
    onSignal();
  };
  try {
    const { values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        ...NATS_FLAGS,
        cluster: { type: 'string' },
        since: { type: 'string' },
        follow: { type: 'boolean', short: 'f' },
        type: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (values.cluster === undefined) throw new UsageError('--cluster is required');
    if (!isNodeId(values.cluster))
      throw new UsageError(
        `--cluster: letters, digits, "_" or "-" (1-64), got ${JSON.stringify(values.cluster)}`,
      );
    const follow = values.follow === true;
    const since = parseSince(values.since ?? (follow ? 'new' : 'all'), Date.now());
    const types = values.type?.split(',').map((t) => t.trim()) ?? [];
    for (const t of types) {
      if (!(DOMAIN_EVENT_TYPES as readonly string[]).includes(t))
        throw new UsageError(
          `--type: unknown event type ${JSON.stringify(t)} (known: ${DOMAIN_EVENT_TYPES.join(', ')})`,
        );
    }
    const connOpts = natsConnectionOptions(values);
    const n = names(values.cluster);

    nc = await connect({ ...NATS_DEFAULTS, name: `aether-events-${values.cluster}`, ...connOpts });
    const jsm = await jetstreamManager(nc, { timeout: 2_000 });
    const info = await jsm.streams.info(n.auditStream).catch((err: unknown) => {
      if (err instanceof Error && /stream not found/i.test(err.message)) {
        throw new Error(
          `no audit stream "${n.auditStream}": no node of cluster "${values.cluster}" has run on this NATS`,
        );
      }
      throw err;
    });
    const last = info.state.last_seq;
    if (
      !follow &&
      (info.state.messages === 0 || (since.kind === 'seq' && since.seq > last) || since.kind === 'new')
    )
      return 0;

    const consumerOpts: Partial<OrderedConsumerOptions> = {
      // One type filters on the server; several need server 2.10 (filter_subjects), so we filter here.
      ...(types.length === 1 && types[0] ? { filter_subjects: n.event(types[0]) } : {}),
      ...(since.kind === 'all' ? { deliver_policy: DeliverPolicy.All } : {}),
      ...(since.kind === 'new' ? { deliver_policy: DeliverPolicy.New } : {}),
      ...(since.kind === 'seq'
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: since.seq }
        : {}),
      ...(since.kind === 'time'
        ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: since.at.toISOString() }
        : {}),
    };
    // An ordered consumer recreates itself after a server failover and never skips or repeats.
    const consumer = await jetstream(nc, { timeout: 2_000 }).consumers.get(n.auditStream, consumerOpts);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    // Piped into `head`: the reader went away, which is a normal way to stop.
    process.stdout.on('error', onStdoutError);
    let malformed = 0;
    const print = (m: { seq: number; data: Uint8Array; info: { timestampNanos: number } }) => {
      if (closedPipe) return;
      const stored = new Date(Math.floor(m.info.timestampNanos / 1_000_000)).toISOString();
      let parsed: ReturnType<typeof parseDomainEvent>;
      try {
        parsed = parseDomainEvent(JSON.parse(new TextDecoder().decode(m.data)));
      } catch (err) {
        parsed = { ok: false, error: (err as Error).message };
      }
      if (!parsed.ok) {
        malformed++;
        process.stderr.write(`#${m.seq} malformed, skipped: ${parsed.error.slice(0, 200)}\n`);
        return;
      }
      const e = parsed.value;
      if (types.length > 1 && !types.includes(e.type)) return;
      process.stdout.write(
        values.json
          ? `${JSON.stringify({ seq: m.seq, stored, event: e })}\n`
          : `${stored} #${m.seq} ${e.type.padEnd(20)} ${describeEvent(e)}  [term ${e.term} v${e.version} by ${e.origin}]\n`,
      );
    };
    if (!follow) {
      // History only: stop at the end as it was when we started.
      for (;;) {
        const m = await consumer.next({ expires: 1_000 });
        if (m === null || stopping) break;
        if (m.seq > last) break;
        print(m);
        if (m.seq >= last || m.info.pending === 0) break;
      }
    } else {
      messages = await consumer.consume({ max_messages: 1_000 });
      // On stderr, so stdout stays pure events: scripts (and tests) know the follow is live.
      process.stderr.write(`following ${n.auditStream}\n`);
      if (stopping) messages.stop();
      for await (const m of messages) print(m);
    }
    if (malformed > 0) process.stderr.write(`${malformed} malformed entries skipped\n`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`aether events: ${err.message}\n\nRun "aether events --help" for the options.`);
      return 2;
    }
    if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
      console.error(`aether events: ${err.message}`);
      return 2;
    }
    console.error(`aether events: ${(err as Error).message}`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.stdout.off('error', onStdoutError);
    await nc?.close().catch(() => {});
  }
}
