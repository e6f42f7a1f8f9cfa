/**
 * The audit outbox as it travels inside the topology record: the committed domain events the
 * audit stream has not yet acknowledged, oldest first. Only a leader taking over reads it, so
 * followers see an opaque string; a large outbox (a 1024-shard bootstrap's ~1,000 events, ~250 KB
 * of JSON) is deflated, which shrinks it about tenfold.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { type DomainEvent, parseDomainEvent } from '../domain/events.js';
import { type Decoded, eventJson } from './codec.js';

/** Above this many bytes of JSON the outbox is stored deflated. */
const DEFLATE_ABOVE = 2048;
const DEFLATED = 'z:';

export function encodeOutbox(events: readonly DomainEvent[]): string {
  if (events.length === 0) return '';
  const json = `[${events.map(eventJson).join(',')}]`;
  if (json.length <= DEFLATE_ABOVE) return json;
  // The fastest level: the outbox is rewritten with every commit, and read back only on a takeover.
  return DEFLATED + deflateRawSync(Buffer.from(json, 'utf8'), { level: 1 }).toString('base64');
}

/** Decodes and validates an outbox; an unreadable event makes the whole outbox unreadable. */
export function decodeOutbox(text: string): Decoded<DomainEvent[]> {
  if (text === '') return { ok: true, value: [] };
  let value: unknown;
  try {
    const json = text.startsWith(DEFLATED)
      ? inflateRawSync(Buffer.from(text.slice(DEFLATED.length), 'base64')).toString('utf8')
      : text;
    value = JSON.parse(json);
  } catch (err) {
    return { ok: false, error: `outbox unreadable: ${(err as Error).message}` };
  }
  if (!Array.isArray(value)) return { ok: false, error: 'outbox is not a list' };
  const events: DomainEvent[] = [];
  for (const [i, v] of value.entries()) {
    const r = parseDomainEvent(v);
    if (!r.ok) return { ok: false, error: `outbox event ${i}: ${r.error}` };
    events.push(r.value);
  }
  return { ok: true, value: events };
}
