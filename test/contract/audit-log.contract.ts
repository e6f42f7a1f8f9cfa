/** The audit-log part of the transport contract: a JetStream stream deduplicated by message id. */
import { beforeEach, describe, expect, it } from 'vitest';
import type { AuditLog } from '../../src/ports/bus.js';
import { bytes, type ContractContext, text, until } from './harness.js';

interface Read {
  seq: number;
  subject: string;
  data: string | null;
  at: number;
}

async function readAll(log: AuditLog, fromSeq?: number): Promise<Read[]> {
  const out: Read[] = [];
  for await (const e of log.read(fromSeq))
    out.push({ seq: e.seq, subject: e.subject, data: text(e.data), at: e.at });
  return out;
}

export function describeAuditLogContract(ctx: () => ContractContext): void {
  describe('audit log', () => {
    let a: AuditLog;
    let b: AuditLog;
    let ev: (s: string) => string;

    beforeEach(async () => {
      const c = ctx();
      ev = (s) => c.subject(`events.${s}`);
      const name = c.name('audit');
      a = await (await c.connect('a')).auditLog(name, c.subject('events.>'));
      b = await (await c.connect('b')).auditLog(name, c.subject('events.>'));
    });

    it('reads back appended messages in order with increasing sequence numbers', async () => {
      const acks = [
        await a.append(ev('joined'), bytes('n1'), 'id-1'),
        await b.append(ev('joined'), bytes('n2'), 'id-2'),
        await a.append(ev('elected'), bytes('n1'), 'id-3'),
      ];
      expect(acks.map((x) => x.duplicate)).toEqual([false, false, false]);
      const seqs = acks.map((x) => x.seq);
      for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);
      const read = await readAll(b, 1);
      expect(read.map(({ seq, subject, data }) => ({ seq, subject, data }))).toEqual([
        { seq: seqs[0], subject: ev('joined'), data: 'n1' },
        { seq: seqs[1], subject: ev('joined'), data: 'n2' },
        { seq: seqs[2], subject: ev('elected'), data: 'n1' },
      ]);
      for (let i = 1; i < read.length; i++) expect(read[i]!.at).toBeGreaterThanOrEqual(read[i - 1]!.at);
    });

    it('reads from a given sequence onwards', async () => {
      await a.append(ev('x'), bytes('1'), 'id-1');
      const second = await a.append(ev('x'), bytes('2'), 'id-2');
      await a.append(ev('x'), bytes('3'), 'id-3');
      const read = await readAll(b, second.seq);
      expect(read.map((r) => r.data)).toEqual(['2', '3']);
      expect(read[0]!.seq).toBe(second.seq);
    });

    it('acknowledges a repeated message id as a duplicate with the original sequence and stores it once', async () => {
      const first = await a.append(ev('x'), bytes('once'), 'same-id');
      const again = await b.append(ev('x'), bytes('twice'), 'same-id');
      expect(again).toEqual({ seq: first.seq, duplicate: true });
      const read = await readAll(a);
      expect(read.map((r) => r.data)).toEqual(['once']);
    });

    it('delivers appended messages to bus subscribers as they are appended', async () => {
      const c = ctx();
      const live: Array<{ subject: string; data: string | null }> = [];
      const watcher = await c.connect('watcher');
      await watcher.bus.subscribe(c.subject('events.>'), (m) =>
        live.push({ subject: m.subject, data: text(m.data) }),
      );
      await a.append(ev('joined'), bytes('n1'), 'id-1');
      await a.append(ev('left'), bytes('n1'), 'id-2');
      await until(c.h, 'both appends seen live', () => live.length >= 2);
      expect(live.slice(0, 2)).toEqual([
        { subject: ev('joined'), data: 'n1' },
        { subject: ev('left'), data: 'n1' },
      ]);
    });

    it('stores an append that expects the last sequence, and refuses one whose expectation is stale', async () => {
      expect(await a.lastSeq()).toBe(0);
      const first = await a.append(ev('x'), bytes('1'), 'id-1', { lastSeq: 0 });
      expect(await b.lastSeq()).toBe(first.seq);
      await b.append(ev('x'), bytes('2'), 'id-2', { lastSeq: first.seq });
      const stale = await a
        .append(ev('x'), bytes('3'), 'id-3', { lastSeq: first.seq })
        .catch((e: unknown) => e);
      expect(stale).toMatchObject({ code: 'CAS_CONFLICT', expected: first.seq, actual: first.seq + 1 });
      expect((await readAll(b)).map((r) => r.data)).toEqual(['1', '2']);
    });

    it('acknowledges a repeated id as a duplicate even when the expectation is stale', async () => {
      const first = await a.append(ev('x'), bytes('1'), 'id-1', { lastSeq: 0 });
      await a.append(ev('x'), bytes('2'), 'id-2', { lastSeq: first.seq });
      expect(await b.append(ev('x'), bytes('1'), 'id-1', { lastSeq: first.seq - 1 })).toEqual({
        seq: first.seq,
        duplicate: true,
      });
    });

    it('refuses an append chained to a message id that is no longer the last one', async () => {
      const c = ctx();
      await a.append(ev('x'), bytes('1'), 'id-1');
      await a.append(ev('x'), bytes('2'), 'id-2', { lastMsgId: 'id-1' });
      // A plain publish on the stream's subjects is stored too, without an id.
      (await c.connect('plain')).bus.publish(ev('x'), bytes('plain'));
      await until(c.h, 'the plain publish stored', async () => (await a.lastSeq()) === 3);
      const stale = await a
        .append(ev('x'), bytes('3'), 'id-3', { lastMsgId: 'id-2' })
        .catch((e: unknown) => e);
      expect(stale).toMatchObject({ code: 'CAS_CONFLICT' });
      await a.append(ev('x'), bytes('3'), 'id-3', { lastSeq: 3 });
      expect((await readAll(b)).map((r) => r.data)).toEqual(['1', '2', 'plain', '3']);
    });

    it('stores many appends in flight at once in call order, each expecting its predecessor', async () => {
      const base = await a.lastSeq();
      const acks = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          a.append(
            ev('x'),
            bytes(String(i)),
            `p-${i}`,
            i === 0 ? { lastSeq: base } : { lastMsgId: `p-${i - 1}` },
          ),
        ),
      );
      expect(acks.map((x) => x.seq)).toEqual(Array.from({ length: 200 }, (_, i) => base + i + 1));
      expect((await readAll(b)).map((r) => r.data)).toEqual(Array.from({ length: 200 }, (_, i) => String(i)));
    });
  });
}
