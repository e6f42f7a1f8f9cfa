import { describe, expect, it } from 'vitest';
import { memoryTransport, seededRandom } from '../../../src/adapters/memory/index.js';
import { StoppedError, TransportError } from '../../../src/domain/errors.js';
import type { KvChange } from '../../../src/ports/kv.js';
import { SimulatedClock } from '../../../src/ports/simulated-clock.js';
import type { ConnectionStatus } from '../../../src/ports/transport.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const b = (s: string) => enc.encode(s);
const s = (u: Uint8Array | null) => (u ? dec.decode(u) : null);

async function cluster(opts: { latencyMs?: number } = {}) {
  const clock = new SimulatedClock(0);
  const transport = memoryTransport({ clock, ...opts });
  const a = await transport.connect('a');
  const bb = await transport.connect('b');
  return { clock, transport, a, b: bb };
}

const errorOf = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e,
  );

describe('isolate and heal', () => {
  it("rejects an isolated node's KV operations with TransportError, and serves them again after heal", async () => {
    const { clock, transport, b: conn } = await cluster();
    const kv = await conn.kv('bucket');
    transport.faults.isolate('b');
    expect(await errorOf(kv.create('k', b('v')))).toBeInstanceOf(TransportError);
    expect(await errorOf(conn.kv('other'))).toBeInstanceOf(TransportError);
    transport.faults.heal('b');
    await clock.advance(0);
    expect(await kv.create('k', b('v'))).toBe(1);
  });

  it('drops what an isolated node publishes and delivers nothing to it, until healed', async () => {
    const { clock, transport, a, b: conn } = await cluster();
    const atA: string[] = [];
    const atB: string[] = [];
    await a.bus.subscribe('x', (m) => atA.push(s(m.data)!));
    await conn.bus.subscribe('x', (m) => atB.push(s(m.data)!));
    transport.faults.isolate('b');
    conn.bus.publish('x', b('from b, lost'));
    a.bus.publish('x', b('from a, not for b'));
    await clock.advance(10);
    expect(atA).toEqual(['from a, not for b']);
    expect(atB).toEqual([]);
    transport.faults.heal('b');
    conn.bus.publish('x', b('from b'));
    a.bus.publish('x', b('from a'));
    await clock.advance(10);
    expect(atA).toEqual(['from a, not for b', 'from b', 'from a']);
    expect(atB).toEqual(['from b', 'from a']);
  });

  it('loses a message already in flight to a node that is isolated before it arrives', async () => {
    const { clock, transport, a, b: conn } = await cluster({ latencyMs: 20 });
    const atB: string[] = [];
    await conn.bus.subscribe('x', (m) => atB.push(s(m.data)!));
    a.bus.publish('x', b('in flight'));
    await clock.advance(10);
    transport.faults.isolate('b');
    await clock.advance(20);
    transport.faults.heal('b');
    await clock.advance(30);
    expect(atB).toEqual([]);
  });

  it('reports disconnected on isolation and connected on heal', async () => {
    const { clock, transport, b: conn } = await cluster();
    const statuses: ConnectionStatus[] = [];
    conn.onStatus((st) => statuses.push(st));
    transport.faults.isolate('b');
    await clock.advance(0);
    expect(conn.status).toBe('disconnected');
    transport.faults.heal('b');
    await clock.advance(0);
    expect(statuses).toEqual(['disconnected', 'connected']);
    expect(transport.faults.isIsolated('b')).toBe(false);
  });

  it('answers a request to a subject only an isolated node serves with no responders', async () => {
    const { transport, a, b: conn } = await cluster();
    await conn.bus.subscribe('svc', (m) => m.respond?.(b('ok')));
    transport.faults.isolate('b');
    const err = await errorOf(a.bus.request('svc', b('?'), { timeoutMs: 1000 }));
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toMatch(/no responders/);
  });

  it('refuses a new connection for an isolated node', async () => {
    const { transport } = await cluster();
    transport.faults.isolate('c');
    expect(await errorOf(transport.connect('c'))).toBeInstanceOf(TransportError);
  });

  it('lets a watch on a healed node catch up with what changed meanwhile, latest value per key in revision order', async () => {
    const { clock, transport, a, b: conn } = await cluster();
    const writer = await a.kv('bucket');
    const watcher = await conn.kv('bucket');
    const z = await writer.create('z', b('1'));
    const seen: KvChange[] = [];
    await watcher.watch('>', (c) => seen.push(c));
    transport.faults.isolate('b');
    const x1 = await writer.create('x', b('1'));
    const x2 = await writer.update('x', b('2'), x1);
    const y = await writer.create('y', b('1'));
    await writer.delete('z', z);
    await clock.advance(10);
    expect(seen).toEqual([]);
    transport.faults.heal('b');
    await clock.advance(0);
    expect(seen.map((c) => [c.key, c.op, s(c.value), c.revision])).toEqual([
      ['x', 'put', '2', x2],
      ['y', 'put', '1', y],
      ['z', 'delete', null, y + 1],
    ]);
    const later = await writer.create('w', b('1'));
    await clock.advance(0);
    expect(seen.at(-1)?.revision).toBe(later);
  });
});

