import { describe, expect, it } from 'vitest';
import { checkBound, storyBounds } from '../../src/cli/demo-bounds.js';
import { DEFAULT_TIMING, FAST_TIMING } from '../../src/config.js';

describe('checkBound', () => {
  it('holds when the measured time is within the bound, the bound itself included', () => {
    expect(checkBound(0, 2_500, 'the new leader after the crash')).toBeNull();
    expect(checkBound(2_499, 2_500, 'the new leader after the crash')).toBeNull();
    expect(checkBound(2_500, 2_500, 'the new leader after the crash')).toBeNull();
  });

  it('fails a step over its bound with a line naming the step, the time and the bound', () => {
    expect(checkBound(2_501, 2_500, 'the new leader after the crash')).toBe(
      'the new leader after the crash exceeded its bound: 2501 ms > 2500 ms',
    );
    expect(checkBound(1, 0, 'the failure detection')).toBe(
      'the failure detection exceeded its bound: 1 ms > 0 ms',
    );
  });

  it('fails a measurement that is not a number rather than letting it pass', () => {
    expect(checkBound(Number.NaN, 2_500, 'the failure detection')).toMatch(/exceeded its bound: NaN ms/);
    expect(checkBound(Number.POSITIVE_INFINITY, 2_500, 'the failure detection')).not.toBeNull();
  });
});

describe('storyBounds', () => {
  it('bounds a takeover by a lease TTL plus a renew interval, a failure by its timeout plus a heartbeat', () => {
    expect(storyBounds(FAST_TIMING)).toEqual({ leaderTakeoverMs: 2_500, failureDetectionMs: 2_500 });
    expect(storyBounds(DEFAULT_TIMING)).toEqual({ leaderTakeoverMs: 13_000, failureDetectionMs: 120_000 });
  });
});
