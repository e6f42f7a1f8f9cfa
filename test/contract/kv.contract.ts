/** The KV part of the transport contract: NATS JetStream KV semantics as of server 2.9. */
import { beforeEach, describe, expect, it } from 'vitest';
import { CasConflictError, KeyExistsError, StoreMisconfiguredError } from '../../src/domain/errors.js';
import type { KvBucket, KvChange } from '../../src/ports/kv.js';
import { bytes, type ContractContext, rejection, text, until, value } from './harness.js';

interface Seen {
  key: string;
  op: 'put' | 'delete';
  value: string | null;
  revision: number;
}

const seen = (c: KvChange): Seen => ({ key: c.key, op: c.op, value: text(c.value), revision: c.revision });

export function describeKvContract(ctx: () => ContractContext): void {
  describe('KV', () => {
    let a: KvBucket;
    let b: KvBucket;

    beforeEach(async () => {
      const c = ctx();
      const bucket = c.name('kv');
      a = await (await c.connect('a')).kv(bucket);
      b = await (await c.connect('b')).kv(bucket);
    });

    it('returns null for a key that was never written', async () => {
      expect(await a.get('nothing')).toBeNull();
    });

    it('creates a key only when it is absent, across connections', async () => {
      const rev = await a.create('lease', bytes('a'));
      const err = await b.create('lease', bytes('b')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KeyExistsError);
      const entry = await b.get('lease');
      expect(entry && { value: text(entry.value), revision: entry.revision }).toEqual({
        value: 'a',
        revision: rev,
      });
    });

    it('creates a key again after it was deleted, at a higher revision', async () => {
      const first = await a.create('lease', bytes('a'));
      await a.delete('lease');
      expect(await b.get('lease')).toBeNull();
      const second = await b.create('lease', bytes('b'));
      expect(second).toBeGreaterThan(first);
      expect(text((await a.get('lease'))?.value ?? null)).toBe('b');
    });

    it('updates with the current revision and returns a higher one', async () => {
      const r1 = await a.create('map', bytes('v1'));
      const r2 = await b.update('map', bytes('v2'), r1);
      expect(r2).toBeGreaterThan(r1);
      const entry = await a.get('map');
      expect(entry && { value: text(entry.value), revision: entry.revision }).toEqual({
        value: 'v2',
        revision: r2,
      });
    });

    it('rejects an update with a stale revision as CasConflictError and keeps the newer value', async () => {
      const r1 = await a.create('map', bytes('v1'));
      await a.update('map', bytes('v2'), r1);
      const err = await b.update('map', bytes('stale'), r1).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CasConflictError);
      expect((err as CasConflictError).expected).toBe(r1);
      expect(text((await b.get('map'))?.value ?? null)).toBe('v2');
    });

    it('rejects a delete with a stale expected revision as CasConflictError and keeps the key', async () => {
      const r1 = await a.create('k', bytes('v1'));
      await a.update('k', bytes('v2'), r1);
      const err = await b.delete('k', r1).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CasConflictError);
      expect(text((await a.get('k'))?.value ?? null)).toBe('v2');
    });

    it('deletes with the current expected revision', async () => {
      const r1 = await a.create('k', bytes('v1'));
      await b.delete('k', r1);
      expect(await a.get('k')).toBeNull();
    });

    it('increases revisions strictly across all keys of the bucket', async () => {
      const revs: number[] = [];
      revs.push(await a.create('x', bytes('1')));
      revs.push(await b.create('y', bytes('1')));
      revs.push(await a.update('x', bytes('2'), revs[0]!));
      revs.push(await b.create('z', bytes('1')));
      await a.delete('y');
      revs.push(await b.update('z', bytes('2'), revs[3]!));
      revs.push(await a.create('y', bytes('again')));
      for (let i = 1; i < revs.length; i++) expect(revs[i]!).toBeGreaterThan(revs[i - 1]!);
    });

    it('delivers puts and deletes to a watch in revision order', async () => {
      const { h } = ctx();
      const changes: Seen[] = [];
      await b.watch('>', (c) => changes.push(seen(c)));
      const r1 = await a.create('x', bytes('1'));
      const r2 = await a.update('x', bytes('2'), r1);
      const r3 = await a.create('y', bytes('1'));
      await a.delete('x');
      await until(h, 'four changes seen', () => changes.length >= 4);
      expect(changes.slice(0, 3)).toEqual([
        { key: 'x', op: 'put', value: '1', revision: r1 },
        { key: 'x', op: 'put', value: '2', revision: r2 },
        { key: 'y', op: 'put', value: '1', revision: r3 },
      ]);
      expect(changes[3]).toMatchObject({ key: 'x', op: 'delete' });
      expect(changes[3]!.revision).toBeGreaterThan(r3);
      expect(changes).toHaveLength(4);
    });

    it('delivers to a watch on one key only the changes of that key', async () => {
      const { h } = ctx();
      const changes: Seen[] = [];
      await b.watch('x', (c) => changes.push(seen(c)));
      await a.create('y', bytes('other'));
      const rx = await a.create('x', bytes('mine'));
      await until(h, 'the change of x seen', () => changes.length >= 1);
      expect(changes).toEqual([{ key: 'x', op: 'put', value: 'mine', revision: rx }]);
    });

    it('delivers the current values before resolving when includeCurrent is set, then later changes', async () => {
      const { h } = ctx();
      const rx = await a.create('x', bytes('1'));
      const ry = await a.create('y', bytes('1'));
      await a.create('gone', bytes('1'));
      await a.delete('gone');
      const changes: Seen[] = [];
      await b.watch('>', (c) => changes.push(seen(c)), { includeCurrent: true });
      // The snapshot is in by the time the watch resolves, so a caller can rely on it at once.
      expect(changes.filter((c) => c.op === 'put').map((c) => c.key)).toEqual(['x', 'y']);
      const rx2 = await a.update('x', bytes('2'), rx);
      await until(h, 'the update seen after the current values', () =>
        changes.some((c) => c.revision === rx2),
      );
      const puts = changes.filter((c) => c.op === 'put');
      expect(puts).toEqual([
        { key: 'x', op: 'put', value: '1', revision: rx },
        { key: 'y', op: 'put', value: '1', revision: ry },
        { key: 'x', op: 'put', value: '2', revision: rx2 },
      ]);
      const revisions = changes.map((c) => c.revision);
      expect(revisions).toEqual([...revisions].sort((p, q) => p - q));
    });

    it('stops delivering to a watch once unsubscribed', async () => {
      const { h } = ctx();
      const stopped: Seen[] = [];
      const kept: Seen[] = [];
      const unsubscribe = await b.watch('>', (c) => stopped.push(seen(c)));
      await b.watch('>', (c) => kept.push(seen(c)));
      await a.create('one', bytes('1'));
      await until(h, 'both watches saw the first change', () => stopped.length === 1 && kept.length === 1);
      unsubscribe();
      await a.create('two', bytes('2'));
      await until(h, 'the kept watch saw the second change', () => kept.length === 2);
      expect(stopped.map((c) => c.key)).toEqual(['one']);
    });

    it('reopens an existing bucket with the same ttl and shares its data', async () => {
      const c = ctx();
      const bucket = c.name('ttl_same');
      const conn = await c.connect('c');
      const first = await conn.kv(bucket, { ttlMs: 60_000 });
      await first.create('k', bytes('v'));
      const again = await (await c.connect('d')).kv(bucket, { ttlMs: 60_000 });
      expect(text((await again.get('k'))?.value ?? null)).toBe('v');
    });

    it('refuses to reopen a bucket with another ttl with StoreMisconfiguredError', async () => {
      const c = ctx();
      const bucket = c.name('ttl_other');
      await (await c.connect('c')).kv(bucket, { ttlMs: 60_000 });
      const err = await (await c.connect('d')).kv(bucket, { ttlMs: 30_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreMisconfiguredError);
    });

    describe('with a bucket ttl', () => {
      const TTL = 1000;
      let ta: KvBucket;
      let tb: KvBucket;

      beforeEach(async () => {
        const c = ctx();
        const bucket = c.name('ttl');
        ta = await (await c.connect('ta')).kv(bucket, { ttlMs: TTL });
        tb = await (await c.connect('tb')).kv(bucket, { ttlMs: TTL });
      });

      it('keeps a key until ttl after its last write, then lets create succeed again', async () => {
        const { h } = ctx();
        const r1 = await ta.create('lease', bytes('a'));
        await h.wait(TTL - 300);
        expect(await tb.get('lease')).not.toBeNull();
        // Renewal restarts the ttl: the key outlives the first write's expiry.
        const r2 = await ta.update('lease', bytes('a'), r1);
        await h.wait(TTL - 300);
        expect((await tb.get('lease'))?.revision).toBe(r2);
        await until(h, 'the key expired', async () => (await tb.get('lease')) === null, 300 + 1500);
        const r3 = await value(h, 'create after expiry', tb.create('lease', bytes('b')));
        expect(r3).toBeGreaterThan(r2);
        expect(text((await ta.get('lease'))?.value ?? null)).toBe('b');
      });

      it('rejects an update of an expired key as CasConflictError', async () => {
        const { h } = ctx();
        const r1 = await ta.create('lease', bytes('a'));
        await until(h, 'the key expired', async () => (await tb.get('lease')) === null, TTL + 1500);
        const err = await rejection(h, 'update after expiry', tb.update('lease', bytes('late'), r1));
        expect(err).toBeInstanceOf(CasConflictError);
      });

      it('gives watchers no event when a key expires', async () => {
        const { h } = ctx();
        const changes: Seen[] = [];
        await tb.watch('>', (c) => changes.push(seen(c)));
        const r1 = await ta.create('lease', bytes('a'));
        await until(h, 'the key expired', async () => (await tb.get('lease')) === null, TTL + 1500);
        // Watch delivery is in revision order, so once this later write is seen, an expiry event
        // (had there been one) would have been seen before it.
        const fence = await ta.create('fence', bytes('f'));
        await until(h, 'the fence seen', () => changes.some((c) => c.revision === fence));
        expect(changes).toEqual([
          { key: 'lease', op: 'put', value: 'a', revision: r1 },
          { key: 'fence', op: 'put', value: 'f', revision: fence },
        ]);
      });
    });
  });
}
