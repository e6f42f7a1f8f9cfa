import { memoryTransport } from '../../src/adapters/memory/index.js';
import { SimulatedClock } from '../../src/ports/simulated-clock.js';
import { describeTransportContract } from './transport-contract.js';

let run = 0;

for (const latencyMs of [0, 3]) {
  describeTransportContract(`memory (latency ${latencyMs} ms, simulated clock)`, async () => {
    const clock = new SimulatedClock(1_700_000_000_000);
    const transport = memoryTransport({ clock, latencyMs });
    return {
      transport,
      wait: (ms) => clock.advance(ms),
      prefix: `t${++run}`,
      cleanup: () => transport.close(),
    };
  });
}
