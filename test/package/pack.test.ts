import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'aether-pack-'));
const app = join(work, 'app');

const run = (cmd: string, args: string[], cwd: string) =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 });

/** Writes `source` as a module of the fresh project, runs it and parses the JSON of its last line. */
function runScript(name: string, source: string): unknown {
  writeFileSync(join(app, name), source);
  return JSON.parse(run('node', [name], app).trim().split('\n').pop()!);
}

describe('the published package', () => {
  beforeAll(() => {
    run('npm', ['pack', '--silent', '--pack-destination', work], root);
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
    if (tarball === undefined) throw new Error(`npm pack left no tarball in ${work}`);
    run('mkdir', ['-p', app], work);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    run(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--silent', join(work, tarball)],
      app,
    );
  }, 240_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('runs a cluster through the main entry', () => {
    const out = runScript(
      'main.mjs',
      `import { createClusterNode, memoryTransport, FAST_TIMING } from 'aether-cluster';
const transport = memoryTransport();
const nodes = ['a', 'b', 'c'].map((nodeId) => createClusterNode({ nodeId, cluster: 'pack', transport, timing: FAST_TIMING }));
await Promise.all(nodes.map((n) => n.start()));
const deadline = Date.now() + 10000;
while (Date.now() < deadline && !nodes.every((n) => n.state().shardMap.owners.every((o) => o !== null) && n.leader())) {
  await new Promise((r) => setTimeout(r, 20));
}
const leaders = nodes.filter((n) => n.isLeader()).length;
const owned = nodes[0].state().shardMap.owners.filter((o) => o !== null).length;
console.log(JSON.stringify({ leaders, owned }));
await Promise.all(nodes.map((n) => n.stop()));
`,
    );
    expect(out).toEqual({ leaders: 1, owned: 1024 });
  });

  it('keeps the internals out of the main entry', () => {
    const out = runScript(
      'curated.mjs',
      `const api = await import('aether-cluster');
const internal = ['domainEventSchema', 'nodeIdSchema', 'decide', 'joinCluster', 'checkInvariants', 'stamp', 'HashRing', 'resolveOptions'];
const needed = ['createClusterNode', 'ClusterNode', 'memoryTransport', 'natsTransport', 'SimulatedClock', 'systemClock',
  'DEFAULT_TIMING', 'FAST_TIMING', 'DOMAIN_EVENT_TYPES', 'ClusterError', 'InvalidConfigError', 'CommandRejectedError',
  'isTimeout', 'apply', 'replay', 'shardForKey', 'BalancedPlacement', 'ConsistentHashPlacement', 'startRelay', 'createInspector'];
console.log(JSON.stringify({ leaked: internal.filter((n) => n in api), missing: needed.filter((n) => !(n in api)) }));
`,
    );
    expect(out).toEqual({ leaked: [], missing: [] });
  });

  it('checks a history through aether-cluster/checker', () => {
    const out = runScript(
      'checker.mjs',
      `import { FAST_TIMING } from 'aether-cluster';
import { checkHistory } from 'aether-cluster/checker';
const config = { timing: FAST_TIMING, shardCount: 16 };
const elected = (at, nodeId) => ({ kind: 'event', at, event: { type: 'LeaderElected', id: nodeId + '-1', origin: nodeId, term: 3, version: 0, at, nodeId, previous: null } });
const clean = checkHistory([], config).length;
const twoLeaders = checkHistory([elected(0, 'a'), elected(5, 'b')], config).map((v) => v.invariant);
console.log(JSON.stringify({ clean, twoLeaders }));
`,
    );
    const { clean, twoLeaders } = out as { clean: number; twoLeaders: string[] };
    expect(clean).toBe(0);
    expect(twoLeaders).toContain('single-leader-per-term');
  });

  it('simulates a cluster under faults through aether-cluster/sim', () => {
    const out = runScript(
      'sim.mjs',
      `import { runSimulation } from 'aether-cluster/sim';
const r = await runSimulation({ nodes: 3, seed: 7, durationMs: 5000, faults: ['crash', 'pause'], shardCount: 64 });
console.log(JSON.stringify({ ok: r.ok, error: r.error, elected: r.elections > 0, ranFor: r.simulatedMs >= 5000 }));
`,
    );
    expect(out).toEqual({ ok: true, error: null, elected: true, ranFor: true });
  });

  it('exposes the process harness, its report and the checker through aether-cluster/chaos', () => {
    const out = runScript(
      'chaos.mjs',
      `import * as chaos from 'aether-cluster/chaos';
import { existsSync } from 'node:fs';
const needed = ['ProcessHarness', 'PROCESS_HISTORY_KINDS', 'formatVerdict', 'formatTimeline', 'faultyProxy', 'startNatsServers', 'createChecker', 'checkHistory', 'observability', 'loadScenario'];
const { notObservable } = chaos.observability(chaos.PROCESS_HISTORY_KINDS);
console.log(JSON.stringify({ missing: needed.filter((n) => !(n in chaos)), notObservable, bin: existsSync(chaos.defaultNodeBin()) }));
`,
    );
    expect(out).toEqual({
      missing: [],
      notObservable: ['release-before-acquire', 'released-shards-move', 'serving-without-membership'],
      bin: true,
    });
  });

  it('exposes the statecharts through aether-cluster/machines', () => {
    const out = runScript(
      'machines.mjs',
      `import * as machines from 'aether-cluster/machines';
const { clusterNodeMachine, leadershipMachine, nodeLifecycleMachine, rebalancingMachine, shardHostMachine } = machines;
const ids = [clusterNodeMachine, leadershipMachine, nodeLifecycleMachine, rebalancingMachine, shardHostMachine].map((m) => m.id);
const leaked = ['decideBatch', 'drainedNodes', 'eligibleToLead', 'rebalanceReasonFor'].filter((n) => n in machines);
console.log(JSON.stringify({ ids, leaked }));
`,
    );
    expect(out).toEqual({
      ids: ['clusterNode', 'leadership', 'nodeLifecycle', 'rebalancing', 'shardHost'],
      leaked: [],
    });
  });

  it('refuses deep imports of internal modules', () => {
    const out = runScript(
      'deep.mjs',
      `const codes = [];
for (const spec of ['aether-cluster/dist/src/domain/events.js', 'aether-cluster/src/domain/events.js', 'aether-cluster/dist/src/sim/sim-harness.js']) {
  try { await import(spec); codes.push('imported'); } catch (e) { codes.push(e.code); }
}
console.log(JSON.stringify(codes));
`,
    );
    expect(out).toEqual([
      'ERR_PACKAGE_PATH_NOT_EXPORTED',
      'ERR_PACKAGE_PATH_NOT_EXPORTED',
      'ERR_PACKAGE_PATH_NOT_EXPORTED',
    ]);
  });

  it('types every entry point for TypeScript users', () => {
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
          typeRoots: [join(root, 'node_modules/@types')],
        },
        files: ['typed.ts'],
      }),
    );
    writeFileSync(
      join(app, 'typed.ts'),
      `import { type DomainEvent, FAST_TIMING, type NodeId, type TimingConfig } from 'aether-cluster';
import { checkHistory, type HistoryEntry, type Violation } from 'aether-cluster/checker';
import { type Harness, type Scenario, type SimulationOptions } from 'aether-cluster/sim';
import { type LeadershipContext, leadershipMachine } from 'aether-cluster/machines';
import { type ChaosReport, ProcessHarness, type ProcessHarnessOptions } from 'aether-cluster/chaos';
const chaosOptions: ProcessHarnessOptions = { seed: 1, servers: 3, shardCount: 64 };
const verdictOf = (r: ChaosReport): string => r.verdict;
const create: (o: ProcessHarnessOptions) => Promise<Harness> = ProcessHarness.create;
const history: HistoryEntry[] = [];
const violations: readonly Violation[] = checkHistory(history, { timing: FAST_TIMING, shardCount: 8 });
const scenario: Scenario = async (h: Harness) => { await h.start(3); };
const options: SimulationOptions = { nodes: 3, seed: 1, durationMs: 1000, faults: ['crash'] };
const leader = (context: LeadershipContext): NodeId => context.nodeId;
const timing: TimingConfig = FAST_TIMING;
const first: DomainEvent['type'] = 'NodeJoined';
export { violations, scenario, options, leader, timing, first, leadershipMachine, chaosOptions, verdictOf, create };
`,
    );
    // tsc exits non-zero with the errors on stdout when a type is missing or an entry has no types.
    run('node', [join(root, 'node_modules/typescript/bin/tsc'), '-p', app], app);
  });

  it('installs the aether command', () => {
    const help = run(join(app, 'node_modules/.bin/aether'), ['--help'], app);
    expect(help).toMatch(/demo/);
  });
});
