import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadScenario } from '../../src/sim/scenario-loader.js';
import { SimHarness } from '../../src/sim/sim-harness.js';

const DIR = join(import.meta.dirname, '../../scenarios');
const SCENARIOS = readdirSync(DIR)
  .filter((f) => f.endsWith('.ts'))
  .sort();

describe('chaos scenarios', () => {
  it('covers the required stories', () => {
    for (const name of [
      'leader-crash',
      'leader-paused',
      'cascading-failures',
      'isolation-heal',
      'high-churn',
      'rolling-restart',
    ]) {
      expect(SCENARIOS).toContain(`${name}.ts`);
    }
  });

  for (const file of SCENARIOS) {
    for (const seed of [1, 2]) {
      it(`${file} keeps every invariant (seed ${seed})`, async () => {
        const scenario = await loadScenario(join(DIR, file));
        const h = await SimHarness.create({ seed });
        try {
          await scenario(h);
          h.assertClean();
          expect(h.checker.stats().elections).toBeGreaterThan(0);
        } finally {
          await h.close();
        }
      }, 60_000);
    }
  }

  it('fails a scenario whose checker saw a violation, naming the seed', async () => {
    const h = await SimHarness.create({ seed: 5 });
    try {
      await h.start(2);
      // A doctored observation: a second leader for the current term.
      const term = h.clusterState()!.leader!.term;
      const other = h.running().find((id) => id !== h.leader())!;
      h.checker.observe({ kind: 'lease', at: h.now(), holder: other, term });
      expect(() => h.assertClean()).toThrow(/single-leader-per-term.*|seed 5/s);
    } finally {
      await h.close();
    }
  });
});
