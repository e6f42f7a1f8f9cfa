import { describe, expect, it } from 'vitest';
import { transitionLogLine } from '../../src/cli/transition-log.js';
import type { DomainEvent } from '../../src/domain/events.js';

const base = { id: 'n1-1', origin: 'n1', term: 3, version: 7, at: 0 };
const ev = (e: Record<string, unknown>) => ({ ...base, ...e }) as unknown as DomainEvent;

describe('the info line of a domain event', () => {
  it('says who joined, failed, left or was removed, with the fields that matter', () => {
    expect(transitionLogLine(ev({ type: 'NodeJoined', nodeId: 'n2', incarnation: 5, weight: 2 }))).toEqual({
      fields: { event: 'NodeJoined', term: 3, version: 7, nodeId: 'n2', incarnation: 5, weight: 2 },
      msg: 'node n2 joined',
    });
    expect(
      transitionLogLine(
        ev({ type: 'NodeFailed', nodeId: 'n2', incarnation: 5, lastSeen: 1_000, orphaned: [1, 2, 3] }),
      ),
    ).toMatchObject({
      fields: { nodeId: 'n2', incarnation: 5, lastSeen: '1970-01-01T00:00:01.000Z', orphaned: 3 },
      msg: 'node n2 failed',
    });
    expect(
      transitionLogLine(ev({ type: 'NodeLeft', nodeId: 'n2', reason: 'graceful', orphaned: [] })),
    ).toMatchObject({ fields: { reason: 'graceful', orphaned: 0 }, msg: 'node n2 left' });
    expect(transitionLogLine(ev({ type: 'NodeDraining', nodeId: 'n2' }))?.msg).toBe('node n2 draining');
    expect(
      transitionLogLine(
        ev({ type: 'NodeRemoved', nodeId: 'n2', incarnation: 5, status: 'Left', departedAt: 0 }),
      ),
    ).toMatchObject({ fields: { incarnation: 5, status: 'Left' }, msg: 'node n2 removed' });
  });

  it('says who was elected or lost leadership, in which term and why', () => {
    expect(
      transitionLogLine(ev({ type: 'LeaderElected', nodeId: 'n1', previous: { nodeId: 'n3', term: 2 } })),
    ).toMatchObject({ fields: { previous: 'n3 term 2' }, msg: 'n1 elected leader in term 3' });
    expect(
      transitionLogLine(ev({ type: 'LeadershipLost', nodeId: 'n1', reason: 'stepped-down' })),
    ).toMatchObject({ fields: { reason: 'stepped-down' }, msg: 'n1 lost leadership of term 3' });
  });

  it('logs no renewal and no shard move', () => {
    for (const type of [
      'LeadershipRenewed',
      'ShardAssigned',
      'ShardMigrated',
      'RebalancingTriggered',
      'RebalancingCompleted',
    ])
      expect(transitionLogLine(ev({ type }))).toBeNull();
  });
});
