import { DeliverPolicy } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { consumerOptions } from '../../src/cli/follow-stream.js';

describe('where a follow (re)starts reading', () => {
  it('starts where asked before anything was read', () => {
    expect(consumerOptions({ kind: 'all' }, 0, undefined)).toEqual({ deliver_policy: DeliverPolicy.All });
    const at = new Date('2030-01-01T00:00:00Z');
    expect(consumerOptions({ kind: 'time', at }, 0, 's.x')).toEqual({
      filter_subjects: 's.x',
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: at.toISOString(),
    });
    // "new" is after the sequence that was last when the follow began, even if nothing came since.
    expect(consumerOptions({ kind: 'after', seq: 41 }, 41, undefined)).toEqual({
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: 42,
    });
  });

  it('resumes right after the last sequence read, whatever the start was', () => {
    for (const start of [{ kind: 'all' } as const, { kind: 'time', at: new Date(0) } as const]) {
      expect(consumerOptions(start, 7, 's.x')).toEqual({
        filter_subjects: 's.x',
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: 8,
      });
    }
  });
});
