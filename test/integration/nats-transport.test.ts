import { JetStreamApiError, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  checkReplicas,
  checkServerVersion,
  compareVersions,
  type NatsConnectionHandle,
  type NatsLogger,
  natsTransport,
  WRONG_LAST_SEQUENCE,
} from '../../src/adapters/nats/index.js';
import {
  CasConflictError,
  isTimeout,
  KeyExistsError,
  StoreMisconfiguredError,
} from '../../src/domain/errors.js';
import type { KvBucket } from '../../src/ports/kv.js';
import { SimulatedClock } from '../../src/ports/simulated-clock.js';
import type { ConnectionStatus } from '../../src/ports/transport.js';
import {
  type NatsCluster,
  type NatsServerHandle,
  startNatsCluster,
  startNatsServer,
  stopAll,
  waitUntil,
} from '../support/nats-server.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : null);

/** A logger that keeps what it is told. */
function recordingLogger(): NatsLogger & { warnings: { obj: object; msg: string | undefined }[] } {
  const warnings: { obj: object; msg: string | undefined }[] = [];
  return { warnings, warn: (obj, msg) => warnings.push({ obj, msg }), info() {}, debug() {} };
}

const opened: NatsConnectionHandle[] = [];
afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map((c) => c.close()));
});
afterAll(stopAll);

async function open(servers: string | readonly string[], nodeId: string, logger?: NatsLogger) {
  const c = await natsTransport({
    servers: typeof servers === 'string' ? servers : [...servers],
    ...(logger ? { logger } : {}),
  }).connect(nodeId);
  opened.push(c);
  return c;
}

describe('store checks', () => {
  let server: NatsServerHandle;
  beforeAll(async () => {
    server = await startNatsServer();
  });

  it('compares server versions numerically and warns below 2.10.23 only', () => {
    expect(compareVersions('2.9.10', '2.10.23')).toBe(-1);
    expect(compareVersions('2.10.23', '2.10.23')).toBe(0);
    expect(compareVersions('v2.11.0-beta.1', '2.10.23')).toBe(1);
    expect(checkServerVersion('2.10.22').map((w) => w.code)).toEqual(['SERVER_VERSION']);
    expect(checkServerVersion('2.10.23')).toEqual([]);
    expect(checkServerVersion('2.12.1')).toEqual([]);
  });

  it('warns about a clustered bucket with fewer than three replicas, and only then', () => {
    expect(checkReplicas('b', 1, true).map((w) => w.code)).toEqual(['REPLICAS']);
    expect(checkReplicas('b', 3, true)).toEqual([]);
    expect(checkReplicas('b', 1, false)).toEqual([]);
  });

  it('warns through the logger and as data that this server is older than 2.10.23', async () => {
    const logger = recordingLogger();
    const c = await open(server.url, 'version-check', logger);
    const version = /Version:\s+(\S+)/.exec(server.log())?.[1];
    expect(c.serverVersion).toBe(version);
    const expected = compareVersions(c.serverVersion, '2.10.23') < 0 ? ['SERVER_VERSION'] : [];
    expect(c.storeWarnings.map((w) => w.code)).toEqual(expected);
    expect(logger.warnings.map((w) => w.msg)).toEqual(c.storeWarnings.map((w) => w.message));
    if (expected.length > 0) {
      expect(c.storeWarnings[0]?.message).toMatch(/sync_interval: always/);
      expect(c.storeWarnings[0]?.message).toMatch(/replicas >= 3/);
    }
  });

  it('refuses to reopen a bucket with another TTL, naming the bucket and both values', async () => {
    const a = await open(server.url, 'ttl-a');
    await a.kv('leases_ttl', { ttlMs: 5_000 });
    const err = await (await open(server.url, 'ttl-b'))
      .kv('leases_ttl', { ttlMs: 7_000 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreMisconfiguredError);
    expect((err as Error).message).toMatch(/"leases_ttl"/);
    expect((err as Error).message).toMatch(/5000 ms/);
    expect((err as Error).message).toMatch(/7000 ms/);
  });

  it('fails with a StoreMisconfiguredError saying how to enable JetStream when it is off', async () => {
    const plain = await startNatsServer({ jetstream: false });
    const err = await natsTransport({ servers: plain.url })
      .connect('no-js')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreMisconfiguredError);
    expect((err as Error).message).toMatch(/JetStream is not enabled/);
    expect((err as Error).message).toMatch(/-js/);
    await plain.stop();
  });

  it('maps a stale update (API code 10071) to CasConflictError carrying the revision found', async () => {
    const kv = await (await open(server.url, 'cas')).kv('cas_map');
    const r1 = await kv.create('map', bytes('v1'));
    const r2 = await kv.update('map', bytes('v2'), r1);
    const err = await kv.update('map', bytes('stale'), r1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CasConflictError);
    expect(err).toMatchObject({ key: 'map', expected: r1, actual: r2 });
    const cause = (err as Error).cause;
    expect(cause).toBeInstanceOf(JetStreamApiError);
    expect((cause as JetStreamApiError).code).toBe(WRONG_LAST_SEQUENCE);
  });

  it('maps a create on a present key to KeyExistsError', async () => {
    const kv = await (await open(server.url, 'exists')).kv('exists_map');
    await kv.create('lease', bytes('a'));
    const err = await kv.create('lease', bytes('b')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyExistsError);
    expect(err).toMatchObject({ key: 'lease' });
  });

  it('reports disconnected, then connected when the server comes back', async () => {
    const own = await startNatsServer();
    const c = await open(own.url, 'status');
    const statuses: ConnectionStatus[] = [];
    c.onStatus((s) => statuses.push(s));
    await own.kill();
    await waitUntil(() => statuses.includes('disconnected'), { timeoutMs: 5_000, what: 'disconnected' });
    await own.restart();
    await waitUntil(() => statuses.at(-1) === 'connected', { timeoutMs: 5_000, what: 'reconnected' });
    expect(statuses[0]).toBe('disconnected');
    expect(statuses.filter((s) => s !== 'reconnecting')).toEqual(['disconnected', 'connected']);
    // The connection works again: the bus answers its own request.
    await c.bus.subscribe('status.echo', (m) => m.respond?.(m.data));
    expect(text(await c.bus.request('status.echo', bytes('back'), { timeoutMs: 1_000 }))).toBe('back');
    await c.close();
    expect(statuses.at(-1)).toBe('closed');
  });
});

