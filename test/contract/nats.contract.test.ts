import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll } from 'vitest';
import { natsTransport } from '../../src/adapters/nats/index.js';
import { type NatsServerHandle, startNatsServer, stopAll } from '../support/nats-server.js';
import { describeTransportContract } from './transport-contract.js';

// One real server (JetStream on, temporary store) for the whole file; each test gets its own prefix.
let server: Promise<NatsServerHandle> | null = null;
let admin: NatsConnection | null = null;
let run = 0;

afterAll(async () => {
  await admin?.close();
  await stopAll();
});

describeTransportContract('nats (single server)', async () => {
  server ??= startNatsServer();
  const s = await server;
  admin ??= await connect({ servers: s.url, timeout: 2_000 });
  const prefix = `t${++run}${Math.random().toString(36).slice(2, 6)}`;
  return {
    transport: natsTransport({ servers: s.url }),
    wait: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    prefix,
    cleanup: async () => {
      // Drop this test's buckets and streams so the server stays small across the file.
      const jsm = await jetstreamManager(admin!);
      for await (const name of jsm.streams.names()) {
        if (name.startsWith(`KV_${prefix}_`) || name.startsWith(`${prefix}_`)) await jsm.streams.delete(name);
      }
    },
  };
});
