/**
 * `aether check`: the invariant checker against a live cluster, over NATS, as an observer. From the
 * moment it starts it watches the topology and lease buckets, the events on the bus and what the
 * audit stream stores; with `--follow` it goes on until a signal. Properties the observable history
 * cannot show (what each node's application was told to serve, its process, its hearing) are listed
 * as not observable, never judged. The past is not judged: a history that begins mid-way cannot say
 * which node wrote an earlier term's topology.
 */
import { parseArgs } from 'node:util';
import { ClusterObserver } from '../chaos/cluster-observer.js';
import { type Checker, createChecker, type HistoryKind, type Violation } from '../checker/checker.js';
import type { HistoryEntry } from '../checker/history.js';
import { settleWithin } from './exit.js';
import {
  durationMs,
  isParseArgsError,
  NATS_FLAGS,
  NATS_FLAGS_HELP,
  natsTransportOptions,
  requireCluster,
  UsageError,
} from './flags.js';
import { timingFromFlags } from './node.js';

const HELP = `usage: aether check --cluster NAME [--follow] [--for 10s] [--timing fast|default] [--json]

Checks a running cluster's invariants, from now on, from what any NATS client can see: the topology
and lease buckets, the events on the bus and what its audit stream stores. Prints each violation as
found, then a verdict: the properties judged and those a live cluster's history cannot show.

  --cluster NAME     the cluster (required)
  --for DURATION     how long to watch (default: one lease TTL)
  --follow, -f       keep watching until SIGINT/SIGTERM
  --timing P         the cluster's timing preset, fast or default (its lease TTL must match the bucket's)
  --json             one JSON object per violation, then the verdict

${NATS_FLAGS_HELP}

Exit codes: 0 no violation, 1 a violation (or NATS not reached), 2 invalid options.`;

/** What an observer of a live cluster sees (no hooks, processes or hearing of the nodes). */
export const OBSERVER_HISTORY_KINDS: readonly HistoryKind[] = ['commit', 'lease', 'event', 'audit', 'tick'];

export async function check(argv: readonly string[]): Promise<number> {
  let observer: ClusterObserver | null = null;
  try {
    const { values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        ...NATS_FLAGS,
        cluster: { type: 'string' },
        for: { type: 'string' },
        follow: { type: 'boolean', short: 'f' },
        timing: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    const cluster = requireCluster(values.cluster);
    const timing = timingFromFlags(values.timing, {});
    const watchMs = values.for === undefined ? timing.leaseTtlMs : durationMs(values.for);
    if (watchMs === null || watchMs <= 0) {
      throw new UsageError(`--for: expected a duration (10s), got ${JSON.stringify(values.for)}`);
    }
    const connection = await natsTransportOptions(values);
    const servers = connection.servers ?? [];
    const json = values.json === true;
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);

    // The shard count comes from the first commit seen; what comes before it waits.
    const held: { checker: Checker | null } = { checker: null };
    const early: HistoryEntry[] = [];
    let printed = 0;
    const report = () => {
      const v = held.checker?.violations ?? [];
      for (const x of v.slice(printed)) {
        console.log(json ? JSON.stringify({ type: 'violation', ...x }) : line(x));
      }
      printed = v.length;
    };
    observer = await ClusterObserver.open({
      servers: typeof servers === 'string' ? [servers] : [...servers],
      connection,
      cluster: cluster,
      leaseTtlMs: timing.leaseTtlMs,
      auditFromNow: true,
      now: () => Date.now(),
      feed: (entry) => {
        if (held.checker === null && entry.kind === 'commit') {
          const c = createChecker({
            timing,
            shardCount: entry.state.shardCount,
            historyKinds: OBSERVER_HISTORY_KINDS,
          });
          for (const e of early.splice(0)) c.observe(e);
          held.checker = c;
        }
        if (held.checker === null) early.push(entry);
        else held.checker.observe(entry);
        report();
      },
    });
    console.error(
      `aether check: watching cluster ${cluster} ${values.follow === true ? 'until a signal' : `for ${watchMs} ms`}`,
    );
    const until = Date.now() + watchMs;
    while (!stop.signal.aborted && (values.follow === true || Date.now() < until)) {
      await new Promise((r) => setTimeout(r, Math.min(1_000, watchMs)));
      await observer.readAudit();
      // A tick lets deadlines (recovery windows) be judged while nothing else happens.
      held.checker?.observe({ kind: 'tick', at: Date.now() });
      report();
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    const c = held.checker;
    if (c === null) {
      console.error(`aether check: no topology of cluster "${cluster}" on this NATS (no node has run)`);
      return 1;
    }
    const violations = c.finish(Date.now());
    report();
    const stats = c.stats();
    const verdict = {
      type: 'verdict',
      ok: violations.length === 0,
      violations: stats.violations,
      judged: c.judged,
      notObservable: c.notObservable,
      events: stats.events,
      commits: stats.commits,
    };
    if (json) console.log(JSON.stringify(verdict));
    else {
      console.log(
        `${verdict.ok ? 'ok' : 'VIOLATED'}: ${stats.commits} commit(s) and ${stats.events} event(s) seen; ` +
          `judged: ${c.judged.join(', ')}`,
      );
      console.log(`not observable from NATS: ${c.notObservable.join(', ')}`);
    }
    return violations.length === 0 ? 0 : 1;
  } catch (err) {
    if (err instanceof UsageError || isParseArgsError(err)) {
      console.error(`aether check: ${(err as Error).message}\n\n${HELP}`);
      return 2;
    }
    console.error(`aether check: ${(err as Error).message}`);
    return 1;
  } finally {
    const o: ClusterObserver | null = observer;
    if (o !== null) await settleWithin(o.close(), 2_000);
  }
}

function line(v: Violation): string {
  return `VIOLATION ${v.invariant} at ${new Date(v.at).toISOString()}: ${v.message}`;
}
