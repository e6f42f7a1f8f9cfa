/**
 * nats-server processes a chaos run starts for itself: one server, or a cluster of three with
 * routes between them, each with JetStream on a temporary store directory and a client port on
 * loopback chosen by the server (no race for a free port).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { StoppedError, TimeoutError } from '../domain/errors.js';

/** One nats-server process of a run. */
export interface NatsServerProcess {
  readonly name: string;
  /** Client port on 127.0.0.1 (kept across restarts). */
  readonly port: number;
  readonly url: string;
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

/** The servers of a run. */
export interface NatsServers {
  readonly servers: readonly NatsServerProcess[];
  readonly urls: readonly string[];
  /** Stops every server and removes the store directories. */
  close(): Promise<void>;
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

async function freePort(): Promise<number> {
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

async function until(probe: () => Promise<boolean> | boolean, withinMs: number, what: string): Promise<void> {
  const deadline = Date.now() + withinMs;
  let last: unknown = null;
  for (;;) {
    try {
      if (await probe()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new TimeoutError(
        `timed out after ${withinMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, 50));
  }
}

class ServerProcess implements NatsServerProcess {
  port = 0;
  #proc: ChildProcess | null = null;
  #buf = '';

  constructor(
    readonly name: string,
    readonly storeDir: string,
    private readonly bin: string,
    private readonly extra: readonly string[],
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
    const args = [
      '-a',
      '127.0.0.1',
      '-p',
      String(this.port || -1),
      '-n',
      this.name,
      '-js',
      '-sd',
      this.storeDir,
    ];
    const proc = spawn(this.bin, [...args, ...this.extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#proc = proc;
    killOnExit(proc);
    this.#buf = '';
    const onData = (d: Buffer) => {
      this.#buf += d.toString();
      if (this.#buf.length > 200_000) this.#buf = this.#buf.slice(-100_000);
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    await until(
      () => {
        if (!this.running())
          throw new StoppedError(`nats-server ${this.name} exited:\n${this.#buf.slice(-1000)}`);
        const m = /Listening for client connections on [\d.]+:(\d+)/.exec(this.#buf);
        if (m?.[1]) this.port = Number(m[1]);
        return m !== null;
      },
      10_000,
      `nats-server ${this.name} to listen`,
    );
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
}

const rand = () => Math.random().toString(36).slice(2, 8);

/**
 * Starts `count` servers (1, or 3 for a cluster with routes between them) and waits until JetStream
 * accepts a stream with one replica per server.
 */
export async function startNatsServers(count: 1 | 3): Promise<NatsServers> {
  const bin = findNatsServer();
  const id = `chaos-${rand()}`;
  const dirs: string[] = [];
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), 'aether-chaos-nats-'));
    dirs.push(d);
    return d;
  };
  const servers: ServerProcess[] = [];
  if (count === 1) servers.push(new ServerProcess(`${id}-s1`, dir(), bin, []));
  else {
    const routes: number[] = [];
    while (routes.length < count) {
      const p = await freePort();
      if (!routes.includes(p)) routes.push(p);
    }
    routes.forEach((port, i) => {
      const others = routes.filter((p) => p !== port).map((p) => `nats://127.0.0.1:${p}`);
      // --no_advertise: clients connect through their node's proxy only, never straight to another server.
      const extra = [
        '--cluster_name',
        id,
        '--cluster',
        `nats://127.0.0.1:${port}`,
        '--routes',
        others.join(','),
      ];
      servers.push(new ServerProcess(`${id}-s${i + 1}`, dir(), bin, [...extra, '--no_advertise']));
    });
  }
  const close = async () => {
    await Promise.all(servers.map((s) => s.stop()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
  try {
    await Promise.all(servers.map((s) => s.start()));
    await jetStreamReady(
      servers.map((s) => s.url),
      count,
    );
  } catch (err) {
    await close();
    throw err;
  }
  return { servers, urls: servers.map((s) => s.url), close };
}

/** Waits until a stream with `replicas` replicas can be created (a cluster's meta group needs a leader). */
async function jetStreamReady(urls: readonly string[], replicas: number): Promise<void> {
  const nc = await connect({
    servers: [...urls],
    timeout: 2_000,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
  });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 2_000, checkAPI: false });
    const name = `READY_${rand()}`;
    await until(
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
      30_000,
      `JetStream to accept an R${replicas} stream`,
    );
  } finally {
    await nc.close();
  }
}
