/**
 * The lease store over the memory KV: a renewal is never sent at or after the renew deadline, and a
 * release deletes the lease still held in its term, even at a revision the holder never heard of.
 */
import { describe, expect, it } from 'vitest';
import { memoryTransport } from '../../../src/adapters/memory/index.js';
import { SimulatedClock } from '../../../src/ports/simulated-clock.js';
import { KvLeaseStore, LEASE_KEY } from '../../../src/runtime/lease-store.js';

async function store() {
  const clock = new SimulatedClock(1000);
  const transport = memoryTransport({ clock });
  const conn = await transport.connect('n1');
  const kv = await conn.kv('leases', { ttlMs: 2000 });
  return { clock, kv, lease: new KvLeaseStore(kv, clock, { timeoutMs: 500 }) };
}

describe('KvLeaseStore', () => {
  it('sends no renewal once the clock has reached the renew deadline', async () => {
    const { kv, lease } = await store();
    const won = await lease.acquire('n1');
    if (won.kind !== 'acquired') throw new Error(`campaign: ${won.kind}`);
    expect(await lease.renew('n1', won.term, won.revision, 1000)).toEqual({ kind: 'late', at: 1000 });
    // The lease was not written: still at the campaign's revision.
    expect((await kv.get(LEASE_KEY))?.revision).toBe(won.revision);
    const renewed = await lease.renew('n1', won.term, won.revision, 1001);
    expect(renewed.kind).toBe('renewed');
  });

  it('deletes the lease at the revision held', async () => {
    const { kv, lease } = await store();
    const won = await lease.acquire('n1');
    if (won.kind !== 'acquired') throw new Error(`campaign: ${won.kind}`);
    await lease.release(won.term, won.revision);
    expect(await kv.get(LEASE_KEY)).toBeNull();
  });

  it('deletes the lease of its own term moved on by a renewal whose answer it never had', async () => {
    const { kv, lease } = await store();
    const won = await lease.acquire('n1');
    if (won.kind !== 'acquired') throw new Error(`campaign: ${won.kind}`);
    await lease.renew('n1', won.term, won.revision);
    await lease.release(won.term, won.revision);
    expect(await kv.get(LEASE_KEY)).toBeNull();
  });

  it("never deletes a successor's lease", async () => {
    const { clock, kv, lease } = await store();
    const won = await lease.acquire('n1');
    if (won.kind !== 'acquired') throw new Error(`campaign: ${won.kind}`);
    await clock.advance(2000);
    const next = await lease.acquire('n2');
    expect(next.kind).toBe('acquired');
    await lease.release(won.term, won.revision);
    expect((await kv.get(LEASE_KEY))?.revision).toBe(next.kind === 'acquired' ? next.revision : -1);
  });
});
