/**
 * Writes the statechart definitions as JSON (`docs/machines/<id>.json`) and as Mermaid
 * `stateDiagram-v2` charts (`docs/statecharts.md`), both generated from the machines themselves.
 *
 *   tsx scripts/machines-export.ts
 *
 * `machine.toJSON()` leaves out eventless (`always`) transitions, so they are added to each state node
 * from `stateNode.always`. The charts are drawn from the state nodes: composite states nest, parallel
 * regions are separated by `--`, `after` delays read `after <delay>`, eventless transitions `always`,
 * invocation outcomes `done: <actor>` / `error: <actor>`, guards in brackets.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { AnyStateMachine, StateNode } from 'xstate';
import { clusterNodeMachine } from '../machines/cluster-node.machine.js';
import { leadershipMachine } from '../machines/leadership.machine.js';
import { nodeLifecycleMachine } from '../machines/node-lifecycle.machine.js';
import { rebalancingMachine } from '../machines/rebalancing.machine.js';
import { shardHostMachine } from '../machines/shard-host.machine.js';

/** The machines exported, in the order they appear in the document. */
export const MACHINES: readonly AnyStateMachine[] = [
  leadershipMachine,
  nodeLifecycleMachine,
  rebalancingMachine,
  shardHostMachine,
  clusterNodeMachine,
];

type AnyNode = StateNode<never, never>;
type Json = Record<string, unknown>;

/** `machine.toJSON()` with each state node's `always` transitions added; plain JSON (functions dropped). */
export function machineDefinition(machine: AnyStateMachine): Json {
  const json = JSON.parse(JSON.stringify(machine.toJSON())) as Json;
  const addAlways = (node: AnyNode, out: Json) => {
    const always = node.always ?? [];
    if (always.length > 0) {
      out.always = JSON.parse(JSON.stringify(always.map((t) => (t as { toJSON: () => unknown }).toJSON())));
    }
    const states = (out.states ?? {}) as Record<string, Json>;
    for (const [key, child] of Object.entries(node.states)) {
      const childOut = states[key];
      if (childOut) addAlways(child as AnyNode, childOut);
    }
  };
  addAlways(machine.root as unknown as AnyNode, json);
  return json;
}

/** The JSON file body for a machine (before the formatter lays it out). */
export function definitionFile(machine: AnyStateMachine): string {
  return `${JSON.stringify(machineDefinition(machine), null, 2)}\n`;
}

/** Mermaid id of a state node: its path below the root, joined with `_` (the root is `[*]`'s parent). */
const mermaidId = (node: AnyNode): string => node.path.join('_');

function guardName(guard: unknown): string | null {
  if (guard === undefined || guard === null) return null;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && typeof (guard as { type?: unknown }).type === 'string') {
    return (guard as { type: string }).type;
  }
  return 'guard';
}

interface Edge {
  readonly source: AnyNode;
  readonly target: AnyNode;
  readonly label: string;
}

function edgesOf(machine: AnyStateMachine): Edge[] {
  const invoked = new Map<string, string>();
  const nodes: AnyNode[] = [];
  const walk = (n: AnyNode) => {
    nodes.push(n);
    for (const inv of n.invoke) invoked.set(inv.id, String(inv.src));
    for (const c of Object.values(n.states)) walk(c as AnyNode);
  };
  walk(machine.root as unknown as AnyNode);

  const eventLabel = (eventType: string, delay: unknown): string => {
    if (eventType === '') return 'always';
    if (eventType.startsWith('xstate.after.')) return `after ${String(delay ?? eventType.split('.')[2])}`;
    for (const [prefix, word] of [
      ['xstate.done.actor.', 'done'],
      ['xstate.error.actor.', 'error'],
    ] as const) {
      if (eventType.startsWith(prefix)) {
        const id = eventType.slice(prefix.length);
        return `${word}: ${invoked.get(id) ?? id}`;
      }
    }
    return eventType;
  };

  const edges: Edge[] = [];
  for (const source of nodes) {
    const all = [...[...source.transitions.values()].flat(), ...(source.always ?? [])];
    for (const t of all) {
      const guard = guardName(t.guard);
      const label = eventLabel(t.eventType, (t as { delay?: unknown }).delay) + (guard ? ` [${guard}]` : '');
      // A transition without a target runs its actions and stays: drawn as a loop.
      const targets = (t.target ?? [source]) as AnyNode[];
      for (const target of targets) edges.push({ source, target, label });
    }
  }
  return edges;
}

/** Innermost state node containing both (an edge is drawn inside it, so nested charts stay together). */
function commonParent(a: AnyNode, b: AnyNode): AnyNode {
  const chain = (n: AnyNode) => {
    const out: AnyNode[] = [];
    for (
      let c: AnyNode | undefined = n.parent as AnyNode | undefined;
      c;
      c = c.parent as AnyNode | undefined
    ) {
      out.push(c);
    }
    return out;
  };
  const up = chain(a);
  const ofB = new Set([b, ...chain(b)]);
  return up.find((n) => ofB.has(n) && n !== b) ?? up[up.length - 1] ?? a;
}

