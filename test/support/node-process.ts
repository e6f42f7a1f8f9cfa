/**
 * Test kit: runs `aether node` and `aether events` as separate processes (through tsx, so no
 * build is needed, unless AETHER_BUILT=1) and reads what they print. Each `aether node` runs with `--json`, so its
 * stdout is one JSON object per line: status changes, store warnings and the final `stopped`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { natsTransport } from '../../src/adapters/nats/index.js';
import { type DomainEvent, parseDomainEvent } from '../../src/domain/events.js';
import type { StatusLine } from '../../src/observe/status-line.js';
import { names } from '../../src/protocol/names.js';
import { waitUntil } from './nats-server.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'src', 'cli', 'bin.ts');
/**
 * With AETHER_BUILT=1 the processes run the built CLI (`npm run build` first), as deployed: a
 * process then starts in a fraction of the CPU time tsx needs to compile the sources, which
 * matters when benchmarks start five at once on two cores.
 */
const BUILT = join(ROOT, 'dist', 'src', 'cli', 'bin.js');
const launch = (): string[] => (process.env.AETHER_BUILT === '1' ? [BUILT] : ['--import', 'tsx', BIN]);

/** One status line of `aether node --json`. */
export interface NodeStatusLine extends StatusLine {
  readonly at: string;
}

/** Any JSON line the node printed, with the test process's receive time. */
export interface PrintedLine {
  readonly type: string;
  readonly receivedAt: number;
  readonly [k: string]: unknown;
}

const live = new Set<ChildProcess>();
/** Conditions waiting for output; any process's output (or exit) re-checks them all. */
const waiters = new Set<() => void>();
let exitHook = false;

function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  // A failed test run must not leave node processes behind.
  process.once('exit', () => {
    for (const p of live) p.kill('SIGKILL');
  });
}

/** A CLI process: stdout lines (JSON when they parse), stderr kept for diagnosis. */
export class CliProcess {
  readonly lines: PrintedLine[] = [];
  readonly text: string[] = [];
  #stderr = '';
  #partial = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #proc: ChildProcess;

  constructor(args: readonly string[], env: NodeJS.ProcessEnv = {}) {
    installExitHook();
    // `node --import tsx` (not the tsx wrapper): one process, so a signal reaches the node itself.
    this.#proc = spawn(process.execPath, [...launch(), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(this.#proc);
    this.exited = new Promise((resolve) =>
      this.#proc.once('exit', (code, signal) => {
        live.delete(this.#proc);
        this.#wake();
        resolve({ code, signal });
      }),
    );
    this.#proc.stdout?.on('data', (d: Buffer) => this.#onStdout(d.toString()));
    this.#proc.stderr?.on('data', (d: Buffer) => {
      this.#stderr += d.toString();
      if (this.#stderr.length > 100_000) this.#stderr = this.#stderr.slice(-50_000);
      this.#wake();
    });
  }

  get pid(): number {
    return this.#proc.pid ?? -1;
  }

  running(): boolean {
    return this.#proc.exitCode === null && this.#proc.signalCode === null;
  }

  stderr(): string {
    return this.#stderr;
  }

  #onStdout(chunk: string): void {
    this.#partial += chunk;
    const parts = this.#partial.split('\n');
    this.#partial = parts.pop() ?? '';
    for (const line of parts) {
      if (line.trim() === '') continue;
      this.text.push(line);
      try {
        const obj = JSON.parse(line) as Record<string, unknown>;
        if (obj && typeof obj === 'object') {
          const type = typeof obj.type === 'string' ? obj.type : 'json';
          this.lines.push({ ...obj, type, receivedAt: Date.now() });
        }
      } catch {
        // a human-readable line
      }
    }
    this.#wake();
  }

  #wake(): void {
    for (const w of [...waiters]) w();
  }

  /**
   * Resolves when `cond` holds, checked after any process's output or exit; rejects after
   * `timeoutMs` showing this process's last output.
   */
  waitFor(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}\nlast stdout:\n${this.text.slice(-5).join('\n')}\nstderr:\n${this.#stderr.slice(-2000)}`,
          ),
        );
      }, timeoutMs);
      const check = () => {
        if (!cond()) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
    });
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running()) this.#proc.kill(sig);
  }
}

/** An `aether node --json` process. */
export class NodeProcess extends CliProcess {
  constructor(
    readonly id: string,
    args: readonly string[],
    env?: NodeJS.ProcessEnv,
  ) {
    super(['node', '--id', id, '--json', ...args], env);
  }

