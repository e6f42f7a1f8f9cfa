import { describe, expect, it } from 'vitest';
import { DEFAULT_TIMING, FAST_TIMING, resolveTiming } from '../../src/config.js';
import { InvalidConfigError } from '../../src/domain/errors.js';

describe('timing.departedRetentionMs', () => {
  it('defaults to well above the failure timeout in both presets', () => {
    expect(resolveTiming().departedRetentionMs).toBe(600_000);
    expect(resolveTiming({}, FAST_TIMING).departedRetentionMs).toBe(10_000);
    expect(DEFAULT_TIMING.departedRetentionMs).toBeGreaterThan(DEFAULT_TIMING.failureTimeoutMs);
  });

  it('is refused at or below the failure timeout, naming the field', () => {
    for (const departedRetentionMs of [90_000, 1_000]) {
      let thrown: unknown;
      try {
        resolveTiming({ departedRetentionMs });
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(InvalidConfigError);
      expect((thrown as InvalidConfigError).field).toBe('timing.departedRetentionMs');
      expect((thrown as Error).message).toMatch(/must be above timing\.failureTimeoutMs \(90000 ms\)/);
    }
    expect(resolveTiming({ departedRetentionMs: 90_001 }).departedRetentionMs).toBe(90_001);
  });
});
