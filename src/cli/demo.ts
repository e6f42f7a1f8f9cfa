/**
 * `aether demo`: a cluster in this process on the in-memory transport with short timings, a live
 * terminal view, the visualizer, and a scripted story whose every step is checked. Exits 0 only if
 * the story held.
 */
import { parseArgs } from 'node:util';
import { seededRandom } from '../adapters/memory/index.js';
import { FAST_TIMING } from '../config.js';
import { InvalidConfigError } from '../domain/errors.js';
import type { DomainEvent } from '../domain/events.js';
import { checkInvariants } from '../domain/invariants.js';
import type { Relay } from '../visualizer/relay.js';
import { checkBound, type StoryBounds, storyBounds } from './demo-bounds.js';
import { type HistoryEntry, LocalCluster } from './local-cluster.js';

interface StepResult {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

const HELP = `usage: aether demo [options]

Runs a cluster in this process (in-memory transport, short timings) and tells a story:
startup, a node joins, the leader crashes, a node drains and leaves, a node fails.

options:
  --nodes N         nodes to start with (default 5, at least 3)
  --shards N        shard count (default 1024)
  --seed N          seed for the story's choices (default: random, printed)
  --port N          visualizer port (default 4300; 0 picks a free one)
  --no-visualizer   do not start the visualizer
  --stay            keep running after the story (until Ctrl-C)
  --interactive     after the story, keys: c crash leader, f fail a follower,
                    d drain a follower, a add a node, q quit
  -h, --help        this text`;

/** What a caller other than the command line may change about the story. */
export interface DemoOptions {
  /** Bounds over those derived from the timing (a test tightens one to see the story fail). */
  readonly bounds?: Partial<StoryBounds>;
}

export async function demo(argv: readonly string[], options: DemoOptions = {}): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      nodes: { type: 'string', default: '5' },
      shards: { type: 'string', default: '1024' },
      seed: { type: 'string' },
      port: { type: 'string', default: '4300' },
      'no-visualizer': { type: 'boolean', default: false },
      stay: { type: 'boolean', default: false },
      interactive: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const nodes = intOption('--nodes', values.nodes, 3, 100);
  const shards = intOption('--shards', values.shards, 1, 65536);
  const port = intOption('--port', values.port, 0, 65535);
  const seed =
    values.seed === undefined
      ? Math.floor(Math.random() * 2 ** 31)
      : intOption('--seed', values.seed, 0, 2 ** 31);
  const rng = seededRandom(seed);
  const pick = (n: number) => Math.floor(rng() * n);
  const tty = process.stdout.isTTY === true;

  let relay: Relay | null = null;
  const cluster: LocalCluster = new LocalCluster({
    cluster: 'demo',
    shardCount: shards,
    timing: FAST_TIMING,
    inspection: !values['no-visualizer'],
    observe: (o) => relay?.publish(o),
  });
  if (!values['no-visualizer']) {
    const { startRelay } = await import('../visualizer/relay.js');
    relay = await startRelay({ port, onControl: (c) => cluster.control(c.action, c.nodeId) }).catch(() =>
      startRelay({ port: 0, onControl: (c) => cluster.control(c.action, c.nodeId) }),
    );
  }

  const steps: StepResult[] = [];
  const view = new TerminalView(cluster, steps, tty, shards);
  console.log(`aether demo: ${nodes} nodes, ${shards} shards, seed ${seed}`);
  if (relay) console.log(`visualizer: ${relay.url}`);
  view.start();

  const run = async (name: string, body: () => Promise<string>) => {
    view.note(`… ${name}`);
    try {
      const detail = await body();
      const violations = invariantViolations(cluster);
      if (violations.length > 0) throw new Error(`invariants: ${violations.join('; ')}`);
      steps.push({ name, ok: true, detail });
    } catch (err) {
      steps.push({ name, ok: false, detail: (err as Error).message });
    }
    view.printStep(steps[steps.length - 1]!);
    return steps[steps.length - 1]!.ok;
  };