describe('time from the injected clock', () => {
  let server: NatsServerHandle;
  beforeAll(async () => {
    server = await startNatsServer();
  });

  async function openOnClock(clock: SimulatedClock, nodeId: string) {
    const c = await natsTransport({ servers: server.url, clock, watchProbeMs: 1_000 }).connect(nodeId);
    opened.push(c);
    return c;
  }

  it('runs the watch liveness probe on the injected clock and drops its timer when the watch stops', async () => {
    const clock = new SimulatedClock();
    const c = await openOnClock(clock, 'probe-clock');
    const kv = await c.kv('probe_clock');
    const unwatch = await kv.watch('k', () => {});
    expect(clock.pending).toBe(1);
    expect(clock.nextAt()).toBe(1_000);
    await clock.advance(1_000);
    // The probe ran and set the next one, one interval later.
    expect(clock.pending).toBe(1);
    expect(clock.nextAt()).toBe(2_000);
    unwatch();
    expect(clock.pending).toBe(0);
  });

  it('drops every watch timer when the connection closes', async () => {
    const clock = new SimulatedClock();
    const c = await openOnClock(clock, 'close-clock');
    const kv = await c.kv('close_clock');
    await kv.watch('a', () => {});
    await kv.watch('b', () => {});
    expect(clock.pending).toBe(2);
    await c.close();
    expect(clock.pending).toBe(0);
  });
});

