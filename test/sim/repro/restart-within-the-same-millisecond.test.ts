import { expect, it } from 'vitest';
import { memoryTransport } from '../../../src/adapters/memory/index.js';
import { FAST_TIMING } from '../../../src/config.js';
import { SimulatedClock } from '../../../src/ports/simulated-clock.js';
import { createClusterNode } from '../../../src/runtime/cluster-node.js';

// The incarnation of a node is the clock time at which its process starts. A process that leaves
// and starts again within the same millisecond gets the incarnation of the one that left, and the
// leader never admits it: it stays Joining for good.
// Found by `aether chaos scenarios/rolling-restart.ts --seed 1` before the harness made restarts take 1 ms;
// fixed by making incarnations unique within a process.
it('admits a node restarted in the same clock millisecond as the process that left', async () => {
  const clock = new SimulatedClock(1_000_000);
  const transport = memoryTransport({ clock });
  const make = (nodeId: string) =>
    createClusterNode({ nodeId, cluster: 'r', transport, clock, timing: FAST_TIMING, shardCount: 16 });
  const nodes = ['a', 'b', 'c'].map(make);
  const started = Promise.all(nodes.map((n) => n.start()));
  let up = false;
  void started.then(() => (up = true));
  // Everything is instantaneous on a zero-latency transport: let it settle without moving time.
  const settleAt = async (cond: () => boolean) => {
    for (let i = 0; i < 200 && !cond(); i++) await clock.advance(0);
  };
  await settleAt(() => up);
  const victim = nodes.find((n) => !n.isLeader())!;
  let stopped = false;
  void victim.stop().then(() => (stopped = true));
  await settleAt(() => stopped);
  const again = make(victim.nodeId);
  expect(stopped).toBe(true);
  expect(clock.now()).toBe(1_000_000); // same millisecond as the first start
  let active = false;
  void again.start().then(
    () => (active = true),
    () => {},
  );
  await clock.advanceUntil(() => active, 15_000);
  expect(again.status()).toBe('Active');
  for (const n of [...nodes, again]) await n.crash();
});