  const t = FAST_TIMING;
  const bounds: StoryBounds = { ...storyBounds(t), ...options.bounds };
  /** Fails the step when the measured time exceeds its bound. */
  const holdBound = (measuredMs: number, boundMs: number, what: string) => {
    const over = checkBound(measuredMs, boundMs, what);
    if (over !== null) throw new Error(over);
  };
  const story: [string, () => Promise<string>][] = [
    [
      `startup: ${nodes} nodes elect one leader and own every shard`,
      async () => {
        await Promise.all(Array.from({ length: nodes }, () => cluster.add()));
        await cluster.waitFor(
          () => cluster.settled() && cluster.loads().size === nodes,
          10_000,
          'the cluster to settle',
        );
        const loads = [...cluster.loads().values()];
        const total = loads.reduce((a, b) => a + b, 0);
        if (total !== shards) throw new Error(`${total} of ${shards} shards owned`);
        if (Math.max(...loads) - Math.min(...loads) > 1) throw new Error(`uneven loads ${loads.join(',')}`);
        const l = cluster.leader()!;
        return `leader ${l.nodeId} term ${l.leader()?.term}, loads ${Math.min(...loads)}–${Math.max(...loads)}`;
      },
    ],
    [
      'a node joins and receives its share, moving only the minimum',
      async () => {
        const since = cluster.clock.now();
        const node = await cluster.add();
        await cluster.waitFor(
          () => cluster.settled() && (cluster.loads().get(node.nodeId) ?? 0) > 0,
          10_000,
          'the join rebalance',
        );
        const moved = cluster.eventsSince('ShardMigrated', since).length;
        const got = cluster.loads().get(node.nodeId) ?? 0;
        const min = Math.floor(shards / (nodes + 1));
        if (moved !== got || got < min || got > min + 1)
          throw new Error(`moved ${moved}, newcomer owns ${got}, minimum ${min}`);
        return `${node.nodeId} owns ${got}; ${moved} shards moved (minimum ${min}–${min + 1})`;
      },
    ],
    [
      'the leader crashes and exactly one new leader takes over',
      async () => {
        const old = cluster.leader()!;
        const since = cluster.clock.now();
        await cluster.crash(old.nodeId);
        await cluster.waitFor(
          () => cluster.leader() !== undefined && cluster.leader() !== old && cluster.settled(),
          t.leaseTtlMs + t.renewIntervalMs + 3_000,
          'a new leader',
        );
        const elected = cluster.eventsSince('LeaderElected', since);
        if (elected.length !== 1) throw new Error(`${elected.length} elections after the crash`);
        // The bound is on the election; the wait above also covers the settling after it.
        const took = elected[0]!.at - since;
        holdBound(took, bounds.leaderTakeoverMs, 'the new leader after the crash');
        const l = cluster.leader()!;
        return `${old.nodeId} crashed; ${l.nodeId} leads term ${l.leader()?.term} after ${took} ms (bound ${bounds.leaderTakeoverMs} ms)`;
      },
    ],
    [
      'a node drains: its shards move off, then it leaves',
      async () => {
        const target = cluster.follower(pick)!;
        const since = cluster.clock.now();
        await target.drain();
        await cluster.waitFor(() => cluster.settled(), 10_000, 'the drain to settle');
        const left = cluster.eventsSince('NodeLeft', since).find((e) => e.event.nodeId === target.nodeId);
        const moved = cluster
          .eventsSince('ShardMigrated', since)
          .filter((e) => e.event.from === target.nodeId);
        if (!left) throw new Error('no NodeLeft');
        if (moved.some((m) => m.at > left.at)) throw new Error('a shard moved after NodeLeft');
        if (cluster.loads().has(target.nodeId)) throw new Error('it still owns shards');
        return `${target.nodeId} handed off ${moved.length} shards, then left`;
      },
    ],
    [
      'a node fails and its shards are recovered',
      async () => {
        const target = cluster.follower(pick)!;
        const since = cluster.clock.now();
        await cluster.crash(target.nodeId);
        await cluster.waitFor(
          () =>
            cluster.eventsSince('NodeFailed', since).length > 0 &&
            cluster.settled() &&
            !cluster.loads().has(target.nodeId),
          t.failureTimeoutMs + 5_000,
          'failure detection and recovery',
        );
        const failed = cluster.eventsSince('NodeFailed', since)[0]!;
        const detected = failed.at - since;
        holdBound(detected, bounds.failureDetectionMs, 'the failure detection');
        const recovered = cluster
          .eventsSince('ShardAssigned', since)
          .filter((e) => e.event.reason === 'recovery');
        return `${target.nodeId} marked Failed after ${detected} ms (bound ${bounds.failureDetectionMs} ms); ${recovered.length} shards recovered`;
      },
    ],
  ];

