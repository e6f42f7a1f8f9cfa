/**
 * Test kit: starts real `nats-server` processes (single or a three-server cluster) on free
 * loopback ports with temporary store directories, and tears them down again.
 *
 * Never depends on a server already listening on 4222: every server gets its own port.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

/** A running (or stopped, restartable) nats-server. */
export interface NatsServerHandle {
  /** Server name (`-n`), as reported in stream cluster info. */
  readonly name: string;
  /** Client URL, e.g. `nats://127.0.0.1:41234`. Stable across restarts. */
  readonly url: string;
  readonly port: number;
  /** JetStream store directory (kept across restarts, removed by `stopAll`). */
  readonly storeDir: string;
  /** The server's log so far (stderr), for diagnosing a failed test. */
  log(): string;
  /** Whether the process is running. */
  running(): boolean;
  /** Graceful stop (SIGTERM; SIGKILL after 5 s). */
  stop(): Promise<void>;
  /** Crash: SIGKILL, no shutdown. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and store directory. */
  restart(): Promise<void>;
}

export interface StartNatsServerOptions {
  /** Enable JetStream (`-js`). Default true. */
  readonly jetstream?: boolean;
  /** Server name. Default `n-<random>`. */
  readonly name?: string;
  /** Extra command-line arguments. */
  readonly args?: readonly string[];
}

export interface NatsCluster {
  readonly servers: readonly NatsServerHandle[];
  /** Client URLs of every server, for `servers:` in connection options. */
  readonly urls: readonly string[];
  readonly name: string;
  /** Stops every server of the cluster and removes their store directories. */
  stop(): Promise<void>;
}

const NOT_FOUND =
  'nats-server not found. Install it with: sudo apt-get install -y nats-server ' +
  '(npm test does this automatically when run as root on Debian)';

const live = new Set<ChildProcess>();
const handles = new Set<ServerImpl>();
const tempDirs = new Set<string>();
let exitHookInstalled = false;

/** Locates the nats-server binary on PATH or in the Debian locations. @throws Error with install advice. */
export function findNatsServer(): string {
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  const which = spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' });
  const onPath = which.status === 0 ? which.stdout.trim() : '';
  if (onPath && existsSync(onPath)) return onPath;
  for (const p of ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server']) {
    if (existsSync(p)) return p;
  }
  throw new Error(NOT_FOUND);
}

/** Whether a nats-server binary is available (for `describe.skipIf`-style guards). */
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
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `probe` until it returns true or the deadline passes. */
export async function waitUntil(
  probe: () => Promise<boolean> | boolean,
  opts: { timeoutMs: number; intervalMs?: number; what: string },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      if (await probe()) return;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      const why = lastErr instanceof Error ? `: ${lastErr.message}` : '';
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}${why}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
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

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A crashed test run must not leave servers behind.
  process.once('exit', () => {
    for (const p of live) p.kill('SIGKILL');
  });
}

interface ServerSpec {
  name: string;
  jetstream: boolean;
  storeDir: string;
  extra: readonly string[];
  cluster?: { name: string; port: number; routes: readonly number[] };
}

class ServerImpl implements NatsServerHandle {
  readonly name: string;
  readonly storeDir: string;
  port = 0;
  private proc: ChildProcess | null = null;
  private buf = '';

