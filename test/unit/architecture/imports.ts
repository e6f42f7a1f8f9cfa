/**
 * Reads the relative imports of the project's sources and places each file in its layer, for the
 * layer test. Uses the TypeScript scanner, so imports in comments and strings are not counted and
 * `export … from`, side-effect and literal dynamic imports are.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** One relative import: the importing file and the file it names, both relative to the root, `/`-separated. */
export interface ImportEdge {
  readonly from: string;
  readonly to: string;
  /** The specifier as written, for messages. */
  readonly spec: string;
}

function toPosix(p: string): string {
  return p.split(sep).join('/');
}

/** Every `.ts` file under `dirs` (relative to `root`), `/`-separated, sorted. */
export function sourceFiles(root: string, dirs: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts')) out.push(toPosix(relative(root, full)));
    }
  };
  for (const d of dirs) walk(join(root, d));
  return out.sort();
}

/** The relative import specifiers of a module's text. */
export function relativeSpecifiers(text: string): string[] {
  const info = ts.preProcessFile(text, true, true);
  return info.importedFiles.map((f) => f.fileName).filter((s) => s.startsWith('./') || s.startsWith('../'));
}

/** Resolves `spec` written in `from` to a root-relative path; NodeNext `.js` specifiers name `.ts` sources. */
export function resolveImport(from: string, spec: string): string {
  const target = posix.normalize(posix.join(posix.dirname(from), spec));
  return target.replace(/\.js$/, '.ts');
}

/** The relative imports of the given files (paths relative to `root`). */
export function importEdges(root: string, files: readonly string[]): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const from of files) {
    const text = readFileSync(join(root, from), 'utf8');
    for (const spec of relativeSpecifiers(text)) edges.push({ from, to: resolveImport(from, spec), spec });
  }
  return edges;
}

/**
 * The layer of a root-relative path: its folder under `src/` (`src/domain`), a file directly in
 * `src/` (`src/config.ts`), or `machines`. Anything else is outside the layered code: `null`.
 */
export function layerOf(path: string): string | null {
  const parts = path.split('/');
  if (parts[0] === 'machines' && parts.length > 1) return 'machines';
  if (parts[0] !== 'src' || parts.length < 2) return null;
  return parts.length === 2 ? path : `src/${parts[1]}`;
}

/** The repository root, three levels above this file's folder. */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
