/**
 * Audit lag: how long after its commit (and its decision) an event is stored in the audit stream, on five `aether
 * node` processes over a real nats-server (started here on a free port), 1024 shards, fast timing.
 * Phases: the bootstrap (the first node places 1024 shards), formation (four more processes start at
 * once and take their share), joins and graceful leaves of a sixth node, and
 * a leader SIGKILL (whose backlog its successor appends from the outbox — reported apart, since it
 * waits for the failover by design). Commit → stored: the server's timestamp of the audit message −
 * that of the first topology revision carrying the event in its outbox (watched here). Decision →
 * stored: the audit message's timestamp − the event's `at` (the leader's clock when it decided, before
 * the commit). One host, one clock.
 *
 * Side by side, measured in the same run on the same server (the limit): one JetStream publish's
 * round trip with the client's own `js.publish`, and a pipelined burst of as many messages as the
 * bootstrap stores.
 *
 * Run: npm run bench:audit-lag [-- --rounds N] — prints a Markdown table and writes the figures to
 * bench/RESULTS-audit-lag.json.
 */
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { natsTransport } from '../src/adapters/nats/index.js';
import { parseDomainEvent } from '../src/domain/events.js';
import { decodeTopology } from '../src/protocol/codec.js';
import { names } from '../src/protocol/names.js';
import { decodeOutbox } from '../src/protocol/outbox.js';
import { TOPOLOGY_KEY } from '../src/runtime/topology-store.js';
import { startNatsServer, stopAll } from '../test/support/nats-server.js';
import { converged, fastNodeArgs, killAll, NodeProcess } from '../test/support/node-process.js';

const SHARDS = 1024;
const roundsArg = process.argv.indexOf('--rounds');
const ROUNDS = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 5;

interface Stats {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

function stats(values: readonly number[]): Stats {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? Number.NaN;
  return { count: s.length, p50: at(0.5), p99: at(0.99), max: s.at(-1) ?? Number.NaN };
}

/** The limit: JetStream publish round trips and a pipelined burst, on a stream of its own. */
async function measureLimit(url: string, burst: number): Promise<{ single: Stats; burstMs: number }> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    await jsm.streams.add({ name: 'limit', subjects: ['limit.>'] });
    const data = new Uint8Array(170).fill(65);
    const single: number[] = [];
    for (let i = 0; i < 500; i++) {
      const t0 = performance.now();
      await js.publish('limit.single', data, { msgID: `s${i}` });
      single.push(performance.now() - t0);
    }
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: burst }, (_, i) => js.publish('limit.burst', data, { msgID: `b${i}` })),
    );
    return { single: stats(single.slice(50)), burstMs: performance.now() - t0 };
  } finally {
    await nc.close();
  }
}

interface Stored {
  readonly id: string;
  readonly seq: number;
  readonly type: string;
  readonly term: number;
  /** Decision (the event's `at`) → stored. */
  readonly lagMs: number;
  readonly at: number;
  readonly storedAt: number;
}

async function readStream(url: string, cluster: string): Promise<Stored[]> {
  const conn = await natsTransport({ servers: url }).connect('bench-audit-reader');
  try {
    const n = names(cluster);
    const log = await conn.auditLog(n.auditStream, n.events);
    const out: Stored[] = [];
    for await (const m of log.read(1)) {
      const p = parseDomainEvent(JSON.parse(new TextDecoder().decode(m.data)));
      if (!p.ok) continue;
      out.push({
        id: p.value.id,
        seq: m.seq,
        type: p.value.type,
        term: p.value.term,
        lagMs: m.at - p.value.at,
        at: p.value.at,
        storedAt: m.at,
      });
    }
    return out;
  } finally {
    await conn.close();
  }
}

/**
 * When each event was committed: the server's timestamp of the first topology revision whose
 * outbox carries it (the record commits the batch's events with it). The bucket is created here as a
 * node creates it, so the watch sees every revision from the first.
 */
async function watchCommits(
  url: string,
  cluster: string,
): Promise<{ at: Map<string, number>; stop: () => void }> {
  const n = names(cluster);
  const conn = await natsTransport({ servers: url }).connect('bench-commit-watch');
  await conn.kv(n.topologyBucket, {});
  const nc = await connect({ servers: url });
  const kv = await new Kvm(jetstream(nc)).open(n.topologyBucket);
  const watch = await kv.watch({ key: TOPOLOGY_KEY });
  const at = new Map<string, number>();
  void (async () => {
    for await (const e of watch) {
      if (e.operation !== 'PUT') continue;
      const record = decodeTopology(e.value);
      if (!record.ok) continue;
      const outbox = decodeOutbox(record.value.outbox);
      if (!outbox.ok) continue;
      for (const ev of outbox.value) if (!at.has(ev.id)) at.set(ev.id, e.created.getTime());
    }
  })();
  return {
    at,
    stop: () => {
      watch.stop();
      void nc.close();
      void conn.close();
    },
  };
}

