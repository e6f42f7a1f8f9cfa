/**
 * The audit stream's limits on a real nats-server: a message larger than the stream allows is
 * refused, retention drops the oldest, an existing stream with other limits than asked for is
 * refused (and one without the defaults is reported), and impossible limits fail at configuration.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_LIMIT_DEFAULTS, natsTransport } from '../../src/adapters/nats/index.js';
import { InvalidConfigError, StoreMisconfiguredError } from '../../src/domain/errors.js';
import {
  type NatsServerHandle,
  natsServerAvailable,
  startNatsServer,
  stopAll,
} from '../support/nats-server.js';

const enc = (s: string) => new TextEncoder().encode(s);

describe.skipIf(!natsServerAvailable())('the audit stream limits', () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  afterAll(async () => {
    await nc?.close();
    await stopAll();
  });

  it('creates the stream with a maximum message size and retention by default', async () => {
    const conn = await natsTransport({ servers: server.url }).connect('a');
    await conn.auditLog('defaults', 'defaults.events.>');
    const info = await (await jetstreamManager(nc)).streams.info('defaults');
    expect(info.config.max_msg_size).toBe(AUDIT_LIMIT_DEFAULTS.maxMessageBytes);
    expect(info.config.max_bytes).toBe(AUDIT_LIMIT_DEFAULTS.maxBytes);
    expect(info.config.discard).toBe('old');
    expect(conn.storeWarnings.filter((w) => w.code === 'AUDIT_LIMITS')).toEqual([]);
    await conn.close();
  });

  it('refuses a message over the size limit and keeps only the newest messages', async () => {
    const conn = await natsTransport({
      servers: server.url,
      auditLog: { maxMessageBytes: 4_096, maxMessages: 3, maxAgeMs: 3_600_000 },
    }).connect('a');
    const log = await conn.auditLog('small', 'small.events.>');
    const js = jetstream(nc);
    // Any client publishing on the stream's subjects: an oversized message is not stored.
    await expect(js.publish('small.events.X', new Uint8Array(8_192))).rejects.toThrow(/maximum/i);
    for (let i = 1; i <= 5; i++) await log.append('small.events.X', enc(`e${i}`), `id-${i}`);
    const kept: string[] = [];
    for await (const e of log.read(1)) kept.push(new TextDecoder().decode(e.data));
    expect(kept).toEqual(['e3', 'e4', 'e5']);
    const info = await (await jetstreamManager(nc)).streams.info('small');
    expect(info.config.max_age).toBe(3_600_000 * 1_000_000);
    await conn.close();
  });

  it('refuses an existing stream whose limits differ from those asked for, naming them', async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'legacy', subjects: ['legacy.events.>'] });
    const conn = await natsTransport({
      servers: server.url,
      auditLog: { maxMessageBytes: 65_536 },
    }).connect('a');
    const err = await conn.auditLog('legacy', 'legacy.events.>').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreMisconfiguredError);
    expect((err as Error).message).toMatch(/maxMessageBytes -1 \(requested 65536\)/);
    await conn.close();
  });

  it('reports a stream made without the default limits as a store warning', async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'unlimited', subjects: ['unlimited.events.>'] });
    const conn = await natsTransport({ servers: server.url }).connect('a');
    await conn.auditLog('unlimited', 'unlimited.events.>');
    expect(
      conn.storeWarnings.filter((w) => w.code !== 'SERVER_VERSION').map((w) => [w.code, w.details]),
    ).toEqual([['AUDIT_LIMITS', { stream: 'unlimited', maxMessageBytes: -1, maxBytes: -1 }]]);
    await conn.close();
  });

  it('rejects impossible limits when the transport is configured, naming the field', () => {
    const bad = [
      [{ maxMessageBytes: 0 }, 'auditLog.maxMessageBytes'],
      [{ maxMessageBytes: -1 }, 'auditLog.maxMessageBytes'],
      [{ maxAgeMs: 1.5 }, 'auditLog.maxAgeMs'],
      [{ maxAgeMs: 60_000 }, 'auditLog.duplicateWindowMs'],
      [{ maxBytes: 1_000 }, 'auditLog.maxBytes'],
    ] as const;
    for (const [auditLog, field] of bad) {
      const err = (() => {
        try {
          natsTransport({ servers: server.url, auditLog });
          return null;
        } catch (e) {
          return e;
        }
      })();
      expect(err, JSON.stringify(auditLog)).toBeInstanceOf(InvalidConfigError);
      expect((err as InvalidConfigError).field).toBe(field);
    }
  });
});
