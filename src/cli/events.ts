/**
 * `aether events`: prints a cluster's domain events from its audit stream — history from a
 * sequence, a time or the start, and optionally the live events after it.
 */
import { parseArgs } from 'node:util';
import { DeliverPolicy, jetstream, jetstreamManager, type OrderedConsumerOptions } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats } from '../adapters/nats/connect.js';
import { DOMAIN_EVENT_TYPES, type DomainEvent, parseDomainEvent } from '../domain/events.js';
import { names } from '../protocol/names.js';
import { settleWithin } from './exit.js';
import {
  durationMs,
  isParseArgsError,
  NATS_FLAGS,
  NATS_FLAGS_HELP,
  natsTransportOptions,
  requireCluster,
  UsageError,
} from './flags.js';
import { followStream } from './follow-stream.js';

/** Where `aether events` starts reading. */
export type Since =
  | { kind: 'all' }
  | { kind: 'new' }
  | { kind: 'seq'; seq: number }
  | { kind: 'time'; at: Date };

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
  // Plain digits were a sequence above, so a duration here has a unit.
  const back = durationMs(value);
  if (back !== null) return { kind: 'time', at: new Date(now - back) };
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
  --since WHEN     all, new (only events after now), a stream sequence (42), a duration
                   back from now (30s, 5m, 2h) or an ISO time; default all, or new with --follow
  --follow, -f     keep printing live events after the history (until Ctrl-C); across a
                   NATS reconnect it resumes after the last event read and says so on stderr
  --type T,...     only these event types (${DOMAIN_EVENT_TYPES.join(', ')})
  --json           one JSON object per line: {"seq", "stored", "event"}

${NATS_FLAGS_HELP}

Exit codes: 0 when the history is printed (or --follow is stopped by a signal or a closed pipe);
1 when NATS cannot be reached (within --connect-timeout) or the audit stream cannot be read;
2 on invalid options.`;

/** The `aether events` subcommand. */
export async function events(argv: readonly string[]): Promise<number> {
  let nc: NatsConnection | null = null;
  const stop = new AbortController();
  const onSignal = () => stop.abort();
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
    const cluster = requireCluster(values.cluster);
    const follow = values.follow === true;
    const since = parseSince(values.since ?? (follow ? 'new' : 'all'), Date.now());
    const types = values.type?.split(',').map((t) => t.trim()) ?? [];
    for (const t of types) {
      if (!(DOMAIN_EVENT_TYPES as readonly string[]).includes(t))
        throw new UsageError(
          `--type: unknown event type ${JSON.stringify(t)} (known: ${DOMAIN_EVENT_TYPES.join(', ')})`,
        );
    }
    const connOpts = await natsTransportOptions(values);
    const n = names(cluster);

    nc = await connectNats({ name: `aether-events-${cluster}`, ...connOpts }, 'aether events');
    const jsm = await jetstreamManager(nc, { timeout: 2_000 });
    const info = await jsm.streams.info(n.auditStream).catch((err: unknown) => {
      if (err instanceof Error && /stream not found/i.test(err.message)) {
        throw new Error(
          `no audit stream "${n.auditStream}": no node of cluster "${cluster}" has run on this NATS`,
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

    const filter = types.length === 1 && types[0] ? n.event(types[0]) : undefined;
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
      const consumerOpts: Partial<OrderedConsumerOptions> = {
        // One type filters on the server; several need server 2.10 (filter_subjects), so we filter here.
        ...(filter !== undefined ? { filter_subjects: filter } : {}),
        ...(since.kind === 'all' ? { deliver_policy: DeliverPolicy.All } : {}),
        ...(since.kind === 'seq'
          ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: since.seq }
          : {}),
        ...(since.kind === 'time'
          ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: since.at.toISOString() }
          : {}),
      };
      const consumer = await jetstream(nc, { timeout: 2_000 }).consumers.get(n.auditStream, consumerOpts);
      // History only: stop at the end as it was when we started.
      for (;;) {
        const m = await consumer.next({ expires: 1_000 });
        if (m === null || stop.signal.aborted) break;
        if (m.seq > last) break;
        print(m);
        if (m.seq >= last || m.info.pending === 0) break;
      }
    } else {
      // On stderr, so stdout stays pure events: scripts (and tests) know the follow is live.
      process.stderr.write(`following ${n.auditStream}\n`);
      await followStream({
        nc,
        stream: n.auditStream,
        // "new" is after the last event stored now, so nothing stored meanwhile is missed.
        start:
          since.kind === 'all'
            ? { kind: 'all' }
            : since.kind === 'time'
              ? { kind: 'time', at: since.at }
              : { kind: 'after', seq: since.kind === 'seq' ? since.seq - 1 : last },
        ...(filter !== undefined ? { filter } : {}),
        onMessage: print,
        note: (line) => process.stderr.write(`${line}\n`),
        signal: stop.signal,
      });
    }
    if (malformed > 0) process.stderr.write(`${malformed} malformed entries skipped\n`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`aether events: ${err.message}\n\nRun "aether events --help" for the options.`);
      return 2;
    }
    if (isParseArgsError(err)) {
      console.error(`aether events: ${err.message}`);
      return 2;
    }
    console.error(`aether events: ${(err as Error).message}`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.stdout.off('error', onStdoutError);
    if (nc) await settleWithin(nc.close());
  }
}
