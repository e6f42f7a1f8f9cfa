/** The bus part of the transport contract: NATS core publish/subscribe and request/reply. */
import { beforeEach, describe, expect, it } from 'vitest';
import { TimeoutError, TransportError } from '../../src/domain/errors.js';
import type { MessageBus } from '../../src/ports/bus.js';
import { bytes, type ContractContext, outcome, rejection, text, track, until, value } from './harness.js';

export function describeBusContract(ctx: () => ContractContext): void {
  describe('bus', () => {
    let a: MessageBus;
    let b: MessageBus;

    beforeEach(async () => {
      const c = ctx();
      a = (await c.connect('a')).bus;
      b = (await c.connect('b')).bus;
    });

    it('delivers a published message to a subscriber on another connection', async () => {
      const { h, subject } = ctx();
      const got: Array<{ subject: string; data: string | null }> = [];
      await b.subscribe(subject('hello'), (m) => got.push({ subject: m.subject, data: text(m.data) }));
      a.publish(subject('hello'), bytes('world'));
      await until(h, 'the message arrived', () => got.length === 1);
      expect(got).toEqual([{ subject: subject('hello'), data: 'world' }]);
    });

    it('matches `*` to exactly one token and `>` to one or more', async () => {
      const { h, subject } = ctx();
      const star: string[] = [];
      const tail: string[] = [];
      const exact: string[] = [];
      await b.subscribe(subject('ev.*'), (m) => star.push(m.subject));
      await b.subscribe(subject('ev.>'), (m) => tail.push(m.subject));
      await b.subscribe(subject('ev.x'), (m) => exact.push(m.subject));
      for (const s of ['ev.x', 'ev.y', 'ev.x.deep', 'ev', 'other.x']) a.publish(subject(s), bytes(s));
      // Messages from one publisher arrive in order, so once this is in, the others have been decided.
      a.publish(subject('ev.x'), bytes('fence'));
      await until(
        h,
        'the fence reached all three',
        () => star.length >= 3 && tail.length >= 4 && exact.length >= 2,
      );
      expect(star).toEqual([subject('ev.x'), subject('ev.y'), subject('ev.x')]);
      expect(tail).toEqual([subject('ev.x'), subject('ev.y'), subject('ev.x.deep'), subject('ev.x')]);
      expect(exact).toEqual([subject('ev.x'), subject('ev.x')]);
    });

    it('delivers messages to each subscriber in publish order', async () => {
      const { h, subject } = ctx();
      const first: string[] = [];
      const second: string[] = [];
      await b.subscribe(subject('seq'), (m) => first.push(text(m.data)!));
      await a.subscribe(subject('seq'), (m) => second.push(text(m.data)!));
      const sent = Array.from({ length: 50 }, (_, i) => `m${i}`);
      for (const s of sent) a.publish(subject('seq'), bytes(s));
      await until(h, 'all messages arrived', () => first.length === 50 && second.length === 50);
      expect(first).toEqual(sent);
      expect(second).toEqual(sent);
    });

    it('stops delivering once unsubscribed', async () => {
      const { h, subject } = ctx();
      const stopped: string[] = [];
      const kept: string[] = [];
      const unsubscribe = await b.subscribe(subject('u'), (m) => stopped.push(text(m.data)!));
      await b.subscribe(subject('u'), (m) => kept.push(text(m.data)!));
      a.publish(subject('u'), bytes('1'));
      await until(h, 'both got the first', () => stopped.length === 1 && kept.length === 1);
      unsubscribe();
      a.publish(subject('u'), bytes('2'));
      await until(h, 'the kept subscriber got the second', () => kept.length === 2);
      expect(stopped).toEqual(['1']);
    });

    it('answers a request with the responder’s reply', async () => {
      const { h, subject } = ctx();
      await b.subscribe(subject('echo'), (m) => m.respond?.(bytes(`re:${text(m.data)}`)));
      const reply = await value(
        h,
        'the reply',
        a.request(subject('echo'), bytes('ping'), { timeoutMs: 2000 }),
      );
      expect(text(reply)).toBe('re:ping');
    });

    it('fails a request with no subscriber at once with TransportError', async () => {
      const { h, subject } = ctx();
      const err = await rejection(
        h,
        'no responders',
        a.request(subject('nobody'), bytes('?'), { timeoutMs: 5000 }),
        1000,
      );
      expect(err).toBeInstanceOf(TransportError);
    });

    it('fails an unanswered request with TimeoutError after timeoutMs', async () => {
      const { h, subject } = ctx();
      await b.subscribe(subject('silent'), () => {});
      const pending = track(a.request(subject('silent'), bytes('?'), { timeoutMs: 1000 }));
      await h.wait(700);
      expect(pending.outcome).toBeNull();
      await until(h, 'the request timed out', () => pending.outcome !== null, 300 + 1500);
      const o = pending.outcome!;
      expect(o.ok ? o.value : o.error).toBeInstanceOf(TimeoutError);
    });

    it('rejects a payload over the size limit with TransportError', async () => {
      const { h, subject } = ctx();
      const big = new Uint8Array(2 * 1024 * 1024);
      expect(() => a.publish(subject('big'), big)).toThrow(TransportError);
      const o = await outcome(h, 'oversized request', a.request(subject('big'), big, { timeoutMs: 1000 }));
      expect(o.ok ? o.value : o.error).toBeInstanceOf(TransportError);
    });
  });
}