  statuses(): NodeStatusLine[] {
    return this.lines.filter((l) => l.type === 'status') as unknown as NodeStatusLine[];
  }

  /** The latest status line, or null before the first. */
  status(): NodeStatusLine | null {
    return this.statuses().at(-1) ?? null;
  }
}

/**
 * The arguments of an `aether node` in a test cluster: NATS at `url`, FAST timing, warnings only,
 * then `extra` (e.g. `--weight 2`).
 */
export function fastNodeArgs(url: string, cluster: string, shards: number, ...extra: string[]): string[] {
  return [
    '--nats',
    url,
    '--cluster',
    cluster,
    '--shards',
    String(shards),
    '--timing',
    'fast',
    '--log-level',
    'warn',
    ...extra,
  ];
}

/** Starts `aether node` processes for `ids`, all with the same extra arguments. */
export function spawnNodes(ids: readonly string[], args: readonly string[]): NodeProcess[] {
  return ids.map((id) => new NodeProcess(id, args));
}

/** Sends SIGKILL to every process still running and waits for them to exit. */
export async function killAll(procs: readonly CliProcess[]): Promise<void> {
  for (const p of procs) p.signal('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
}

/**
 * Whether the running nodes agree on one converged cluster: the same leader, term and map
 * version, every listed node Active, no shard unowned, and their shards adding up to `shardCount`.
 */
export function converged(nodes: readonly NodeProcess[], shardCount: number): boolean {
  const st = nodes.map((n) => n.status());
  if (st.some((s) => s === null || s.status !== 'Active' || s.unowned !== 0)) return false;
  const s0 = st[0]!;
  if (s0.leader === null) return false;
  for (const s of st) {
    if (s!.leader !== s0.leader || s!.term !== s0.term || s!.version !== s0.version) return false;
    for (const n of nodes) if (s!.nodes[n.id] !== 'Active') return false;
  }
  if (st.filter((s) => s!.isLeader).length !== 1) return false;
  return st.reduce((sum, s) => sum + s!.shards, 0) === shardCount;
}

/**
 * Reads a cluster's whole audit stream straight from NATS (not through any node), retrying for up
 * to `timeoutMs` while the stream is unavailable (e.g. electing a new leader after a server died).
 */
export async function readAudit(
  servers: string | readonly string[],
  cluster: string,
  timeoutMs = 15_000,
): Promise<{ seq: number; event: DomainEvent }[]> {
  let result: { seq: number; event: DomainEvent }[] = [];
  await waitUntil(
    async () => {
      result = await readAuditOnce(servers, cluster);
      return true;
    },
    { timeoutMs, intervalMs: 250, what: `the audit stream of ${cluster} to be readable` },
  );
  return result;
}

async function readAuditOnce(
  servers: string | readonly string[],
  cluster: string,
): Promise<{ seq: number; event: DomainEvent }[]> {
  const conn = await natsTransport({ servers: typeof servers === 'string' ? servers : [...servers] }).connect(
    `audit-reader-${Math.random().toString(36).slice(2, 8)}`,
  );
  try {
    const n = names(cluster);
    const log = await conn.auditLog(n.auditStream, n.events);
    const out: { seq: number; event: DomainEvent }[] = [];
    for await (const m of log.read(1)) {
      const p = parseDomainEvent(JSON.parse(new TextDecoder().decode(m.data)));
      if (p.ok) out.push({ seq: m.seq, event: p.value });
    }
    return out;
  } finally {
    await conn.close();
  }
}

/** Terms with more than one LeaderElected node in the audit stream (should be none). */
export function doubleLeaders(events: readonly { event: DomainEvent }[]): Map<number, Set<string>> {
  const byTerm = new Map<number, Set<string>>();
  for (const { event: e } of events) {
    if (e.type !== 'LeaderElected') continue;
    const set = byTerm.get(e.term) ?? new Set<string>();
    set.add(e.nodeId);
    byTerm.set(e.term, set);
  }
  return new Map([...byTerm].filter(([, s]) => s.size > 1));
}

/** Terms in which more than one node's status lines claimed to lead (should be none). */
export function doubleClaims(nodes: readonly NodeProcess[]): Map<number, Set<string>> {
  const byTerm = new Map<number, Set<string>>();
  for (const n of nodes) {
    for (const s of n.statuses()) {
      if (!s.isLeader || s.term === null || s.leader !== n.id) continue;
      const set = byTerm.get(s.term) ?? new Set<string>();
      set.add(n.id);
      byTerm.set(s.term, set);
    }
  }
  return new Map([...byTerm].filter(([, s]) => s.size > 1));
}

export { waitUntil };
