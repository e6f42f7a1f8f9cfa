/**
 * The checks a node makes before its first heartbeat: the cluster's shard count, and whether a process
 * of its id runs (asked on the member subject, answered by the running process).
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { memoryTransport } from '../../src/adapters/memory/index.js';
import { InvalidConfigError } from '../../src/domain/errors.js';
import { type ClusterState, initialClusterState } from '../../src/domain/state.js';
import { SimulatedClock } from '../../src/ports/simulated-clock.js';
import type { MemberProbeReply } from '../../src/protocol/messages.js';
import { names } from '../../src/protocol/names.js';
import { answerMemberProbe, checkStart } from '../../src/runtime/start-checks.js';

const n = names('c');

function withMember(status: 'Active' | 'Left'): ClusterState {
  const s = initialClusterState(64);
  return {
    ...s,
    nodes: { n2: { id: 'n2', status, incarnation: 5, lastSeen: 0, weight: 1 } },
  };
}

async function setup(state: ClusterState | null, running?: MemberProbeReply['phase']) {
  const clock = new SimulatedClock(1_000);
  const transport = memoryTransport({ clock });
  const old = await transport.connect('n2');
  if (running !== undefined)
    await answerMemberProbe({ nodeId: 'n2', incarnation: 5, bus: old.bus, names: n }, () => running);
  const conn = await transport.connect('n2');
  const check = (shardCount = 64) => {
    const done = checkStart({
      nodeId: 'n2',
      cluster: 'c',
      shardCount,
      incarnation: 9,
      bus: conn.bus,
      names: n,
      timeoutMs: 500,
      log: pino({ level: 'silent' }),
      readTopology: async () =>
        state === null ? null : { state, revision: 1, writer: 'n1', term: 1, outbox: '' },
    });
    done.catch(() => {});
    return clock.advanceUntil(() => settled(done), 1_000).then(() => done);
  };
  return { check };
}

const states = new WeakMap<Promise<void>, boolean>();
function settled(p: Promise<void>): boolean {
  if (!states.has(p)) {
    states.set(p, false);
    p.then(
      () => states.set(p, true),
      () => states.set(p, true),
    );
  }
  return states.get(p)!;
}

describe('start checks', () => {
  it('refuses another shard count than the stored topology’s, naming both', async () => {
    const { check } = await setup(withMember('Left'));
    const err = await check(32).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidConfigError);
    expect((err as InvalidConfigError).field).toBe('shardCount');
    expect((err as Error).message).toContain(
      'cluster "c" has 64 shards in its stored topology; this node was started with 32',
    );
  });

  it('refuses an id whose process runs, naming its incarnation', async () => {
    const { check } = await setup(withMember('Active'), 'running');
    const err = await check().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidConfigError);
    expect((err as InvalidConfigError).field).toBe('nodeId');
    expect((err as Error).message).toContain(
      'node "n2" already runs in cluster "c" (incarnation 5, running)',
    );
  });

  it('admits a restart while the old process is stopping, after a crash (no answer), or of a departed id', async () => {
    await expect((await setup(withMember('Active'), 'stopping')).check()).resolves.toBeUndefined();
    await expect((await setup(withMember('Active'))).check()).resolves.toBeUndefined();
    await expect((await setup(withMember('Left'), 'running')).check()).resolves.toBeUndefined();
    await expect((await setup(null)).check()).resolves.toBeUndefined();
  });
});
