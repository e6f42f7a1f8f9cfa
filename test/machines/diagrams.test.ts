/**
 * The generated statechart documents must match the machines: regenerating them in memory gives
 * exactly the committed files (run `tsx scripts/machines-export.ts` after changing a machine).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  definitionFile,
  MACHINES,
  machineDefinition,
  mermaidChart,
  readmeWithStatecharts,
  statechartsDocument,
} from '../../scripts/machines-export.js';
import { allStateIds } from './harness.js';

const root = join(import.meta.dirname, '..', '..');
const STALE = 'stale: regenerate with `tsx scripts/machines-export.ts`';

/** The exported machine of `id`; every statechart in `machines/` is drawn. */
function drawn(id: string) {
  const machine = MACHINES.find((m) => m.id === id);
  if (machine === undefined)
    throw new Error(`${id} is not among the machines scripts/machines-export.ts draws`);
  return machine;
}

describe('statechart documents', () => {
  it('draws every statechart of the node', () => {
    expect(MACHINES.map((m) => m.id).sort()).toEqual([
      'clusterNode',
      'leadership',
      'nodeLifecycle',
      'rebalancing',
      'shardHost',
    ]);
  });

  it('docs/statecharts.md is up to date with the machines', async () => {
    const onDisk = await readFile(join(root, 'docs', 'statecharts.md'), 'utf8');
    expect(onDisk, STALE).toBe(statechartsDocument());
  });

  it("README.md's design section shows every statechart as generated from the machines", async () => {
    const onDisk = await readFile(join(root, 'README.md'), 'utf8');
    expect(onDisk, STALE).toBe(readmeWithStatecharts(onDisk));
    for (const m of MACHINES) expect(onDisk).toContain(`#### ${m.id}`);
  });

  it.each(MACHINES.map((m) => [m.id, m] as const))(
    'docs/machines/%s.json is up to date',
    async (id, machine) => {
      const onDisk = await readFile(join(root, 'docs', 'machines', `${id}.json`), 'utf8');
      // Compared as data: the formatter decides the layout of the committed file.
      expect(JSON.parse(onDisk), STALE).toEqual(JSON.parse(definitionFile(machine)));
    },
  );

  it('the JSON definitions carry the eventless transitions that toJSON leaves out', () => {
    const lifecycle = machineDefinition(drawn('nodeLifecycle'));
    const routing = (lifecycle.states as Record<string, { always?: { target: string[] }[] }>).routing;
    expect(routing?.always?.map((t) => t.target)).toEqual([
      ['#nodeLifecycle.active'],
      ['#nodeLifecycle.draining'],
      ['#nodeLifecycle.failed'],
      ['#nodeLifecycle.left'],
      ['#nodeLifecycle.joining'],
    ]);
  });

  it('each chart names every state, marks initial and final states, and labels delays, eventless and invoke outcomes', () => {
    for (const machine of MACHINES) {
      const chart = mermaidChart(machine);
      expect(chart.startsWith('stateDiagram-v2\n')).toBe(true);
      for (const id of allStateIds(machine).slice(1)) {
        const mermaidId = id.split('.').slice(1).join('_');
        expect(chart, `${machine.id}: ${id}`).toMatch(new RegExp(`\\b${mermaidId}\\b`));
      }
    }
    const leadership = mermaidChart(drawn('leadership'));
    expect(leadership).toContain('[*] --> follower');
    expect(leadership).toContain('stopped --> [*]');
    expect(leadership).toContain('follower --> candidate : after untilLapse [isEligible]');
    expect(leadership).toContain('steppingDown --> follower : always');
    expect(leadership).toContain('candidate --> leader : done: acquireLease [acquired]');
    expect(leadership).toContain('reconciling --> backoff : error: readLease');
    const root = mermaidChart(drawn('clusterNode'));
    expect(root).toMatch(/\n {4}--\n {4}state heartbeat \{/);
    const host = mermaidChart(drawn('shardHost'));
    expect(host).toContain('[*] --> requests_serving');
    expect(host).toContain('requests_serving --> requests_verifying : always [hasRequest]');
    expect(host).toContain('requests_verifying --> requests_releasing : done: readLease [plannedInHeld]');
    expect(host).toContain('requests_verifying --> requests_rereading : done: readLease');
    expect(host).toContain('requests_rereading --> requests_releasing : done: readTopology [plannedInRead]');
    expect(host).toContain('requests_releasing --> requests_serving : error: releaseShards');
    expect(host).toContain('membership_confirmed --> membership_fencing : after untilFence');
    expect(host).toContain('membership_confirmed --> membership_confirmed : CONFIRMED');
    expect(host).toContain('membership_fenced --> membership_confirmed : CONFIRMED [fresh]');
  });
});
