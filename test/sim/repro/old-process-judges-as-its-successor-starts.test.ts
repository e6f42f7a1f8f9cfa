import { expect, it } from 'vitest';
import { runSimulation } from '../../../src/sim/simulator.js';
import { FAULTS_UP_TO_FORGE } from './faults-when-found.js';

// A forging client gets "evil" admitted by forged heartbeats and stops; the leader n1 proposes its
// failure at its deadline (1006661) and holds it for a heartbeat to confirm it heard then. At 1006986
// n1 is restarted while its old process is still leaving: the old process, still leading and hearing,
// confirms the failure on the new process's first heartbeat and commits it in that instant. The
// history records the old process's end and the new one's start at 1006986, and the checker took that
// empty stretch for deafness: "n1 could not hear from 1006986 to 1006986". The runtime was right.
// Replay: aether simulate --nodes 5 --seed 673 --duration 2m --faults crash,pause,isolate,delay,drop,churn,restart-overlap,outage,stall,forge
// Fixed in the checker: a span that ends the instant it began held for no time.
it('a verdict by the old process as its successor starts is not blind (seed 673)', async () => {
  const r = await runSimulation({
    nodes: 5,
    seed: 673,
    durationMs: 120_000,
    faults: FAULTS_UP_TO_FORGE,
  });
  expect(r.faults.overlap).toBeGreaterThan(0);
  expect(r.faults.forge).toBeGreaterThan(0);
  expect(r.violations).toEqual([]);
}, 60_000);
