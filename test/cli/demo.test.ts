import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import { demo } from '../../src/cli/demo.js';

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
    expect(stdout).toMatch(/leads term \d+ after \d+ ms \(bound 2500 ms\)/);
    expect(stdout).toMatch(/marked Failed after \d+ ms \(bound 2500 ms\)/);
    expect(stdout).toContain('story held: 5 of 5 steps');
  }, 90_000);

  it('fails the story and exits 1 when a step takes longer than its bound', async () => {
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
      lines.push(args.join(' '));
    });
    let code: number;
    try {
      // No takeover can be instantaneous: a bound of 0 ms must fail the leader-crash step.
      code = await demo(['--no-visualizer', '--nodes', '3', '--shards', '64', '--seed', '7'], {
        bounds: { leaderTakeoverMs: 0 },
      });
    } finally {
      log.mockRestore();
    }
    const out = lines.join('\n');
    expect(code).toBe(1);
    expect(out).toMatch(/✘ the leader crashes[^\n]*\n\s+[^\n]*exceeded its bound: \d+ ms > 0 ms/);
    expect(out).toContain('story failed');
    expect(out).not.toMatch(/✘ [^\n]*drains/);
  }, 60_000);

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
