import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'aether-pack-'));

const run = (cmd: string, args: string[], cwd: string) =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 });

describe('the published package', () => {
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('installs from npm pack into a fresh project and runs a cluster through its public API', () => {
    run('npm', ['pack', '--silent', '--pack-destination', work], root);
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
    expect(tarball).toBeDefined();
    const app = join(work, 'app');
    run('mkdir', ['-p', app], work);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    run(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--silent', join(work, tarball!)],
      app,
    );
    writeFileSync(
      join(app, 'main.mjs'),
      `import { createClusterNode, memoryTransport, FAST_TIMING } from 'aether-cluster';
import { clusterNodeMachine } from 'aether-cluster/machines';
const transport = memoryTransport();
const nodes = ['a', 'b', 'c'].map((nodeId) => createClusterNode({ nodeId, cluster: 'pack', transport, timing: FAST_TIMING }));
await Promise.all(nodes.map((n) => n.start()));
const deadline = Date.now() + 10000;
while (Date.now() < deadline && !nodes.every((n) => n.state().shardMap.owners.every((o) => o !== null) && n.leader())) {
  await new Promise((r) => setTimeout(r, 20));
}
const leaders = nodes.filter((n) => n.isLeader()).length;
const owned = nodes[0].state().shardMap.owners.filter((o) => o !== null).length;
console.log(JSON.stringify({ leaders, owned, machine: clusterNodeMachine.id }));
await Promise.all(nodes.map((n) => n.stop()));
`,
    );
    const out = JSON.parse(run('node', ['main.mjs'], app).trim().split('\n').pop()!);
    expect(out).toEqual({ leaders: 1, owned: 1024, machine: 'clusterNode' });
    const help = run(join(app, 'node_modules/.bin/aether'), ['--help'], app);
    expect(help).toMatch(/demo/);
  }, 240_000);
});
