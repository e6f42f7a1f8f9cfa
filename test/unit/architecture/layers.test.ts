import { describe, expect, it } from 'vitest';
import { type LayerTable, layerCycles, layerViolations } from './check-layers.js';
import { type ImportEdge, importEdges, REPO_ROOT, relativeSpecifiers, sourceFiles } from './imports.js';

/**
 * The layers, lowest first. A layer imports only from layers below it, or from one beside it (same
 * rank) when the table says so. The pure core (domain, placement) is at the bottom; the entry
 * points are at the top.
 */
const ORDER: readonly (readonly string[])[] = [
  ['src/domain'],
  ['src/placement'],
  ['src/config.ts', 'src/protocol', 'src/ports'],
  ['machines'],
  ['src/observe', 'src/adapters'],
  ['src/runtime'],
  ['src/checker', 'src/sim', 'src/visualizer'],
  ['src/chaos'],
  ['src/cli', 'src/index.ts', 'src/create-node.ts'],
];

/**
 * What each layer may import: as little as the code needs, so a new dependency is a decision made
 * here, in review, and never an accident.
 */
const ALLOWED: LayerTable = {
  'src/domain': [],
  'src/placement': ['src/domain'],
  'src/config.ts': ['src/domain'],
  'src/protocol': ['src/domain'],
  'src/ports': [],
  machines: ['src/domain', 'src/placement', 'src/config.ts', 'src/protocol'],
  'src/observe': ['src/domain', 'src/ports', 'src/protocol'],
  'src/adapters': ['src/domain', 'src/ports'],
  // The runtime never picks a transport: the public entry point supplies the embedded default.
  'src/runtime': ['src/domain', 'src/config.ts', 'src/protocol', 'src/ports', 'machines', 'src/observe'],
  'src/checker': ['src/domain', 'src/config.ts', 'src/observe'],
  'src/sim': [
    'src/domain',
    'src/config.ts',
    'src/protocol',
    'src/ports',
    'src/adapters',
    'src/runtime',
    'src/checker',
  ],
  'src/visualizer': ['src/domain', 'src/protocol', 'src/ports', 'src/observe'],
  // Chaos against real processes: it starts nats-servers and node processes and watches NATS itself.
  'src/chaos': [
    'src/domain',
    'src/config.ts',
    'src/protocol',
    'src/ports',
    'src/observe',
    'src/adapters',
    'src/runtime',
    'src/checker',
    'src/sim',
  ],
  'src/cli': [
    'src/domain',
    'src/config.ts',
    'src/protocol',
    'src/ports',
    'src/observe',
    'src/adapters',
    'src/runtime',
    'src/sim',
    'src/visualizer',
    'src/checker',
    'src/chaos',
  ],
  // `createClusterNode` with the embedded default transport.
  'src/create-node.ts': ['src/domain', 'src/ports', 'src/adapters', 'src/runtime'],
  'src/index.ts': [
    'src/domain',
    'src/placement',
    'src/config.ts',
    'src/ports',
    'src/observe',
    'src/adapters',
    'src/runtime',
    'src/visualizer',
    'src/create-node.ts',
  ],
};

const rank = new Map(ORDER.flatMap((layers, i) => layers.map((l) => [l, i] as const)));

const edges = importEdges(REPO_ROOT, sourceFiles(REPO_ROOT, ['src', 'machines']));

describe('layers', () => {
  it('reads the imports of the sources (the scan finds the domain core and its users)', () => {
    expect(edges.length).toBeGreaterThan(200);
    expect(edges.some((e) => e.from === 'src/domain/commands.ts')).toBe(true);
    expect(edges.some((e) => e.from.startsWith('machines/') && e.to.startsWith('src/domain/'))).toBe(true);
  });

  it('has a table entry for every layer of the order and no other', () => {
    expect(Object.keys(ALLOWED).sort()).toEqual([...rank.keys()].sort());
  });

  it('allows no import up the order', () => {
    const up = Object.entries(ALLOWED).flatMap(([from, tos]) =>
      tos.filter((to) => rank.get(to)! > rank.get(from)!).map((to) => `${from} -> ${to}`),
    );
    expect(up).toEqual([]);
  });

  it('imports go only to the layers the table allows', () => {
    expect(layerViolations(edges, ALLOWED)).toEqual([]);
  });

  it('no two folders import each other, directly or through others', () => {
    expect(layerCycles(edges)).toEqual([]);
  });

  it('only the entry points name the NATS adapter; the rest sees the transport through its port', () => {
    const named = edges.filter(
      (e) =>
        e.to.startsWith('src/adapters/nats/') &&
        !e.from.startsWith('src/adapters/nats/') &&
        !e.from.startsWith('src/cli/') &&
        !e.from.startsWith('src/chaos/') &&
        e.from !== 'src/index.ts',
    );
    expect(named.map((e) => `${e.from} imports '${e.spec}'`)).toEqual([]);
  });

  it('the domain imports nothing outside itself', () => {
    const out = edges.filter((e) => e.from.startsWith('src/domain/') && !e.to.startsWith('src/domain/'));
    expect(out).toEqual([]);
  });
});

describe('the layer checks themselves', () => {
  const edge = (from: string, spec: string, to: string): ImportEdge => ({ from, spec, to });

  it('report an import from the domain into placement', () => {
    const bad = edge('src/domain/commands.ts', '../placement/strategy.js', 'src/placement/strategy.ts');
    expect(layerViolations([bad], ALLOWED)).toEqual([
      "src/domain/commands.ts imports '../placement/strategy.js': src/domain may not import src/placement",
    ]);
  });

  it('report a folder missing from the table and an import leaving src/ and machines/', () => {
    const found = layerViolations(
      [
        edge('src/newfolder/a.ts', '../domain/values.js', 'src/domain/values.ts'),
        edge('src/cli/a.ts', '../../package.json', 'package.json'),
      ],
      ALLOWED,
    );
    expect(found).toEqual([
      "src/newfolder/a.ts imports '../domain/values.js': src/newfolder is not a layer of the table",
      "src/cli/a.ts imports '../../package.json': package.json is outside src/ and machines/",
    ]);
  });

  it('find a cycle through three folders', () => {
    const cycle = layerCycles([
      edge('src/a/x.ts', '../b/y.js', 'src/b/y.ts'),
      edge('src/b/y.ts', '../c/z.js', 'src/c/z.ts'),
      edge('src/c/z.ts', '../a/x.js', 'src/a/x.ts'),
      edge('src/c/z.ts', '../d/w.js', 'src/d/w.ts'),
    ]);
    expect(cycle).toEqual(['src/a -> src/b -> src/c -> src/a']);
  });

  it('count static, re-export, side-effect and dynamic imports, but not ones in comments', () => {
    const text = [
      "import { a } from './a.js';",
      "export { b } from '../b.js';",
      "import './c.js';",
      "const d = await import('./d.js');",
      "// import { e } from './e.js';",
      "import { z } from 'zod';",
    ].join('\n');
    expect(relativeSpecifiers(text)).toEqual(['./a.js', '../b.js', './c.js', './d.js']);
  });
});