  constructor(
    private readonly bin: string,
    private readonly spec: ServerSpec,
  ) {
    this.name = spec.name;
    this.storeDir = spec.storeDir;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  log(): string {
    return this.buf;
  }

  running(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async start(): Promise<void> {
    const s = this.spec;
    // First start: `-p -1` lets the server choose a free port (no race); it logs the port.
    // Restarts reuse that port so clients reconnect to the same URL.
    const args = ['-a', '127.0.0.1', '-p', String(this.port || -1), '-n', s.name];
    if (s.jetstream) args.push('-js', '-sd', s.storeDir);
    if (s.cluster) {
      args.push('--cluster_name', s.cluster.name, '--cluster', `nats://127.0.0.1:${s.cluster.port}`);
      const routes = s.cluster.routes.map((p) => `nats://127.0.0.1:${p}`);
      if (routes.length > 0) args.push('--routes', routes.join(','));
    }
    args.push(...s.extra);
    installExitHook();
    const proc = spawn(this.bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    live.add(proc);
    proc.once('exit', () => live.delete(proc));
    const onData = (d: Buffer) => {
      this.buf += d.toString();
      if (this.buf.length > 200_000) this.buf = this.buf.slice(-100_000);
    };
    proc.stderr?.on('data', onData);
    proc.stdout?.on('data', onData);
    const exited = new Promise<never>((_, reject) =>
      proc.once('exit', (code, sig) =>
        reject(
          new Error(`nats-server ${s.name} exited (${code ?? sig}) at start:\n${this.buf.slice(-2000)}`),
        ),
      ),
    );
    exited.catch(() => {});
    const ready = (async () => {
      await waitUntil(
        () => {
          const m = /Listening for client connections on [\d.]+:(\d+)/.exec(this.buf);
          if (m?.[1]) this.port = Number(m[1]);
          return m !== null;
        },
        { timeoutMs: 10_000, what: `nats-server ${s.name} to listen` },
      );
      await waitUntil(() => tcpAccepts(this.port), {
        timeoutMs: 10_000,
        what: `nats-server ${s.name} to accept connections`,
      });
    })();
    await Promise.race([ready, exited]);
  }

  private async signal(sig: NodeJS.Signals, graceMs: number): Promise<void> {
    const p = this.proc;
    if (!p || !this.running()) return;
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(sig);
    const t = setTimeout(() => p.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(t);
  }

  stop(): Promise<void> {
    return this.signal('SIGTERM', 5_000);
  }

  kill(): Promise<void> {
    return this.signal('SIGKILL', 1_000);
  }

  async restart(): Promise<void> {
    if (this.running()) await this.stop();
    this.buf = '';
    await this.start();
  }
}

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

const rand = () => Math.random().toString(36).slice(2, 8);

/** Starts one nats-server (JetStream on by default) on a free loopback port with a temporary store. */
export async function startNatsServer(opts: StartNatsServerOptions = {}): Promise<NatsServerHandle> {
  const bin = findNatsServer();
  const server = new ServerImpl(bin, {
    name: opts.name ?? `n-${rand()}`,
    jetstream: opts.jetstream ?? true,
    storeDir: tempDir('aether-nats-'),
    extra: opts.args ?? [],
  });
  handles.add(server);
  await server.start();
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
  const bin = findNatsServer();
  const clusterName = `c-${rand()}`;
  const routePorts: number[] = [];
  while (routePorts.length < size) {
    const p = await freePort();
    if (!routePorts.includes(p)) routePorts.push(p);
  }
  const servers = routePorts.map((port, i) => {
    const s = new ServerImpl(bin, {
      name: `${clusterName}-s${i + 1}`,
      jetstream: true,
      storeDir: tempDir('aether-nats-c-'),
      extra: [],
      cluster: { name: clusterName, port, routes: routePorts.filter((p) => p !== port) },
    });
    handles.add(s);
    return s;
  });
  await Promise.all(servers.map((s) => s.start()));
  const urls = servers.map((s) => s.url);
  await waitForJetStream(urls, size, opts.readyTimeoutMs ?? 20_000);
  return {
    servers,
    urls,
    name: clusterName,
    stop: async () => {
      await Promise.all(servers.map((s) => s.stop()));
      for (const s of servers) {
        handles.delete(s);
        rmSync(s.storeDir, { recursive: true, force: true });
        tempDirs.delete(s.storeDir);
      }
    },
  };
}

/** Waits until a stream with `replicas` replicas can be created (then deletes it). */
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
    // No API check here: before the meta group has a leader even the account info request times out.
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

/** Stops every server started by this kit and removes their temporary directories. Use in `afterAll`. */
export async function stopAll(): Promise<void> {
  await Promise.all([...handles].map((h) => h.stop()));
  handles.clear();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}
