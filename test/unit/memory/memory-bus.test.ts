import { describe, expect, it } from 'vitest';
import { memoryTransport } from '../../../src/adapters/memory/index.js';
import { StoppedError, StoreMisconfiguredError, TransportError } from '../../../src/domain/errors.js';
import { SimulatedClock } from '../../../src/ports/simulated-clock.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const b = (s: string) => enc.encode(s);

async function pair(
  opts: { latencyMs?: number; onHandlerError?: (err: unknown) => void; duplicateWindowMs?: number } = {},
) {
  const clock = new SimulatedClock(0);
  const transport = memoryTransport({ clock, ...opts });
  return { clock, transport, a: await transport.connect('a'), b: await transport.connect('b') };
}

const errorOf = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e,
  );

describe('memory bus', () => {
  it('delivers without latency in a microtask, with no clock time passing', async () => {
    const { clock, a, b: conn } = await pair();
    const got: number[] = [];
    await conn.bus.subscribe('x', () => got.push(clock.now()));
    a.bus.publish('x', b('1'));
    expect(got).toEqual([]);
    await Promise.resolve();
    expect(got).toEqual([0]);
  });

  it('delivers after exactly latencyMs of clock time', async () => {
    const { clock, a, b: conn } = await pair({ latencyMs: 25 });
    const got: number[] = [];
    await conn.bus.subscribe('x', () => got.push(clock.now()));
    a.bus.publish('x', b('1'));
    await clock.advance(24);
    expect(got).toEqual([]);
    await clock.advance(1);
    expect(got).toEqual([25]);
  });

  it('passes a handler exception to onHandlerError and goes on delivering', async () => {
    const errors: unknown[] = [];
    const { clock, a, b: conn } = await pair({ onHandlerError: (e) => errors.push(e) });
    const got: string[] = [];
    await conn.bus.subscribe('x', (m) => {
      const d = dec.decode(m.data);
      if (d === 'bad') throw new Error('handler failed');
      got.push(d);
    });
    a.bus.publish('x', b('bad'));
    a.bus.publish('x', b('good'));
    await clock.advance(0);
    expect(got).toEqual(['good']);
    expect(errors).toHaveLength(1);
  });

  it('answers a request with the first reply and ignores later ones', async () => {
    const { clock, transport, a, b: conn } = await pair();
    const c = await transport.connect('c');
    transport.faults.delay('b', 30);
    await conn.bus.subscribe('svc', (m) => m.respond?.(b('slow b')));
    await c.bus.subscribe('svc', (m) => m.respond?.(b('fast c')));
    let reply = '';
    void a.bus.request('svc', b('?'), { timeoutMs: 1000 }).then((r) => {
      reply = dec.decode(r);
    });
    await clock.advance(100);
    expect(reply).toBe('fast c');
  });

  it('ignores a reply that arrives after the timeout', async () => {
    const { clock, transport, a, b: conn } = await pair();
    transport.faults.delay('b', 100);
    await conn.bus.subscribe('svc', (m) => m.respond?.(b('late')));
    const err = errorOf(a.bus.request('svc', b('?'), { timeoutMs: 50 }));
    await clock.advance(300);
    expect(((await err) as Error).name).toBe('TimeoutError');
  });

  it('refuses invalid subjects with TransportError', async () => {
    const { a } = await pair();
    for (const subject of ['', 'a..b', 'a.*', 'a.>', 'a b'])
      expect(() => a.bus.publish(subject, b('x'))).toThrow(TransportError);
    expect(await errorOf(a.bus.subscribe('a.>.b', () => {}))).toBeInstanceOf(TransportError);
  });

  it('throws StoppedError for a publish on a closed connection', async () => {
    const { a } = await pair();
    await a.close();
    expect(() => a.bus.publish('x', b('x'))).toThrow(StoppedError);
  });

  it('reports closed to status listeners when a connection closes', async () => {
    const { clock, a } = await pair();
    const statuses: string[] = [];
    a.onStatus((s) => statuses.push(s));
    await a.close();
    await clock.advance(0);
    expect(statuses).toEqual(['closed']);
  });
});

describe('memory audit log', () => {
  it('stamps each entry with the clock time of its append', async () => {
    const { clock, a } = await pair();
    const log = await a.auditLog('audit', 'ev.>');
    await clock.advance(40);
    await log.append('ev.x', b('1'), 'm1');
    await clock.advance(60);
    await log.append('ev.x', b('2'), 'm2');
    const at: number[] = [];
    for await (const e of log.read()) at.push(e.at);
    expect(at).toEqual([40, 100]);
  });

  it('remembers a message id for the duplicate window only', async () => {
    const { clock, a } = await pair({ duplicateWindowMs: 1000 });
    const log = await a.auditLog('audit', 'ev.>');
    await log.append('ev.x', b('1'), 'same');
    await clock.advance(999);
    expect(await log.append('ev.x', b('again'), 'same')).toEqual({ seq: 1, duplicate: true });
    await clock.advance(1);
    expect(await log.append('ev.x', b('later'), 'same')).toEqual({ seq: 2, duplicate: false });
  });

  it('delivers a duplicate append to live subscribers too, as core NATS does', async () => {
    const { clock, a, b: conn } = await pair();
    const log = await a.auditLog('audit', 'ev.>');
    const got: string[] = [];
    await conn.bus.subscribe('ev.>', (m) => got.push(dec.decode(m.data)));
    await log.append('ev.x', b('1'), 'same');
    await log.append('ev.x', b('1'), 'same');
    await clock.advance(0);
    expect(got).toEqual(['1', '1']);
  });

  it('refuses an append outside its subjects with TransportError', async () => {
    const { a } = await pair();
    const log = await a.auditLog('audit', 'ev.>');
    expect(await errorOf(log.append('other.x', b('1'), 'm1'))).toBeInstanceOf(TransportError);
  });

  it('refuses to reopen a log on other subjects with StoreMisconfiguredError', async () => {
    const { a, b: conn } = await pair();
    await a.auditLog('audit', 'ev.>');
    expect(await errorOf(conn.auditLog('audit', 'other.>'))).toBeInstanceOf(StoreMisconfiguredError);
  });

  it("rejects an isolated node's append with TransportError and stores nothing", async () => {
    const { transport, a, b: conn } = await pair();
    const log = await conn.auditLog('audit', 'ev.>');
    transport.faults.isolate('b');
    expect(await errorOf(log.append('ev.x', b('1'), 'm1'))).toBeInstanceOf(TransportError);
    const read: number[] = [];
    for await (const e of (await a.auditLog('audit', 'ev.>')).read()) read.push(e.seq);
    expect(read).toEqual([]);
  });
});