async function main(): Promise<void> {
  const server = await startNatsServer();
  const cluster = `lag${Math.random().toString(36).slice(2, 6)}`;
  const commits = await watchCommits(server.url, cluster);
  const args = fastNodeArgs(server.url, cluster, SHARDS);
  const procs: NodeProcess[] = [];
  const phases: { name: string; from: number; to: number }[] = [];
  const phase = async (name: string, run: () => Promise<void>) => {
    const from = Date.now();
    await run();
    phases.push({ name, from, to: Date.now() });
  };
  try {
    const first = new NodeProcess('n1', args);
    procs.push(first);
    await phase('bootstrap: the first node places 1024 shards', () =>
      first.waitFor(() => converged([first], SHARDS), 'n1 to place every shard', 60_000),
    );
    const others = ['n2', 'n3', 'n4', 'n5'].map((id) => new NodeProcess(id, args));
    procs.push(...others);
    const five = [first, ...others];
    await phase('formation: 4 more nodes start at once', () =>
      first.waitFor(() => converged(five, SHARDS), 'five nodes to converge', 60_000),
    );
    for (let r = 0; r < ROUNDS; r++) {
      const sixth = new NodeProcess('n6', args);
      procs.push(sixth);
      const six = [...five, sixth];
      await phase('join of a 6th node', () =>
        sixth.waitFor(() => converged(six, SHARDS), 'n6 to join', 60_000),
      );
      await phase('graceful leave of the 6th node', async () => {
        sixth.signal('SIGTERM');
        await sixth.exited;
        await five[0]!.waitFor(() => converged(five, SHARDS), 'n6 to leave', 60_000);
      });
    }
    const leader = five.find((p) => p.status()?.isLeader)!;
    const rest = five.filter((p) => p !== leader);
    await phase('leader SIGKILL (backlog appended by the successor)', async () => {
      leader.signal('SIGKILL');
      await leader.exited;
      await rest[0]!.waitFor(() => converged(rest, SHARDS), 'a new leader', 60_000);
    });
    // Let the last appends land before reading.
    await new Promise((r) => setTimeout(r, 1_000));
    const stored = await readStream(server.url, cluster);
    await killAll(procs);
    const limit = await measureLimit(server.url, stored.filter((s) => s.at < (phases[1]?.from ?? 0)).length);

    commits.stop();
    const rows: { phase: string; decision: Stats; commit: Stats }[] = [];
    const failover = phases.at(-1)!;
    const commitLag = (s: Stored) => {
      const c = commits.at.get(s.id);
      return c === undefined ? [] : [s.storedAt - c];
    };
    const row = (phase: string, of: Stored[]) =>
      rows.push({ phase, decision: stats(of.map((s) => s.lagMs)), commit: stats(of.flatMap(commitLag)) });
    const inPhase = (p: { from: number; to: number }) => stored.filter((s) => s.at >= p.from && s.at <= p.to);
    for (const name of [...new Set(phases.map((p) => p.name))]) {
      row(name, phases.filter((p) => p.name === name).flatMap(inPhase));
    }
    row(
      'all but the leader SIGKILL',
      stored.filter((s) => s.at < failover.from),
    );

    const header = `# audit lag — ${cpus()[0]?.model ?? 'cpu'} × ${cpus().length}, node ${process.version}, nats-server ${server.name}`;
    console.log(`${header}\n`);
    const ms = (v: number) => (Number.isNaN(v) ? '—' : `${v.toFixed(0)} ms`);
    const triple = (x: Stats) => `${ms(x.p50)} / ${ms(x.p99)} / ${ms(x.max)}`;
    console.log('| phase | events | commit → stored p50 / p99 / max | decision → stored p50 / p99 / max |');
    console.log('|---|---|---|---|');
    for (const r of rows)
      console.log(`| ${r.phase} | ${r.decision.count} | ${triple(r.commit)} | ${triple(r.decision)} |`);
    console.log(
      `| limit: one JetStream publish round trip (js.publish, 450 samples) | — | ${limit.single.p50.toFixed(2)} / ${limit.single.p99.toFixed(2)} / ${limit.single.max.toFixed(2)} ms | |`,
    );
    console.log(
      `| limit: a pipelined burst of ${stored.filter((s) => s.at < (phases[1]?.from ?? 0)).length} publishes (js.publish), to the last ack | — | ${limit.burstMs.toFixed(0)} ms | |`,
    );
    await writeFile(
      new URL('./RESULTS-audit-lag.json', import.meta.url),
      `${JSON.stringify(
        {
          measuredAt: new Date().toISOString(),
          machine: { cpu: cpus()[0]?.model ?? null, cores: cpus().length, node: process.version },
          setup: { nodes: 5, shards: SHARDS, timing: 'fast', rounds: ROUNDS, processes: true },
          lagMs: rows,
          limit: { singlePublishMs: limit.single, burstMs: limit.burstMs },
          storedEvents: stored.length,
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    await killAll(procs);
    await stopAll();
  }
}

await main();
