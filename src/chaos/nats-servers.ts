/**
 * nats-server processes started for a chaos run (and for the integration tests' kit): one server,
 * or a cluster with routes between them. Every server listens on loopback on a client port it
 * chooses itself (no race for a free port), keeps that port and its temporary store directory
 * across restarts, and loses the directory when it is closed.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { InvalidValueError, StoppedError, TimeoutError } from '../domain/errors.js';
import { type FaultyProxy, faultyProxy } from './tcp-proxy.js';

/** One nats-server process. */
export interface NatsServerProcess {
  /** Server name (`-n`), as reported in stream cluster info. */
  readonly name: string;
  /** Client port on 127.0.0.1 (kept across restarts). */
  readonly port: number;
  /** Client URL, e.g. `nats://127.0.0.1:41234`. Stable across restarts. */
  readonly url: string;
  /** JetStream store directory (kept across restarts, removed when the server is closed). */
  readonly storeDir: string;
  running(): boolean;
  /** What the server printed lately (for a failed run's report). */
  log(): string;
  /** Crash: SIGKILL. */
  kill(): Promise<void>;
  /** Starts it again on the same port and store. */
  restart(): Promise<void>;
  /** SIGTERM (SIGKILL after 5 s). */
  stop(): Promise<void>;
}

/** A server started on its own. */
export interface NatsServer extends NatsServerProcess {
  /** Stops the server and removes its store directory; it cannot be restarted after. */
  close(): Promise<void>;
}

/**
 * The routes of a cluster started with `routeProxies`: every server reaches each other one through a
 * loopback proxy of its own, so one server can be cut off from the rest while its clients stay
 * connected to it.
 */
export interface RouteCuts {
  /** Drops every route between server `index` and the others, and refuses new ones until {@link heal}. */
  cut(index: number): void;
  /** Lets server `index` route to the others again. */
  heal(index: number): void;
  /** Whether server `index` is cut off. */
  isCut(index: number): boolean;
}

/** The servers of a run. */
export interface NatsServers {
  readonly servers: readonly NatsServerProcess[];
  readonly urls: readonly string[];
  /** Present for a cluster whose routes run through proxies. */
  readonly routes?: RouteCuts;
  /** Stops every server and removes the store directories. */
  close(): Promise<void>;
}

/** Servers joined by routes into one NATS cluster. */
export interface NatsCluster extends NatsServers {
  /** The cluster name (`--cluster_name`); the servers are named `<name>-s1`, `<name>-s2`, … */
  readonly name: string;
}

export interface NatsServerOptions {
  /** JetStream (`-js`) on the server's store directory. Default true. */
  readonly jetstream?: boolean;
  /** Server name. Default `n-<random>`. */
  readonly name?: string;
  /** Extra command-line arguments. */
  readonly args?: readonly string[];
}

export interface NatsClusterOptions {
  /** How many servers. Default 3. */
  readonly size?: number;
  /** Cluster name. Default `c-<random>`. */
  readonly name?: string;
  /** Extra command-line arguments for every server. */
  readonly args?: readonly string[];
  /** How long JetStream may take to place a stream with one replica per server. Default 20 s. */
  readonly readyTimeoutMs?: number;
  /** Routes through a loopback proxy per ordered pair of servers, for {@link RouteCuts}. Default false. */
  readonly routeProxies?: boolean;
}

/** Locates nats-server ($NATS_SERVER_BIN, PATH, the Debian locations). @throws StoppedError with advice. */
export function findNatsServer(): string {
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  const which = spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' });
  const onPath = which.status === 0 ? which.stdout.trim() : '';
  if (onPath && existsSync(onPath)) return onPath;
  for (const p of ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server']) {
    if (existsSync(p)) return p;
  }
  throw new StoppedError(
    'nats-server not found: install it (e.g. apt-get install nats-server) or set NATS_SERVER_BIN',
  );
}

/** Whether a nats-server binary can be found (for skipping what needs one). */
export function natsServerAvailable(): boolean {
  try {
    findNatsServer();
    return true;
  } catch {
    return false;
  }
}

/** Asks the OS for a free TCP port on loopback (listen on :0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Polls `probe` until it returns true; a throw counts as "not yet".
 * @throws TimeoutError after `timeoutMs`, with the probe's last error.
 */