/** One Mermaid `stateDiagram-v2` for the machine. */
export function mermaidChart(machine: AnyStateMachine): string {
  const root = machine.root as unknown as AnyNode;
  const byParent = new Map<AnyNode, Edge[]>();
  for (const e of edgesOf(machine)) {
    const at = commonParent(e.source, e.target);
    const list = byParent.get(at) ?? [];
    list.push(e);
    byParent.set(at, list);
  }
  const lines: string[] = ['stateDiagram-v2'];
  const emitChildren = (node: AnyNode, indent: string) => {
    const children = Object.values(node.states) as AnyNode[];
    children.forEach((child, i) => {
      if (node.type === 'parallel' && i > 0) lines.push(`${indent}--`);
      const id = mermaidId(child);
      if (id !== child.key) lines.push(`${indent}state "${child.key}" as ${id}`);
      if (Object.keys(child.states).length > 0) {
        lines.push(`${indent}state ${id} {`);
        emitChildren(child, `${indent}  `);
        lines.push(`${indent}}`);
      }
    });
    if (node.type !== 'parallel') {
      const initial = (node.initial?.target ?? []) as AnyNode[];
      for (const t of initial) lines.push(`${indent}[*] --> ${mermaidId(t)}`);
    }
    for (const child of children) {
      if (child.type === 'final') lines.push(`${indent}${mermaidId(child)} --> [*]`);
    }
    for (const e of byParent.get(node) ?? []) {
      const from = e.source === root ? null : mermaidId(e.source);
      const to = e.target === root ? null : mermaidId(e.target);
      // Transitions on the root itself (handled in every state) are listed as a note instead.
      if (from === null || to === null) continue;
      lines.push(`${indent}${from} --> ${to} : ${e.label}`);
    }
  };
  // Mermaid separates concurrent regions only inside a composite state: a parallel root gets one.
  const wrapped = root.type === 'parallel';
  if (wrapped) {
    lines.push(`  state ${machine.id} {`);
    emitChildren(root, '    ');
    lines.push('  }');
  } else {
    emitChildren(root, '  ');
  }
  const rootEvents = edgesOf(machine)
    .filter((e) => e.source === root)
    .map((e) => (e.target === root ? e.label : `${e.label} → ${mermaidId(e.target)}`));
  const anchor = wrapped
    ? machine.id
    : (Object.values(root.states)[0] as AnyNode | undefined)?.path.join('_');
  if (rootEvents.length > 0 && anchor) {
    lines.push(`  note right of ${anchor}: in every state, ${[...new Set(rootEvents)].join(', ')}`);
  }
  return lines.join('\n');
}

/** The whole `docs/statecharts.md`. */
export function statechartsDocument(machines: readonly AnyStateMachine[] = MACHINES): string {
  const parts = [
    '# Statecharts',
    '',
    '<!-- Generated by scripts/machines-export.ts from the machine definitions; do not edit by hand. -->',
    '',
    'Drawn from the definitions in `machines/`. Labels: an event name; `after <delay>` for a delayed',
    'transition; `always` for an eventless one; `done: <actor>` / `error: <actor>` for the outcome of an',
    'invoked actor; a guard in brackets. A transition without a target (actions only) is drawn as a loop.',
    'The JSON definitions are in `docs/machines/`.',
    '',
  ];
  for (const m of machines) {
    parts.push(`## ${m.id}`, '', '```mermaid', mermaidChart(m), '```', '');
  }
  return parts.join('\n');
}

/** Markers of the generated statechart section in README.md. */
export const README_BEGIN =
  '<!-- statecharts:begin — generated by `npm run machines:json`; do not edit by hand -->';
export const README_END = '<!-- statecharts:end -->';

/** The README with its statechart section replaced by charts generated from the machines. */
export function readmeWithStatecharts(
  readme: string,
  machines: readonly AnyStateMachine[] = MACHINES,
): string {
  const begin = readme.indexOf(README_BEGIN);
  const end = readme.indexOf(README_END);
  if (begin < 0 || end < begin) throw new Error('README.md has no statechart markers');
  const charts = machines
    .map((m) => `#### ${m.id}\n\n\`\`\`mermaid\n${mermaidChart(m)}\n\`\`\`\n`)
    .join('\n');
  return `${readme.slice(0, begin)}${README_BEGIN}\n\n${charts}\n${readme.slice(end)}`;
}

/** Writes every file under `root`; returns the paths written. */
export async function exportMachines(root: string): Promise<string[]> {
  const written: string[] = [];
  await mkdir(join(root, 'docs', 'machines'), { recursive: true });
  for (const m of MACHINES) {
    const path = join(root, 'docs', 'machines', `${m.id}.json`);
    await writeFile(path, definitionFile(m));
    written.push(path);
  }
  // The repository's formatter lays JSON out its own way; keep the files as it would.
  const biome = spawnSync(join(root, 'node_modules', '.bin', 'biome'), ['format', '--write', ...written], {
    stdio: 'inherit',
  });
  if (biome.status !== 0) throw new Error('biome format failed on the JSON definitions');
  const doc = join(root, 'docs', 'statecharts.md');
  await writeFile(doc, statechartsDocument());
  written.push(doc);
  const readme = join(root, 'README.md');
  await writeFile(readme, readmeWithStatecharts(await readFile(readme, 'utf8')));
  written.push(readme);
  return written;
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  for (const path of await exportMachines(root)) console.log(`wrote ${path}`);
}
