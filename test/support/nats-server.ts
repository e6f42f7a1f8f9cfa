/**
 * Test kit: starts real `nats-server` processes (single or a three-server cluster) on free
 * loopback ports with temporary store directories, and tears them all down again in `stopAll`.
 * The processes themselves are the chaos harness's (src/chaos/nats-servers.ts), so both start
 * servers the same way.
 *
 * Never depends on a server already listening on 4222: every server gets its own port.
 */
import * as nats from '../../src/chaos/nats-servers.js';

export {
  freePort,
  natsServerAvailable,
  waitForJetStream,
  waitUntil,
} from '../../src/chaos/nats-servers.js';

/** A running (or stopped, restartable) nats-server; its store directory is removed by `stopAll`. */
export type NatsServerHandle = nats.NatsServerProcess;

export type StartNatsServerOptions = nats.NatsServerOptions;

export interface NatsCluster {
  readonly servers: readonly NatsServerHandle[];
  /** Client URLs of every server, for `servers:` in connection options. */
  readonly urls: readonly string[];
  readonly name: string;
  /** Stops every server of the cluster and removes their store directories. */
  stop(): Promise<void>;
}

/** What `stopAll` closes: every server and cluster started here and not stopped as a whole yet. */
const open = new Set<{ close(): Promise<void> }>();

/** Locates the nats-server binary on PATH or in the Debian locations. @throws Error with install advice. */
export function findNatsServer(): string {
  try {
    return nats.findNatsServer();
  } catch (err) {
    throw new Error(
      'nats-server not found. Install it with: sudo apt-get install -y nats-server ' +
        '(npm test does this automatically when run as root on Debian)',
      { cause: err },
    );
  }
}

/** Starts one nats-server (JetStream on by default) on a free loopback port with a temporary store. */
export async function startNatsServer(opts: StartNatsServerOptions = {}): Promise<NatsServerHandle> {
  findNatsServer();
  const server = await nats.startNatsServer(opts);
  open.add(server);
  return server;
}

/**
 * Starts a cluster of `size` servers (routes on free ports, JetStream on each) and waits until
 * JetStream can place an R`size` stream — which takes a few seconds after start while the
 * meta group elects a leader.
 */
export async function startNatsCluster(
  size = 3,
  opts: { readyTimeoutMs?: number } = {},
): Promise<NatsCluster> {
  findNatsServer();
  const cluster = await nats.startNatsCluster({ size, ...opts });
  open.add(cluster);
  return {
    servers: cluster.servers,
    urls: cluster.urls,
    name: cluster.name,
    stop: async () => {
      open.delete(cluster);
      await cluster.close();
    },
  };
}

/** Stops every server started by this kit and removes their temporary directories. Use in `afterAll`. */
export async function stopAll(): Promise<void> {
  const all = [...open];
  open.clear();
  await Promise.all(all.map((s) => s.close()));
}
