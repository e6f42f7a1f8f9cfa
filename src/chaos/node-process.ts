/**
 * One `aether node --json` process of a chaos run: spawned with `node <bin> node --json …`,
 * signalled by its PID, its status lines read as they come.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StoppedError } from '../domain/errors.js';
import type { StatusLine } from '../observe/status-line.js';

/**
 * The built CLI: beside this module when it runs from `dist`, else the checkout's `dist` (run
 * `npm run build` first).
 */
export function defaultNodeBin(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const sibling = join(here, '..', 'cli', 'bin.js');
  if (existsSync(sibling)) return sibling;
  return join(here, '..', '..', 'dist', 'src', 'cli', 'bin.js');
}

const live = new Set<ChildProcess>();
let hooked = false;

/** A status line with the host time it was read. */
export interface ReadStatus extends StatusLine {
  readonly receivedAt: number;
}

export interface NodeProcessOptions {
  readonly nodeId: string;
  /** Arguments after `node --id ID --json`. */
  readonly args: readonly string[];
  /** Default {@link defaultNodeBin}. */
  readonly bin?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Called with each status line (and after exit, with null). */
  readonly onStatus: (s: ReadStatus | null) => void;
  /** The host clock. */
  readonly now: () => number;
}

export class NodeProcess {
  readonly nodeId: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #last: ReadStatus | null = null;
  #stderr = '';
  #partial = '';
  readonly #proc: ChildProcess;

  constructor(readonly o: NodeProcessOptions) {
    this.nodeId = o.nodeId;
    const bin = o.bin ?? defaultNodeBin();
    if (!existsSync(bin)) throw new StoppedError(`the aether CLI is not built at ${bin}: run npm run build`);
    this.#proc = spawn(process.execPath, [bin, 'node', '--id', o.nodeId, '--json', ...o.args], {
      env: { ...process.env, ...o.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(this.#proc);
    if (!hooked) {
      hooked = true;
      // A run that dies must not leave node processes behind.
      process.once('exit', () => {
        for (const p of live) p.kill('SIGKILL');
      });
    }
    this.exited = new Promise((resolve) =>
      this.#proc.once('exit', (code, signal) => {
        live.delete(this.#proc);
        resolve({ code, signal });
        o.onStatus(null);
      }),
    );
    this.#proc.stdout?.on('data', (d: Buffer) => this.#onStdout(d.toString()));
    this.#proc.stderr?.on('data', (d: Buffer) => {
      this.#stderr = (this.#stderr + d.toString()).slice(-20_000);
    });
  }

  get pid(): number {
    return this.#proc.pid ?? -1;
  }

  running(): boolean {
    return this.#proc.exitCode === null && this.#proc.signalCode === null;
  }

  /** The latest status line, or null before the first. */
  status(): ReadStatus | null {
    return this.#last;
  }

  stderr(): string {
    return this.#stderr;
  }

  /** Sends a signal to the process by its PID (nothing once it has exited). */
  signal(sig: NodeJS.Signals): void {
    if (this.running() && this.#proc.pid !== undefined) process.kill(this.#proc.pid, sig);
  }

  #onStdout(chunk: string): void {
    this.#partial += chunk;
    const lines = this.#partial.split('\n');
    this.#partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      let obj: unknown;
      try {
        obj = JSON.parse(line);
      } catch {
        continue;
      }
      if (!isStatus(obj)) continue;
      this.#last = { ...obj, receivedAt: this.o.now() };
      this.o.onStatus(this.#last);
    }
  }
}

function isStatus(v: unknown): v is StatusLine {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return o.type === 'status' && typeof o.node === 'string' && typeof o.version === 'number';
}
