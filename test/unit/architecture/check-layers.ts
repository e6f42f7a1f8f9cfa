/** The two checks of the layer test, as pure functions of the import edges, so they can be tested too. */
import { type ImportEdge, layerOf } from './imports.js';

/** Which layers each layer may import (besides itself). */
export type LayerTable = Readonly<Record<string, readonly string[]>>;

/** One message per import that leaves the layered code, comes from or goes to an unknown layer, or is not allowed. */
export function layerViolations(edges: readonly ImportEdge[], allowed: LayerTable): string[] {
  const out: string[] = [];
  for (const e of edges) {
    const from = layerOf(e.from);
    const to = layerOf(e.to);
    const where = `${e.from} imports '${e.spec}'`;
    if (from === null) out.push(`${where}: ${e.from} is outside src/ and machines/`);
    else if (!(from in allowed)) out.push(`${where}: ${from} is not a layer of the table`);
    else if (to === null) out.push(`${where}: ${e.to} is outside src/ and machines/`);
    else if (!(to in allowed)) out.push(`${where}: ${to} is not a layer of the table`);
    else if (from !== to && !allowed[from]!.includes(to)) out.push(`${where}: ${from} may not import ${to}`);
  }
  return out;
}

/** The folder-level import graph: layer → layers it imports. */
export function layerGraph(edges: readonly ImportEdge[]): Map<string, Set<string>> {
  const g = new Map<string, Set<string>>();
  for (const e of edges) {
    const from = layerOf(e.from);
    const to = layerOf(e.to);
    if (from === null || to === null || from === to) continue;
    if (!g.has(from)) g.set(from, new Set());
    g.get(from)!.add(to);
  }
  return g;
}

/** Every cycle between layers, each as the path `a -> b -> … -> a`, found by depth-first search. */
export function layerCycles(edges: readonly ImportEdge[]): string[] {
  const g = layerGraph(edges);
  const cycles = new Set<string>();
  const done = new Set<string>();
  const visit = (node: string, path: string[]): void => {
    const at = path.indexOf(node);
    if (at >= 0) {
      cycles.add([...path.slice(at), node].join(' -> '));
      return;
    }
    if (done.has(node)) return;
    for (const next of [...(g.get(node) ?? [])].sort()) visit(next, [...path, node]);
    done.add(node);
  };
  for (const node of [...g.keys()].sort()) visit(node, []);
  return [...cycles];
}
