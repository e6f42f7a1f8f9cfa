/**
 * Every `aether` subcommand that connects to NATS exits with its documented code within a few
 * seconds when it cannot reach a server: against a listener that accepts TCP and never speaks (the
 * client's connect times out but leaves its socket open) and against a closed port.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/nats-server.js';

// The built command (`npm run build`), as an operator runs it: no compile step in the timing.
const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'src', 'cli', 'bin.js');

/** The documented default of `--connect-timeout`. */
const CONNECT_TIMEOUT_MS = 2_000;
/** What the process may take beyond the connect timeout: its own start, then closing or exiting. */
const EXIT_WITHIN_MS = CONNECT_TIMEOUT_MS + 3_000;

/** A TCP listener on loopback that accepts every connection and never writes a byte. */
async function silentListener(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    port,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const SUBCOMMANDS: Record<string, readonly string[]> = {
  node: ['node', '--cluster', 'c1', '--id', 'n1', '--timing', 'fast', '--log-level', 'silent'],
  events: ['events', '--cluster', 'c1'],
  'events --follow': ['events', '--cluster', 'c1', '--follow'],
  visualize: ['visualize', '--cluster', 'c1', '--port', '0'],
};

describe('aether subcommands exit when NATS cannot be reached', () => {
  let silent: Awaited<ReturnType<typeof silentListener>>;
  let closedPort: number;
  const procs: ReturnType<typeof spawn>[] = [];

  beforeAll(async () => {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run "npm run build" first`);
    silent = await silentListener();
    closedPort = await freePort();
  });

  afterAll(async () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await silent.close();
  });

  async function run(args: readonly string[], url: string) {
    const started = Date.now();
    const p = spawn(process.execPath, [BIN, ...args, '--nats', url], { stdio: ['ignore', 'ignore', 'pipe'] });
    procs.push(p);
    let stderr = '';
    p.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      p.once('exit', (code, signal) => r({ code, signal })),
    );
    const timedOut = new Promise<'hung'>((r) => setTimeout(() => r('hung'), EXIT_WITHIN_MS + 5_000).unref());
    const exit = await Promise.race([exited, timedOut]);
    return { exit, elapsed: Date.now() - started, stderr };
  }

  for (const [name, args] of Object.entries(SUBCOMMANDS)) {
    it(`${name}: exit 1 within the connect timeout + 3 s against a listener that never speaks`, async () => {
      const r = await run(args, `nats://127.0.0.1:${silent.port}`);
      expect(r.exit, r.stderr).toEqual({ code: 1, signal: null });
      expect(r.elapsed).toBeLessThan(EXIT_WITHIN_MS);
      expect(r.stderr).toMatch(/no NATS server answered within 2000 ms/);
    });

    it(`${name}: exit 1 at once against a closed port`, async () => {
      const r = await run(args, `nats://127.0.0.1:${closedPort}`);
      expect(r.exit, r.stderr).toEqual({ code: 1, signal: null });
      expect(r.elapsed).toBeLessThan(EXIT_WITHIN_MS);
      expect(r.stderr).toMatch(/connection refused/);
    });
  }
});
