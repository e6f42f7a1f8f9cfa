/** The audit outbox as stored in the topology record: small ones as JSON, large ones deflated; both read back. */
import { describe, expect, it } from 'vitest';
import type { DomainEvent } from '../../../src/domain/events.js';
import { decodeOutbox, encodeOutbox } from '../../../src/protocol/outbox.js';

const assigned = (i: number): DomainEvent => ({
  type: 'ShardAssigned',
  id: `n1-x-${i}`,
  origin: 'n1',
  term: 1,
  version: 2,
  at: 1_000 + i,
  shardId: i,
  nodeId: 'n1',
  reason: 'initial',
  previous: null,
});

describe('audit outbox encoding', () => {
  it('is empty for no events and reads back as none', () => {
    expect(encodeOutbox([])).toBe('');
    expect(decodeOutbox('')).toEqual({ ok: true, value: [] });
  });

  it('keeps a few events as plain JSON and a bootstrap’s thousand deflated, about ten times smaller', () => {
    const few = [assigned(1), assigned(2)];
    expect(encodeOutbox(few).startsWith('[')).toBe(true);
    expect(decodeOutbox(encodeOutbox(few))).toEqual({ ok: true, value: few });
    const many = Array.from({ length: 1024 }, (_, i) => assigned(i));
    const text = encodeOutbox(many);
    expect(text.startsWith('z:')).toBe(true);
    expect(text.length * 8).toBeLessThan(JSON.stringify(many).length);
    expect(decodeOutbox(text)).toEqual({ ok: true, value: many });
  });

  it('refuses an outbox with an invalid event, or one that is no list', () => {
    expect(decodeOutbox(JSON.stringify([{ type: 'NodeJoined', id: 1 }])).ok).toBe(false);
    expect(decodeOutbox('{"a":1}').ok).toBe(false);
    expect(decodeOutbox('z:%%%').ok).toBe(false);
  });
});
