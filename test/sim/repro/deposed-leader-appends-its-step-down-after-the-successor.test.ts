import { expect, it } from 'vitest';
import { runSimulation } from '../../../src/sim/simulator.js';
import { ORIGINAL_FAULTS } from './faults-when-found.js';

// n1 leads term 1 and is paused; n2 is elected (term 34) and appends its first events. n1 resumes, a
// commit of its fails, and its re-read of the topology merged n2's outbox into its audit queue; its
// step-down (LeadershipLost of term 1) queued behind them. Its first append (one of n2's events, with
// the stream's last sequence as n1 knew it) was acknowledged as a duplicate, and the step-down,
// chained to that event's id — which n2 had just made the stream's last — was stored after term 34's
// events. n1's own next election (term 70) then never reached the stream.
// Replay: aether simulate --nodes 5 --seed 69 --duration 2m --faults crash,pause,isolate,delay,drop,churn
// Fixed: a record of a newer term deposes the appender (its backlog is the successor's); a record read
// before leading replaces the queue and waits for the election; a step-down is stored only behind its
// own term's events; a read resets the expected sequence.
it('stores no event of a deposed term after the successor’s, and the next election’s (seed 69)', async () => {
  const r = await runSimulation({ nodes: 5, seed: 69, durationMs: 120_000, faults: ORIGINAL_FAULTS });
  expect(r.violations.filter((v) => v.invariant === 'audit-trail')).toEqual([]);
}, 60_000);
