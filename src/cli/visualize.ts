/**
 * `aether visualize`: the live visualizer for a cluster running in other processes. Subscribes to
 * the observations its nodes publish (`inspection: { publish: true }`) and to its domain events,
 * and serves the page. Read-only: the page shows no node controls in this mode.
 */
import { parseArgs } from 'node:util';
import { type NatsTransportOptions, natsTransport } from '../adapters/nats/nats-transport.js';
import { InvalidConfigError } from '../domain/errors.js';
import { isNodeId } from '../domain/values.js';
import type { Connection, Transport } from '../ports/transport.js';
import { type BusFeed, type BusFeedStats, feedRelayFromBus } from '../visualizer/bus-feed.js';
import { type Relay, type RelayLogger, startRelay } from '../visualizer/relay.js';
import { settleWithin } from './exit.js';
import { NATS_FLAGS, NATS_FLAGS_HELP, natsTransportOptions, UsageError } from './flags.js';

const HELP = `usage: aether visualize --cluster NAME [options]

Serves the live visualizer for a cluster whose nodes run elsewhere. The nodes must be created
with inspection: { publish: true, maxEventsPerSecond } to publish their statecharts and views on
aether.<cluster>.inspect.<nodeId>; domain events are read from aether.<cluster>.events.>.
Read-only: the page has no node controls in this mode.

options:
  --cluster NAME   cluster to show (required)
  --port N         HTTP port (default 4300; 0 picks a free one)
  --host ADDR      interface to bind (default 127.0.0.1)
  -h, --help       this text

${NATS_FLAGS_HELP}

Exit codes: 0 after SIGINT/SIGTERM; 1 when NATS cannot be reached (within --connect-timeout)
or the port cannot be bound; 2 on invalid options.`;

export interface VisualizerOptions {
  /** Where the cluster's nodes meet (e.g. `natsTransport({ servers })`). */
  readonly transport: Transport;
  readonly cluster: string;
  /** HTTP port; 0 (the default) picks a free one. */
  readonly port?: number;
  readonly host?: string;
  readonly logger?: RelayLogger;
}

/** A running visualizer: the relay serving the page and the feed filling it. */
export interface Visualizer {
  readonly relay: Relay;
  readonly url: string;
  stats(): BusFeedStats;
  close(): Promise<void>;
}

/**
 * Connects to the transport, starts a relay without controls and feeds it from the bus.
 * @throws InvalidConfigError when the cluster name is invalid; transport errors when it cannot connect.
 */
export async function startVisualizer(o: VisualizerOptions): Promise<Visualizer> {
  if (!isNodeId(o.cluster)) {
    throw new InvalidConfigError(
      'cluster',
      `must be 1-64 characters of letters, digits, "_" or "-", got ${JSON.stringify(o.cluster)}`,
    );
  }
  const conn: Connection = await o.transport.connect(`visualizer-${process.pid}`);
  let relay: Relay | null = null;
  let feed: BusFeed | null = null;
  try {
    relay = await startRelay({
      ...(o.port !== undefined ? { port: o.port } : {}),
      ...(o.host !== undefined ? { host: o.host } : {}),
      ...(o.logger ? { logger: o.logger } : {}),
    });
    feed = await feedRelayFromBus({
      bus: conn.bus,
      cluster: o.cluster,
      relay,
      ...(o.logger ? { logger: o.logger } : {}),
    });
  } catch (err) {
    await relay?.close();
    await conn.close().catch(() => {});
    throw err;
  }
  const r = relay;
  const f = feed;
  return {
    relay: r,
    url: r.url,
    stats: () => f.stats(),
    async close() {
      f.close();
      await r.close();
      await conn.close().catch(() => {});
    },
  };
}

export async function visualize(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      ...NATS_FLAGS,
      cluster: { type: 'string' },
      port: { type: 'string', default: '4300' },
      host: { type: 'string', default: '127.0.0.1' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  let connOpts: NatsTransportOptions;
  try {
    if (values.cluster === undefined) throw new UsageError('--cluster is required');
    connOpts = await natsTransportOptions(values);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`aether visualize: ${err.message}\n\n${HELP}`);
    return 2;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidConfigError(
      '--port',
      `must be an integer in [0, 65535], got ${JSON.stringify(values.port)}`,
    );
  }
  const logger: RelayLogger = {
    info: () => {},
    warn: (obj, msg) =>
      console.error(
        `warn: ${msg ?? ''} ${JSON.stringify(obj, (_k, v: unknown) => (v instanceof Error ? v.message : v))}`,
      ),
  };
  let viz: Visualizer;
  try {
    viz = await startVisualizer({
      transport: natsTransport(connOpts),
      cluster: values.cluster,
      port,
      host: values.host,
      logger,
    });
  } catch (err) {
    if (err instanceof InvalidConfigError) throw err;
    // NATS not reached, port taken: a failure at run time, exit 1 in one line.
    const code = (err as { code?: unknown }).code;
    console.error(
      `aether visualize: ${typeof code === 'string' ? `${code}: ` : ''}${(err as Error).message}`,
    );
    return 1;
  }
  console.log(`aether visualize: cluster ${values.cluster}\nvisualizer: ${viz.url} (Ctrl-C to stop)`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  const s = viz.stats();
  await settleWithin(viz.close());
  console.log(
    `received ${s.received} observations; dropped ${s.malformed.inspect + s.malformed.events} malformed`,
  );
  return 0;
}
