import { describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../src/ports/simulated-clock.js';
import { PausableClock, PauseGate } from '../../src/sim/pause.js';

describe('a pausable clock', () => {
  it('holds timers that come due while paused and fires them in order on resume', async () => {
    const base = new SimulatedClock(0);
    const gate = new PauseGate(base);
    const clock = new PausableClock(base, gate);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push(`a@${clock.now()}`), 100);
    clock.setTimeout(() => fired.push(`b@${clock.now()}`), 200);
    gate.pause();
    await base.advance(500);
    expect(fired).toEqual([]);
    expect(gate.held).toBe(2);
    gate.resume();
    await base.advance(0);
    expect(fired).toEqual(['a@500', 'b@500']);
  });

  it('never fires a timer cleared while it was held', async () => {
    const base = new SimulatedClock(0);
    const gate = new PauseGate(base);
    const clock = new PausableClock(base, gate);
    const fired: number[] = [];
    const h = clock.setTimeout(() => fired.push(1), 10);
    gate.pause();
    await base.advance(20);
    clock.clearTimeout(h);
    gate.resume();
    await base.advance(20);
    expect(fired).toEqual([]);
  });

  it('keeps the shared time: a paused node sees time jump on resume', async () => {
    const base = new SimulatedClock(1_000);
    const gate = new PauseGate(base);
    const clock = new PausableClock(base, gate);
    gate.pause();
    await base.advance(3_000);
    expect(clock.now()).toBe(4_000);
  });

  it('drops what it holds once discarded (the process died)', async () => {
    const base = new SimulatedClock(0);
    const gate = new PauseGate(base);
    const clock = new PausableClock(base, gate);
    const fired: number[] = [];
    clock.setTimeout(() => fired.push(1), 10);
    gate.pause();
    await base.advance(20);
    gate.discard();
    gate.resume();
    await base.advance(20);
    expect(fired).toEqual([]);
  });
});