describe('crash', () => {
  it("removes the node's subscriptions and watches without a word to anyone", async () => {
    const { clock, transport, a, b: conn } = await cluster();
    const c = await transport.connect('c');
    const statuses: ConnectionStatus[] = [];
    a.onStatus((st) => statuses.push(st));
    c.onStatus((st) => statuses.push(st));
    const atB: string[] = [];
    const atC: string[] = [];
    await conn.bus.subscribe('x', (m) => atB.push(s(m.data)!));
    await c.bus.subscribe('x', (m) => atC.push(s(m.data)!));
    const bWatch: KvChange[] = [];
    await (await conn.kv('bucket')).watch('>', (ch) => bWatch.push(ch));
    transport.faults.crash('b');
    a.bus.publish('x', b('after crash'));
    await (await a.kv('bucket')).create('k', b('v'));
    await clock.advance(10);
    expect(atC).toEqual(['after crash']);
    expect(atB).toEqual([]);
    expect(bWatch).toEqual([]);
    expect(statuses).toEqual([]);
    expect(transport.connections('b')).toEqual([]);
    expect(conn.status).toBe('closed');
  });

  it('makes later operations on the crashed connection throw StoppedError', async () => {
    const { transport, b: conn } = await cluster();
    const kv = await conn.kv('bucket');
    transport.faults.crash('b');
    expect(await errorOf(kv.get('k'))).toBeInstanceOf(StoppedError);
    expect(() => conn.bus.publish('x', b('?'))).toThrow(StoppedError);
    expect(await errorOf(conn.bus.subscribe('x', () => {}))).toBeInstanceOf(StoppedError);
    expect(await errorOf(conn.bus.request('x', b('?'), { timeoutMs: 10 }))).toBeInstanceOf(StoppedError);
  });

  it('fails operations still pending at the crash with StoppedError', async () => {
    const { clock, transport, a, b: conn } = await cluster();
    await a.bus.subscribe('svc', () => {});
    const kv = await conn.kv('bucket');
    transport.faults.delay('b', 50);
    const write = errorOf(kv.create('k', b('v')));
    const request = errorOf(conn.bus.request('svc', b('?'), { timeoutMs: 1000 }));
    await clock.advance(10);
    transport.faults.crash('b');
    expect(await write).toBeInstanceOf(StoppedError);
    expect(await request).toBeInstanceOf(StoppedError);
    await clock.advance(100);
    expect(await (await a.kv('bucket')).get('k')).toBeNull();
  });

  it('lets a crashed node connect again and find the stored data', async () => {
    const { transport, b: conn } = await cluster();
    await (await conn.kv('bucket')).create('k', b('kept'));
    transport.faults.crash('b');
    const again = await transport.connect('b');
    expect(s((await (await again.kv('bucket')).get('k'))?.value ?? null)).toBe('kept');
  });
});

describe('delay', () => {
  it('shifts deliveries to and from the node by the delay, on the clock', async () => {
    const { clock, transport, a, b: conn } = await cluster({ latencyMs: 5 });
    const at: Array<[string, number]> = [];
    await a.bus.subscribe('to-a', () => at.push(['a', clock.now()]));
    await conn.bus.subscribe('to-b', () => at.push(['b', clock.now()]));
    transport.faults.delay('b', 100);
    a.bus.publish('to-b', b('1'));
    conn.bus.publish('to-a', b('2'));
    await clock.advance(104);
    expect(at).toEqual([]);
    await clock.advance(1);
    expect(at).toEqual([
      ['b', 105],
      ['a', 105],
    ]);
  });

  it('adds the delays of sender and receiver', async () => {
    const { clock, transport, a, b: conn } = await cluster();
    let arrived = -1;
    await conn.bus.subscribe('x', () => {
      arrived = clock.now();
    });
    transport.faults.delay('a', 30);
    transport.faults.delay('b', 100);
    a.bus.publish('x', b('1'));
    await clock.advance(200);
    expect(arrived).toBe(130);
  });

  it("applies the node's KV operations only after the delay", async () => {
    const { clock, transport, a, b: conn } = await cluster();
    const slow = await conn.kv('bucket');
    const fast = await a.kv('bucket');
    transport.faults.delay('b', 50);
    let done = -1;
    void slow.create('k', b('v')).then(() => {
      done = clock.now();
    });
    await clock.advance(49);
    expect(await fast.get('k')).toBeNull();
    await clock.advance(1);
    expect(done).toBe(50);
    expect(await fast.get('k')).not.toBeNull();
  });

  it('holds each message for its own delay even when it queues behind an earlier one', async () => {
    const { clock, transport, a, b: conn } = await cluster();
    const got: Array<[string, number]> = [];
    await conn.bus.subscribe('x', (m) => got.push([s(m.data)!, clock.now()]));
    transport.faults.delay('b', 100);
    a.bus.publish('x', b('first'));
    await clock.advance(10);
    transport.faults.delay('b', 200);
    a.bus.publish('x', b('second'));
    await clock.advance(300);
    expect(got).toEqual([
      ['first', 100],
      ['second', 210],
    ]);
  });

  it('keeps publish order when the delay is lifted between two messages', async () => {
    const { clock, transport, a, b: conn } = await cluster();
    const got: Array<[string, number]> = [];
    await conn.bus.subscribe('x', (m) => got.push([s(m.data)!, clock.now()]));
    transport.faults.delay('b', 100);
    a.bus.publish('x', b('first'));
    await clock.advance(10);
    transport.faults.heal('b');
    a.bus.publish('x', b('second'));
    await clock.advance(200);
    expect(got).toEqual([
      ['first', 100],
      ['second', 100],
    ]);
  });
});

