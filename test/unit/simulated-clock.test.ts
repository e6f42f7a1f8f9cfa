import { describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../src/ports/simulated-clock.js';

describe('SimulatedClock', () => {
  it('fires timers in time order, ties in the order they were set', async () => {
    const clock = new SimulatedClock(1000);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('b'), 20);
    clock.setTimeout(() => fired.push('a'), 10);
    clock.setTimeout(() => fired.push('c'), 20);
    await clock.advance(15);
    expect(fired).toEqual(['a']);
    expect(clock.now()).toBe(1015);
    await clock.advance(5);
    expect(fired).toEqual(['a', 'b', 'c']);
  });

  it('does not fire a cleared timer', async () => {
    const clock = new SimulatedClock();
    let fired = false;
    const h = clock.setTimeout(() => {
      fired = true;
    }, 5);
    clock.clearTimeout(h);
    await clock.advance(10);
    expect(fired).toBe(false);
    expect(clock.pending).toBe(0);
  });

  it('settles promise callbacks between timers, so async chains see the right time', async () => {
    const clock = new SimulatedClock();
    const seen: number[] = [];
    clock.setTimeout(() => {
      void Promise.resolve().then(() => {
        seen.push(clock.now());
        clock.setTimeout(() => seen.push(clock.now()), 5);
      });
    }, 10);
    await clock.advance(100);
    expect(seen).toEqual([10, 15]);
  });

  it('advanceUntil fails loudly when the condition never holds', async () => {
    const clock = new SimulatedClock();
    await expect(clock.advanceUntil(() => false, 50)).rejects.toThrow(/within 50 ms/);
  });
});