  for (const [name, body] of story) {
    if (!(await run(name, body))) break;
  }
  const ok = steps.length === story.length && steps.every((s) => s.ok);
  view.printSummary(ok);

  if (values.interactive || values.stay) {
    if (relay) console.log(`visualizer still running: ${relay.url} (Ctrl-C to stop)`);
    await (values.interactive ? interactive(cluster, pick, view) : waitForSignal());
  }
  view.stop();
  await cluster.stopAll();
  await relay?.close();
  return ok ? 0 : 1;
}

function intOption(name: string, raw: string | undefined, min: number, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new InvalidConfigError(name, `must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  }
  return n;
}

function invariantViolations(cluster: LocalCluster): string[] {
  const leaders = cluster.running().filter((n) => n.isLeader());
  const out: string[] = [];
  if (leaders.length > 1) out.push(`two leaders: ${leaders.map((l) => l.nodeId).join(', ')}`);
  const state = cluster.leader()?.clusterState();
  if (state) for (const v of checkInvariants(state)) out.push(`${v.invariant}: ${v.message}`);
  return out;
}

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

async function interactive(
  cluster: LocalCluster,
  pick: (n: number) => number,
  view: TerminalView,
): Promise<void> {
  const stdin = process.stdin;
  if (!stdin.isTTY) return waitForSignal();
  stdin.setRawMode(true);
  stdin.resume();
  view.note('keys: c crash leader · f fail a follower · d drain a follower · a add a node · q quit');
  await new Promise<void>((resolve) => {
    stdin.on('data', (buf: Buffer) => {
      const key = buf.toString();
      const act = async () => {
        if (key === 'q' || key === '\u0003') return resolve();
        if (key === 'c') {
          const l = cluster.leader();
          if (l) view.note((await cluster.control('crash', l.nodeId)).message);
        } else if (key === 'f') {
          const f = cluster.follower(pick);
          if (f) view.note((await cluster.control('crash', f.nodeId)).message);
        } else if (key === 'd') {
          const f = cluster.follower(pick);
          if (f) view.note((await cluster.control('drain', f.nodeId)).message);
        } else if (key === 'a') {
          view.note((await cluster.control('add')).message);
        }
      };
      void act();
    });
  });
  stdin.setRawMode(false);
  stdin.pause();
}

const STATUS_COLOR: Record<string, string> = {
  Active: '\x1b[32m',
  Draining: '\x1b[33m',
  Failed: '\x1b[31m',
  Left: '\x1b[90m',
  Joining: '\x1b[36m',
};
const COLOR = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
const RESET = COLOR ? '\x1b[0m' : '';
const BOLD = COLOR ? '\x1b[1m' : '';
const GREEN = COLOR ? '\x1b[32m' : '';
const RED = COLOR ? '\x1b[31m' : '';

/** The live terminal view: a panel redrawn in place on a TTY; plain step lines otherwise. */
class TerminalView {
  #timer: ReturnType<typeof setInterval> | null = null;
  #lines = 0;
  #note = '';
  readonly #recent: HistoryEntry[] = [];
  #unsub: (() => void) | null = null;

  constructor(
    private readonly cluster: LocalCluster,
    private readonly steps: StepResult[],
    private readonly tty: boolean,
    private readonly shards: number,
  ) {}

  start(): void {
    this.#unsub = this.cluster.onEvent((e) => {
      if (
        e.event.type === 'ShardAssigned' ||
        e.event.type === 'ShardMigrated' ||
        e.event.type === 'LeadershipRenewed'
      )
        return;
      this.#recent.push(e);
      if (this.#recent.length > 8) this.#recent.shift();
      if (!this.tty) console.log(`  · ${describe(e.event)}`);
    });
    // A real-time display: the wall clock is the right timer here, not the cluster's clock.
    if (this.tty) this.#timer = setInterval(() => this.#draw(), 250);
  }

  note(text: string): void {
    this.#note = text;
    if (!this.tty) console.log(text);
  }

  printStep(s: StepResult): void {
    this.#clear();
    console.log(`${s.ok ? `${GREEN}✔` : `${RED}✘`}${RESET} ${s.name}\n    ${s.detail}`);
    this.#draw();
  }

  printSummary(ok: boolean): void {
    this.#clear();
    const passed = this.steps.filter((s) => s.ok).length;
    console.log(
      ok
        ? `\n${BOLD}story held${RESET}: ${passed} of ${passed} steps`
        : `\n${BOLD}story failed${RESET}: ${passed} steps held`,
    );
    this.#draw();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#unsub?.();
    this.#draw();
    this.#lines = 0;
  }

  #clear(): void {
    if (!this.tty || this.#lines === 0) return;
    process.stdout.write(`\x1b[${this.#lines}A\x1b[J`);
    this.#lines = 0;
  }

  #draw(): void {
    if (!this.tty) return;
    this.#clear();
    const leader = this.cluster.leader();
    const state = leader?.clusterState();
    const loads = this.cluster.loads();
    const out: string[] = [];
    out.push(
      `${BOLD}leader${RESET} ${leader ? `${leader.nodeId} (term ${leader.leader()?.term})` : '—'}   ${BOLD}shard map${RESET} v${state?.shardMap.version ?? 0}   ${BOLD}shards${RESET} ${this.shards}`,
    );
    const nodes = [...this.cluster.nodes.values()].map((n) => {
      const status = state?.nodes[n.nodeId]?.status ?? n.status();
      const crown = leader === n ? '★' : ' ';
      return `${crown}${STATUS_COLOR[status] ?? ''}${n.nodeId.padEnd(4)} ${status.padEnd(8)}${RESET} ${String(loads.get(n.nodeId) ?? 0).padStart(5)}`;
    });
    for (let i = 0; i < nodes.length; i += 4) out.push(`  ${nodes.slice(i, i + 4).join('   ')}`);
    for (const e of this.#recent) out.push(`  \x1b[90m${describe(e.event)}${RESET}`);
    if (this.#note) out.push(`  ${this.#note}`);
    process.stdout.write(`${out.join('\n')}\n`);
    this.#lines = out.length;
  }
}

function describe(e: DomainEvent): string {
  const who = 'nodeId' in e ? ` ${e.nodeId}` : '';
  switch (e.type) {
    case 'LeaderElected':
      return `LeaderElected${who} term ${e.term}`;
    case 'LeadershipLost':
      return `LeadershipLost${who} term ${e.term} (${e.reason})`;
    case 'RebalancingTriggered':
      return `RebalancingTriggered (${e.reason}) ${e.plan.length} moves planned`;
    case 'RebalancingCompleted':
      return `RebalancingCompleted ${e.moved} moved${e.skipped ? `, ${e.skipped} skipped` : ''}`;
    case 'NodeFailed':
      return `NodeFailed${who} (${e.orphaned.length} shards orphaned)`;
    case 'NodeLeft':
      return `NodeLeft${who} (${e.reason})`;
    default:
      return `${e.type}${who}`;
  }
}