describe('three-server cluster', () => {
  let cluster: NatsCluster;
  let client: NatsConnectionHandle;
  let kv: KvBucket;
  const BUCKET = 'cluster_leases';

  beforeAll(async () => {
    cluster = await startNatsCluster(3);
    client = await natsTransport({ servers: [...cluster.urls] }).connect('cluster-client');
    kv = await client.kv(BUCKET, { ttlMs: 60_000, replicas: 3 });
  }, 40_000);

  afterAll(async () => {
    await client?.close();
    await cluster?.stop();
  });

  const streamInfo = async () => {
    // No account-info check: the meta leader may be the server just killed.
    const jsm = await jetstreamManager(client.nc, { timeout: 2_000, checkAPI: false });
    return jsm.streams.info(`KV_${BUCKET}`);
  };
  const leaderName = async () => (await streamInfo()).cluster?.leader ?? '';
  const server = (name: string) => {
    const s = cluster.servers.find((x) => x.name === name);
    if (!s) throw new Error(`no server ${name}`);
    return s;
  };
  const connectedTo = () => cluster.servers.find((s) => s.url.endsWith(client.nc.getServer()));

  /** CAS-updates `key`, retrying through failover; a timeout is reconciled by re-reading. */
  async function updateThrough(key: string, value: string, expected: number, deadlineMs: number) {
    const start = Date.now();
    let attempts = 0;
    for (;;) {
      attempts++;
      try {
        return { revision: await kv.update(key, bytes(value), expected), ms: Date.now() - start, attempts };
      } catch (err) {
        if (isTimeout(err)) {
          const now = await kv.get(key).catch(() => null);
          if (now && text(now.value) === value && now.revision > expected) {
            return { revision: now.revision, ms: Date.now() - start, attempts };
          }
        } else if (err instanceof CasConflictError) {
          throw err;
        }
        if (Date.now() - start > deadlineMs)
          throw new Error(`no write within ${deadlineMs} ms: ${String(err)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  it('creates an R3 bucket placed on all three servers without a replica warning', async () => {
    const info = await streamInfo();
    expect(info.config.num_replicas).toBe(3);
    expect(1 + (info.cluster?.replicas?.length ?? 0)).toBe(3);
    expect(client.clustered).toBe(true);
    expect(client.storeWarnings.some((w) => w.code === 'REPLICAS')).toBe(false);
    const logger = recordingLogger();
    const other = await open(cluster.urls, 'r1-opener', logger);
    await other.kv('cluster_r1', { replicas: 1 });
    expect(other.storeWarnings.map((w) => w.code)).toContain('REPLICAS');
    expect(logger.warnings.some((w) => /cluster_r1/.test(w.msg ?? ''))).toBe(true);
  });

  it('keeps KV writes working when a non-leader server is killed', async () => {
    let rev = await kv.create('follower-test', bytes('0'));
    const leader = await leaderName();
    // Kill a follower that is not our own server: the write path must not notice at all.
    const follower = cluster.servers.find((s) => s.name !== leader && s !== connectedTo());
    if (!follower) throw new Error('no follower other than our server');
    await follower.kill();
    for (let i = 1; i <= 5; i++) {
      const r = await updateThrough('follower-test', String(i), rev, 2_000);
      expect(r.attempts).toBe(1);
      rev = r.revision;
    }
    expect(text((await kv.get('follower-test'))?.value)).toBe('5');
    await follower.restart();
    // Let it catch up before the next test takes the leader away.
    await waitUntil(
      async () => (await streamInfo()).cluster?.replicas?.every((r) => r.current && !r.offline) ?? false,
      { timeoutMs: 10_000, intervalMs: 100, what: 'the restarted follower to be current' },
    );
  }, 20_000);

  it('resumes KV writes after the stream leader is killed, keeping every acknowledged write', async () => {
    let rev = await kv.create('leader-test', bytes('before'));
    const seen: number[] = [];
    await kv.watch('leader-test', (ch) => seen.push(ch.revision));
    const leader = server(await leaderName());
    // A second client that knows only the leader's URL must learn the others and move over.
    const onLeader = await open(leader.url, 'on-leader');
    const statuses: ConnectionStatus[] = [];
    onLeader.onStatus((s) => statuses.push(s));

    await leader.kill();
    const r = await updateThrough('leader-test', 'after', rev, 20_000);
    rev = r.revision;
    console.info(
      `[nats] KV writes resumed ${r.ms} ms after the stream leader was killed (${r.attempts} attempts)`,
    );
    expect(r.ms).toBeLessThan(20_000);
    const leaderAfter = async () => {
      const name = await leaderName();
      if (name === '') throw new Error('no stream leader yet');
      return name;
    };
    await waitUntil(async () => (await leaderAfter()) !== leader.name, {
      timeoutMs: 5_000,
      what: 'stream info naming a new leader',
    });

    expect(text((await kv.get('leader-test'))?.value)).toBe('after');

    // The watch survives the loss of the server that may have hosted its consumer.
    await waitUntil(() => seen.includes(rev), { timeoutMs: 8_000, what: 'the watch to see the write' });
    await waitUntil(() => statuses.at(-1) === 'connected', { timeoutMs: 8_000, what: 'the reconnect' });
    expect(statuses[0]).toBe('disconnected');
  }, 45_000);
});
