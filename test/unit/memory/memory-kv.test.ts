import { describe, expect, it } from 'vitest';
import { memoryTransport } from '../../../src/adapters/memory/index.js';
import {
  CasConflictError,
  InvalidValueError,
  StoreMisconfiguredError,
  TransportError,
} from '../../../src/domain/errors.js';
import type { KvChange } from '../../../src/ports/kv.js';
import { SimulatedClock } from '../../../src/ports/simulated-clock.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const b = (s: string) => enc.encode(s);

async function bucket(opts: { ttlMs?: number; latencyMs?: number; maxPayload?: number } = {}) {
  const clock = new SimulatedClock(0);
  const transport = memoryTransport({
    clock,
    latencyMs: opts.latencyMs ?? 0,
    maxPayload: opts.maxPayload ?? 1024,
  });
  const conn = await transport.connect('n1');
  const kv = await conn.kv('b', opts.ttlMs === undefined ? undefined : { ttlMs: opts.ttlMs });
  return { clock, transport, conn, kv };
}

const errorOf = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e,
  );

describe('memory KV bucket', () => {
  it('expires a key exactly ttl after its last write on the simulated clock', async () => {
    const { clock, kv } = await bucket({ ttlMs: 1000 });
    await kv.create('k', b('v'));
    await clock.advance(999);
    expect(await kv.get('k')).not.toBeNull();
    await clock.advance(1);
    expect(await kv.get('k')).toBeNull();
  });

  it('reports the expected and the actual revision in a CasConflictError', async () => {
    const { kv } = await bucket();
    const r1 = await kv.create('k', b('1'));
    const r2 = await kv.update('k', b('2'), r1);
    const err = (await errorOf(kv.update('k', b('3'), r1))) as CasConflictError;
    expect(err).toBeInstanceOf(CasConflictError);
    expect([err.key, err.expected, err.actual]).toEqual(['k', r1, r2]);
    const absent = (await errorOf(kv.update('none', b('3'), 5))) as CasConflictError;
    expect(absent.actual).toBeNull();
  });

  it("accepts an update at a delete marker's revision, as NATS does", async () => {
    const { kv } = await bucket();
    await kv.create('k', b('1'));
    await kv.delete('k');
    const marker = 2;
    expect(await kv.update('k', b('back'), marker)).toBe(3);
  });

  it('takes a revision for a delete even of an absent key, as NATS writes a marker', async () => {
    const { kv } = await bucket();
    const seen: KvChange[] = [];
    await kv.watch('>', (c) => seen.push(c));
    await kv.delete('never');
    expect(await kv.create('k', b('v'))).toBe(2);
    expect(seen.map((c) => [c.key, c.op, c.revision])).toEqual([
      ['never', 'delete', 1],
      ['k', 'put', 2],
    ]);
  });

  it('matches watch filters with wildcards like subjects', async () => {
    const { kv } = await bucket();
    const seen: string[] = [];
    await kv.watch('node.*', (c) => seen.push(c.key));
    for (const k of ['node.a', 'node.a.x', 'nodes', 'node.b']) await kv.create(k, b('v'));
    expect(seen).toEqual(['node.a', 'node.b']);
  });

  it('delivers a watch change latencyMs after the write', async () => {
    const { clock, kv } = await bucket({ latencyMs: 4 });
    const at: number[] = [];
    await kv.watch('>', () => at.push(clock.now()));
    await kv.create('k', b('v'));
    await clock.advance(3);
    expect(at).toEqual([]);
    await clock.advance(1);
    expect(at).toEqual([4]);
  });

  it('delivers the current entries, delete markers too, before an includeCurrent watch resolves, whatever the latency', async () => {
    const { clock, kv } = await bucket({ latencyMs: 50 });
    await kv.create('x', b('1'));
    await kv.create('gone', b('1'));
    await kv.delete('gone');
    await kv.create('later', b('1'));
    await clock.advance(50);
    const seen: Array<[string, string, number]> = [];
    await kv.watch('>', (c) => seen.push([c.key, c.op, clock.now()]), { includeCurrent: true });
    expect(seen).toEqual([
      ['x', 'put', 50],
      ['gone', 'delete', 50],
      ['later', 'put', 50],
    ]);
  });

  it('keeps its own copy of written values and hands out copies', async () => {
    const { kv } = await bucket();
    const value = b('abc');
    await kv.create('k', value);
    value[0] = 0x7a;
    const got = await kv.get('k');
    got!.value[1] = 0x7a;
    expect(dec.decode((await kv.get('k'))!.value)).toBe('abc');
  });

  it('rejects a value over maxPayload with TransportError', async () => {
    const { kv } = await bucket({ maxPayload: 8 });
    expect(await errorOf(kv.create('k', new Uint8Array(9)))).toBeInstanceOf(TransportError);
    expect(await kv.create('k', new Uint8Array(8))).toBe(1);
  });

  it('refuses keys and bucket names NATS would refuse', async () => {
    const { conn, kv } = await bucket();
    for (const key of ['', 'a b', '.a', 'a.', 'a*']) {
      expect(await errorOf(kv.create(key, b('v')))).toBeInstanceOf(InvalidValueError);
    }
    expect(await errorOf(conn.kv('a.b'))).toBeInstanceOf(InvalidValueError);
  });

  it('treats an omitted ttl as no ttl when reopening a bucket that has one', async () => {
    const { conn } = await bucket({ ttlMs: 5000 });
    expect(await errorOf(conn.kv('b'))).toBeInstanceOf(StoreMisconfiguredError);
  });
});