describe('drop', () => {
  it('loses exactly the messages the seeded rng picks', async () => {
    const { clock, transport, a, b: conn } = await cluster();
    const got: number[] = [];
    await conn.bus.subscribe('x', (m) => got.push(Number(s(m.data))));
    transport.faults.drop('b', 0.3, seededRandom(42));
    for (let i = 0; i < 200; i++) a.bus.publish('x', b(String(i)));
    await clock.advance(1);
    const dice = seededRandom(42);
    const expected = Array.from({ length: 200 }, (_, i) => i).filter(() => dice() >= 0.3);
    expect(got).toEqual(expected);
    expect(got.length).toBeGreaterThan(100);
    expect(got.length).toBeLessThan(180);
  });

  it('loses every message to and from the node at probability 1, and none after heal', async () => {
    const { clock, transport, a, b: conn } = await cluster();
    const atA: string[] = [];
    const atB: string[] = [];
    await a.bus.subscribe('x', (m) => atA.push(s(m.data)!));
    await conn.bus.subscribe('x', (m) => atB.push(s(m.data)!));
    transport.faults.drop('b', 1, seededRandom(1));
    conn.bus.publish('x', b('b1'));
    a.bus.publish('x', b('a1'));
    await clock.advance(1);
    expect(atA).toEqual(['a1']);
    expect(atB).toEqual([]);
    transport.faults.heal('b');
    conn.bus.publish('x', b('b2'));
    await clock.advance(1);
    expect(atA).toEqual(['a1', 'b2']);
    expect(atB).toEqual(['b2']);
  });

  it('leaves KV operations and watches untouched, as JetStream retransmits', async () => {
    const { clock, transport, a, b: conn } = await cluster();
    const seen: string[] = [];
    await (await conn.kv('bucket')).watch('>', (c) => seen.push(c.key));
    transport.faults.drop('b', 1, seededRandom(7));
    const kv = await a.kv('bucket');
    for (const k of ['p', 'q', 'r']) await kv.create(k, b('v'));
    await clock.advance(1);
    expect(seen).toEqual(['p', 'q', 'r']);
  });

  it('refuses a probability outside [0, 1]', async () => {
    const { transport } = await cluster();
    expect(() => transport.faults.drop('b', 1.5, seededRandom(1))).toThrow(/probability/);
  });
});

describe('named faults', () => {
  it('inject and heal only their own fault', async () => {
    const { transport } = await cluster();
    const isolation = transport.faults.isolateFault('b');
    const slow = transport.faults.delayFault('b', 40);
    const lossy = transport.faults.dropFault('a', 0.5, seededRandom(3));
    expect([isolation.name, slow.name, lossy.name]).toEqual([
      'isolate b',
      'delay b by 40 ms',
      'drop 50% of messages of a',
    ]);
    isolation.inject();
    slow.inject();
    lossy.inject();
    expect(transport.faults.active()).toEqual([
      { nodeId: 'b', kind: 'isolate' },
      { nodeId: 'b', kind: 'delay', ms: 40 },
      { nodeId: 'a', kind: 'drop', probability: 0.5 },
    ]);
    isolation.heal();
    expect(transport.faults.isIsolated('b')).toBe(false);
    expect(transport.faults.delayOf('b')).toBe(40);
    lossy.heal();
    expect(transport.faults.active()).toEqual([{ nodeId: 'b', kind: 'delay', ms: 40 }]);
  });

  it('crash as a named fault closes the connection, and its heal leaves it closed', async () => {
    const { transport, b: conn } = await cluster();
    const crash = transport.faults.crashFault('b');
    crash.inject();
    crash.heal();
    expect(conn.status).toBe('closed');
  });
});
