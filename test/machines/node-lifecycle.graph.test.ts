/**
 * Model-based coverage of the node lifecycle statechart, started once from every committed status,
 * run as the child of a stand-in root that records the judge's proposals.
 */

import { describe, expect, it } from 'vitest';
import type { EventObject } from 'xstate';
import { type NodeLifecycleInput, nodeLifecycleMachine } from '../../machines/node-lifecycle.machine.js';
import type { NodeStatus } from '../../src/domain/values.js';
import { allStateIds, Coverage, TaggedClock, underRoot } from './harness.js';
import {
  type AnyMachineSnapshot,
  coverModel,
  executePath,
  type ModelSpec,
  missingTransitions,
} from './model.js';

const timing = { heartbeatIntervalMs: 500, failureTimeoutMs: 2000 };
const STATUSES: NodeStatus[] = ['Joining', 'Active', 'Draining', 'Failed', 'Left'];
const inputs: NodeLifecycleInput[] = STATUSES.map((status) => ({
  nodeId: 'n1',
  timing,
  now: 0,
  incarnation: 1,
  weight: 1,
  status,
  lastSeen: 0,
  judge: true,
}));

const events = (s: AnyMachineSnapshot): EventObject[] => {
  const at = (s.context as { now: number }).now;
  const base = { id: 'e1', origin: 'n0', term: 1, version: 1, at, nodeId: 'n1' };
  return [
    { type: 'HEARTBEAT', at, incarnation: 1, weight: 2, load: 7 },
    { type: 'HEARTBEAT', at, incarnation: 2, weight: 1, load: 0 },
    { type: 'COMMITTED', at, event: { ...base, type: 'NodeJoined', incarnation: 2, weight: 1 } },
    { type: 'COMMITTED', at, event: { ...base, type: 'NodeDraining' } },
    { type: 'COMMITTED', at, event: { ...base, type: 'NodeFailed', lastSeen: 0, orphaned: [] } },
    { type: 'COMMITTED', at, event: { ...base, type: 'NodeLeft', reason: 'graceful' } },
    ...STATUSES.map((status) => ({ type: 'SYNC', at, status, incarnation: 1 })),
    { type: 'JUDGE', at, judge: false },
    { type: 'JUDGE', at, judge: true },
    { type: 'HEARING_RESTORED', at },
    { type: 'xstate.after.untilDeadline.nodeLifecycle.active.healthy' },
    { type: 'xstate.after.untilDeadline.nodeLifecycle.draining.healthy' },
  ] as EventObject[];
};

const spec: ModelSpec<NodeLifecycleInput> = {
  machine: nodeLifecycleMachine,
  events,
  abstract: (s) => {
    const c = s.context as { judge: boolean; incarnation: number; heardIncarnation: number };
    return [c.judge, c.incarnation, c.heardIncarnation];
  },
  underRoot: true,
  start: (input, coverage) => {
    const clock = new TaggedClock();
    const run = underRoot(nodeLifecycleMachine, input, { clock, inspect: coverage.inspect });
    clock.system = run.root.system;
    const subject = run.start();
    return {
      subject,
      clock,
      fakes: undefined as never,
      emitted: run.emitted,
      sent: () => run.sent(),
      stop: () => run.root.stop(),
    };
  },
};

describe('node lifecycle model', () => {
  it('generated paths reach every state and take every transition, with the predicted events and proposals', async () => {
    const coverage = new Coverage();
    const { paths } = await coverModel(spec, [inputs[0]!], coverage);
    // Every other starting status differs only in where `routing` leads: its start is enough.
    for (const input of inputs.slice(1)) await executePath(spec, input, [], coverage);
    expect(paths).toBeGreaterThan(10);
    expect(allStateIds(nodeLifecycleMachine).filter((id) => !coverage.states.has(id))).toEqual([]);
    expect(missingTransitions(nodeLifecycleMachine, coverage)).toEqual([]);
  });
});