export async function waitUntil(
  probe: () => Promise<boolean> | boolean,
  opts: { readonly timeoutMs: number; readonly intervalMs?: number; readonly what: string },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      if (await probe()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? `: ${last.message}` : '';
      throw new TimeoutError(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}${why}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
}

/** Waits until a stream with `replicas` replicas can be created, then deletes it (a cluster's meta group needs a leader first). */
export async function waitForJetStream(
  urls: readonly string[],
  replicas: number,
  timeoutMs: number,
): Promise<void> {
  const nc = await connect({
    servers: [...urls],
    timeout: 2_000,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
  });
  try {
    // No API check: before the meta group has a leader even the account info request times out.
    const jsm = await jetstreamManager(nc, { timeout: 2_000, checkAPI: false });
    const name = `READY_${rand()}`;
    await waitUntil(
      async () => {
        await jsm.streams.add({
          name,
          subjects: [`_ready.${name}`],
          num_replicas: replicas,
          storage: StorageType.Memory,
        });
        await jsm.streams.delete(name);
        return true;
      },
      { timeoutMs, intervalMs: 250, what: `JetStream to accept an R${replicas} stream` },
    );
  } finally {
    await nc.close();
  }
}

const live = new Set<ChildProcess>();
let hooked = false;
function killOnExit(p: ChildProcess): void {
  live.add(p);
  p.once('exit', () => live.delete(p));
  if (hooked) return;
  hooked = true;
  // A run that dies must not leave servers behind.
  process.once('exit', () => {
    for (const q of live) q.kill('SIGKILL');
  });
}

function tcpAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const rand = () => Math.random().toString(36).slice(2, 8);

class ServerProcess implements NatsServer {
  port = 0;
  readonly storeDir = mkdtempSync(join(tmpdir(), 'aether-nats-'));
  #proc: ChildProcess | null = null;
  #buf = '';

  constructor(
    readonly name: string,
    private readonly bin: string,
    private readonly jetstream: boolean,
    private readonly args: readonly string[],
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  running(): boolean {
    const p = this.#proc;
    return p !== null && p.exitCode === null && p.signalCode === null;
  }

  log(): string {
    return this.#buf;
  }

  async start(): Promise<void> {
    // First start: `-p -1` lets the server choose a free port (no race); it logs the port.
    // Restarts reuse that port so clients reconnect to the same URL.
    const args = ['-a', '127.0.0.1', '-p', String(this.port || -1), '-n', this.name];
    if (this.jetstream) args.push('-js', '-sd', this.storeDir);
    const proc = spawn(this.bin, [...args, ...this.args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#proc = proc;
    killOnExit(proc);
    this.#buf = '';
    const onData = (d: Buffer) => {
      this.#buf += d.toString();
      if (this.#buf.length > 200_000) this.#buf = this.#buf.slice(-100_000);
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    const exited = new Promise<never>((_, reject) =>
      proc.once('exit', (code, sig) =>
        reject(
          new StoppedError(
            `nats-server ${this.name} exited (${code ?? sig}) at start:\n${this.#buf.slice(-2000)}`,
          ),
        ),
      ),
    );
    exited.catch(() => {});
    const ready = async () => {
      await waitUntil(
        () => {
          const m = /Listening for client connections on [\d.]+:(\d+)/.exec(this.#buf);
          if (m?.[1]) this.port = Number(m[1]);
          return m !== null;
        },
        { timeoutMs: 10_000, what: `nats-server ${this.name} to listen` },
      );
      // A client that connects right after the start must not be refused.
      await waitUntil(() => tcpAccepts(this.port), {
        timeoutMs: 10_000,
        what: `nats-server ${this.name} to accept connections`,
      });
    };
    await Promise.race([ready(), exited]);
  }

  async #signal(sig: NodeJS.Signals, graceMs: number): Promise<void> {
    const p = this.#proc;
    if (p === null || !this.running()) return;
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(sig);
    const t = setTimeout(() => p.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(t);
  }

  kill(): Promise<void> {
    return this.#signal('SIGKILL', 1_000);
  }

  stop(): Promise<void> {
    return this.#signal('SIGTERM', 5_000);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}

/** Starts servers and waits for `ready`; on any failure every one is closed again. */
async function started(servers: readonly ServerProcess[], ready: () => Promise<void>): Promise<void> {
  try {
    await Promise.all(servers.map((s) => s.start()));
    await ready();
  } catch (err) {
    await Promise.all(servers.map((s) => s.close()));
    throw err;
  }
}

/** Starts one nats-server (JetStream on by default) on loopback with a temporary store. */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServer> {
  const s = new ServerProcess(
    opts.name ?? `n-${rand()}`,
    findNatsServer(),
    opts.jetstream ?? true,
    opts.args ?? [],
  );
  await started([s], async () => {});
  return s;
}

/**
 * Starts a cluster of servers with routes between them (on free ports) and JetStream on each, and
 * waits until JetStream can place a stream with one replica per server, which takes a few seconds
 * after start while the meta group elects a leader.
 */
export async function startNatsCluster(opts: NatsClusterOptions = {}): Promise<NatsCluster> {
  const bin = findNatsServer();
  const size = opts.size ?? 3;
  const name = opts.name ?? `c-${rand()}`;
  const ports: number[] = [];
  while (ports.length < size + 1) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  const routes = ports.slice(0, size);
  // proxies[i][j]: the route server i solicits to server j.
  const proxies: (FaultyProxy | null)[][] = [];
  if (opts.routeProxies === true) {
    for (let i = 0; i < size; i++) {
      proxies.push(
        await Promise.all(routes.map((port, j) => (i === j ? null : faultyProxy({ targetPort: port })))),
      );
    }
  }
  const closeProxies = () =>
    Promise.all(proxies.flat().map((p) => p?.close() ?? Promise.resolve())).then(() => {});
  const servers = routes.map((port, i) => {
    const others =
      opts.routeProxies === true
        ? proxies[i]!.flatMap((p) => (p === null ? [] : [p.url]))
        : routes.filter((p) => p !== port).map((p) => `nats://127.0.0.1:${p}`);
    const cluster = ['--cluster_name', name, '--cluster', `nats://127.0.0.1:${port}`];
    if (others.length > 0) cluster.push('--routes', others.join(','));
    // Servers tell each other where to route to (implicit routes): an address nobody listens on keeps
    // every route on the proxies, which the servers already know as explicit routes.
    if (opts.routeProxies === true) cluster.push('--cluster_advertise', `127.0.0.1:${ports[size]}`);
    return new ServerProcess(`${name}-s${i + 1}`, bin, true, [...cluster, ...(opts.args ?? [])]);
  });
  const urls = () => servers.map((s) => s.url);
  try {
    await started(servers, () => waitForJetStream(urls(), size, opts.readyTimeoutMs ?? 20_000));
  } catch (err) {
    await closeProxies();
    throw err;
  }
  const close = async () => {
    await Promise.all(servers.map((s) => s.close()));
    await closeProxies();
  };
  const cutOff = new Set<number>();
  const pairsOf = (index: number) => {
    if (index < 0 || index >= size || !Number.isInteger(index))
      throw new InvalidValueError(`no server ${index}: the cluster has ${size}`);
    return proxies.flatMap((row, i) => row.filter((p, j) => p !== null && (i === index || j === index)));
  };
  const routeCuts: RouteCuts = {
    cut(index) {
      for (const p of pairsOf(index)) p!.cut();
      cutOff.add(index);
    },
    heal(index) {
      cutOff.delete(index);
      // A pair stays cut while its other end is cut off too.
      for (const [i, row] of proxies.entries()) {
        for (const [j, p] of row.entries()) {
          if (p !== null && (i === index || j === index) && !cutOff.has(i) && !cutOff.has(j)) p.heal();
        }
      }
    },
    isCut: (index) => cutOff.has(index),
  };
  return { servers, urls: urls(), name, close, ...(opts.routeProxies === true ? { routes: routeCuts } : {}) };
}

/**
 * Starts the servers of a chaos run: one, or a cluster of three (`chaos-<random>`) whose clients
 * reach only the server they were given; waits until JetStream accepts a stream with one replica
 * per server.
 */
export async function startNatsServers(count: 1 | 3): Promise<NatsServers> {
  const id = `chaos-${rand()}`;
  // A cluster readies in seconds; the run's budget leaves room for a loaded machine.
  const readyTimeoutMs = 30_000;
  if (count === 3) {
    // --no_advertise: clients connect through their node's proxy only, never straight to another server.
    return startNatsCluster({
      size: 3,
      name: id,
      args: ['--no_advertise'],
      readyTimeoutMs,
      routeProxies: true,
    });
  }
  const s = await startNatsServer({ name: `${id}-s1` });
  try {
    await waitForJetStream([s.url], 1, readyTimeoutMs);
  } catch (err) {
    await s.close();
    throw err;
  }
  return { servers: [s], urls: [s.url], close: () => s.close() };
}
