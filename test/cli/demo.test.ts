import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');

describe('aether demo', () => {
  it('tells its whole story and exits 0, each step checked', async () => {
    const { stdout } = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/bin.ts',
        'demo',
        '--no-visualizer',
        '--nodes',
        '4',
        '--shards',
        '128',
        '--seed',
        '7',
      ],
      { cwd: root, timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } },
    );
    for (const step of ['startup', 'joins', 'leader crashes', 'drains', 'fails']) {
      expect(stdout).toMatch(new RegExp(`✔ [^\\n]*${step}`));
    }
    expect(stdout).not.toContain('✘');
    expect(stdout).toContain('story held: 5 of 5 steps');
  }, 90_000);

  it('rejects an invalid option with a message naming it and exit code 2', async () => {
    const err = await run(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', 'demo', '--nodes', '1'], {
      cwd: root,
      timeout: 30_000,
    }).catch((e: { code: number; stderr: string }) => e);
    expect((err as { code: number }).code).toBe(2);
    expect((err as { stderr: string }).stderr).toMatch(/--nodes/);
  }, 60_000);
});

describe('examples/embedded.ts', () => {
  it('runs to completion and shows the key moving off the drained node', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/embedded.ts'], {
      cwd: root,
      timeout: 60_000,
    });
    expect(stdout).toMatch(/leader: \w+ \(term \d+\)/);
    expect(stdout).toMatch(/user-42 → shard \d+ → owned by \w+/);
    expect(stdout).toMatch(/event: NodeLeft/);
  }, 90_000);
});
