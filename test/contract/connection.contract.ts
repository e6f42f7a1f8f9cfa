/** The connection part of the transport contract: what a connection reports about its store. */
import { describe, expect, it } from 'vitest';
import type { ContractContext } from './harness.js';

export function describeConnectionContract(ctx: () => ContractContext): void {
  describe('connection', () => {
    it('lists store warnings as data, each with a code, an actionable message and details', async () => {
      const c = await ctx().connect('warned');
      for (const w of c.storeWarnings) {
        expect(w.code).toMatch(/^[A-Z_]+$/);
        expect(w.message.length).toBeGreaterThan(20);
        expect(typeof w.details).toBe('object');
      }
    });

    it('keeps the warnings found at connect when a bucket is opened', async () => {
      const c = await ctx().connect('keeps');
      const atConnect = c.storeWarnings.map((w) => w.code);
      await c.kv(ctx().name('warned'));
      expect(c.storeWarnings.map((w) => w.code).slice(0, atConnect.length)).toEqual(atConnect);
    });
  });
}
