/**
 * Test builds: a copy of the built `dist/` in a temporary directory with some compiled functions
 * replaced, started by the chaos harness as a deliberately broken node (`binFor`). Production code
 * carries no fault switch; the break lives only in the copy. Every patch must match its target
 * exactly once, so a refactor that renames or reshapes the target fails the test loudly instead of
 * leaving it to run an unbroken node.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../..');

/** One replacement in one compiled file (a path under `dist/`). */
export interface CompiledPatch {
  readonly file: string;
  /** The exact compiled text to replace; it must occur exactly once. */
  readonly find: string;
  readonly replace: string;
  /** What the patch breaks, for the error when the target is gone. */
  readonly why: string;
}

export interface PatchedBuild {
  /** The patched CLI: `<dir>/dist/src/cli/bin.js`. */
  readonly bin: string;
  readonly dir: string;
  /** Removes the copy. */
  remove(): void;
}

/** Thrown when a patch's target text is not in the build (or is there more than once). */
export class PatchTargetError extends Error {
  override readonly name = 'PatchTargetError';
}

/**
 * Copies `dist/` (run `npm run build` first) with `package.json` (ESM, the version) and a link to
 * `node_modules`, and applies the patches.
 * @throws PatchTargetError when a patch's target does not occur exactly once.
 */
export function patchedBuild(patches: readonly CompiledPatch[]): PatchedBuild {
  const dist = join(ROOT, 'dist');
  if (!existsSync(join(dist, 'src', 'cli', 'bin.js')))
    throw new PatchTargetError(`no build at ${dist}: run npm run build`);
  const dir = mkdtempSync(join(tmpdir(), 'aether-broken-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    cpSync(dist, join(dir, 'dist'), { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    for (const p of patches) {
      const path = join(dir, 'dist', p.file);
      const text = readFileSync(path, 'utf8');
      const count = text.split(p.find).length - 1;
      if (count !== 1) {
        throw new PatchTargetError(
          `cannot ${p.why}: dist/${p.file} has ${count} occurrence(s) of ${JSON.stringify(p.find)}, expected 1 (was the code changed? update the patch)`,
        );
      }
      writeFileSync(path, text.replace(p.find, p.replace));
    }
  } catch (err) {
    remove();
    throw err;
  }
  return { bin: join(dir, 'dist', 'src', 'cli', 'bin.js'), dir, remove };
}

/**
 * A leader that never lets go: it ignores its renew deadline, treats a lost or superseded lease as a
 * renewal of unknown outcome (and keeps retrying), and ignores topologies written by a newer term. A
 * leader paused past its lease keeps acting as leader after it resumes, beside its successor.
 */
export const LEADER_NEVER_STEPS_DOWN: readonly CompiledPatch[] = [
  {
    file: 'machines/leadership.machine.js',
    find: 'return context.renewedFrom + context.timing.renewDeadlineMs;',
    // 2^30 ms (12 days): past any run, and still a valid timer delay.
    replace: 'return context.renewedFrom + 2 ** 30;',
    why: 'make the leader ignore its renew deadline',
  },
  {
    file: 'machines/leadership.machine.js',
    find: "leaseLost: (_, output) => output.kind === 'lost',",
    replace: 'leaseLost: () => false,',
    why: 'make the leader ignore a lost lease',
  },
  {
    file: 'machines/leadership.machine.js',
    find: 'supersededBy: ({ context }, lease) => lease !== null &&',
    replace: 'supersededBy: ({ context }, lease) => false && lease !== null &&',
    why: 'make the leader ignore a newer lease holder',
  },
  {
    file: 'machines/cluster-node.machine.js',
    find: 'deposedBy: ({ context }, p) => context.term !== null &&',
    replace: 'deposedBy: ({ context }, p) => false && context.term !== null &&',
    why: 'make the leader ignore a topology of a newer term',
  },
];
