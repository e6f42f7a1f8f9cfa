/**
 * The checker can fail on real processes: a test build of the node whose leader never steps down
 * (it ignores its renew deadline, a lost lease and a newer term's topology) is paused past its lease
 * and resumed; it goes on acting as leader beside its successor, and the live checker names the
 * broken property.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ProcessHarness } from '../../src/chaos/process-harness.js';
import { natsServerAvailable } from '../support/nats-server.js';
import {
  LEADER_NEVER_STEPS_DOWN,
  type PatchedBuild,
  PatchTargetError,
  patchedBuild,
} from '../support/patched-build.js';

let h: ProcessHarness | null = null;
let build: PatchedBuild | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
  build?.remove();
  build = null;
});

/** n1 leads a cluster of three, is paused past its lease while a follower takes over, and resumes. */
async function pauseTheFirstLeader(h: ProcessHarness): Promise<void> {
  const t = h.timing;
  // n1 starts alone, so it is the first leader.
  await h.start(['n1']);
  await h.waitUntil(() => h.leader() === 'n1', { within: 10_000, what: 'n1 to lead' });
  await h.start(['n2', 'n3']);
  await h.waitUntil(() => h.converged(), { within: 15_000, what: 'the cluster to settle' });
  expect(h.leader()).toBe('n1');
  await h.pause('n1');
  await h.waitUntil(() => h.leaders().some((id) => id !== 'n1'), {
    within: t.leaseTtlMs * 4,
    what: 'a follower to take over from the frozen leader',
  });
  await h.sleep(t.leaseTtlMs);
  await h.resume('n1');
}

const OPTIONS = { seed: 7, servers: 1, shardCount: 64 } as const;

describe.skipIf(!natsServerAvailable())('a deliberately broken node on real processes', () => {
  it('a leader that never steps down after a pause past its lease fails the run with converges named', async () => {
    // Throws when a patch target is gone: the test cannot silently run an unbroken node.
    build = patchedBuild(LEADER_NEVER_STEPS_DOWN);
    const broken = build.bin;
    h = await ProcessHarness.create({ ...OPTIONS, binFor: (id) => (id === 'n1' ? broken : undefined) });
    await pauseTheFirstLeader(h);
    // A sound leader steps down within moments of resuming; this one keeps leading beside its successor.
    await h.waitUntil(() => h!.violations().some((v) => v.invariant === 'converges'), {
      within: 40_000,
      what: 'the checker to report the two leaders',
    });
    expect(h.leaders()).toContain('n1');
    expect(h.leaders().length).toBe(2);
    await h.settle();

    const report = h.report('broken-leader', null);
    expect(report.verdict).toBe('violation');
    const v = report.violations.find((x) => x.invariant === 'converges');
    expect(v?.message).toMatch(/2 running nodes act as leader \(.*n1.*\)/);
    expect(() => h!.assertClean()).toThrow(/converges/);
  }, 90_000);

  it('the same story with the sound build converges and the checker is clean', async () => {
    h = await ProcessHarness.create(OPTIONS);
    await pauseTheFirstLeader(h);
    await h.waitUntil(() => h!.converged(), {
      within: 30_000,
      what: 'the cluster to settle after the resume',
    });
    expect(h.leaders()).not.toContain('n1');
    await h.settle();
    expect(h.report('sound-leader', null).violations).toEqual([]);
  }, 90_000);
});

describe('a test build', () => {
  it('fails loudly when a patch target is not in the build', () => {
    const gone = { ...LEADER_NEVER_STEPS_DOWN[0]!, find: 'no such compiled text' };
    expect(() => patchedBuild([gone])).toThrow(PatchTargetError);
    expect(() => patchedBuild([gone])).toThrow(/ignore its renew deadline.*0 occurrence/);
  });
});
