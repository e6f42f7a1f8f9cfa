import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { memoryTransport } from '../../src/adapters/memory/index.js';
import { UsageError } from '../../src/cli/flags.js';
import { clusterNodeOptions, type NodeSettings, parseNodeFlags, parseWeight } from '../../src/cli/node.js';
import { FAST_TIMING } from '../../src/config.js';
import { resolveOptions } from '../../src/runtime/options.js';

const BASE = ['--cluster', 'c1', '--id', 'n1'];
const silent = pino({ level: 'silent' });

async function settings(...flags: string[]): Promise<NodeSettings> {
  const s = await parseNodeFlags([...BASE, ...flags], {});
  if (s === 'help') throw new Error('unexpected help');
  return s;
}

async function usageMessage(...flags: string[]): Promise<string> {
  const err = await parseNodeFlags([...BASE, ...flags], {}).then(
    () => new Error('expected a UsageError, got none'),
    (e: unknown) => e,
  );
  if (err instanceof UsageError) return err.message;
  throw err;
}

describe('aether node --weight', () => {
  it.each([
    ['1', 1],
    ['2.5', 2.5],
    ['0.1', 0.1],
    ['1000', 1000],
  ])('accepts %j', (raw, weight) => {
    expect(parseWeight(raw)).toBe(weight);
  });

  it.each(['0', '-1', '1001', 'abc', '', ' ', '0x10', '1e2', 'Infinity', 'NaN', '.5'])(
    'rejects %j naming the flag',
    (raw) => {
      expect(() => parseWeight(raw)).toThrow(
        new UsageError(`--weight: a number in (0, 1000], got ${JSON.stringify(raw)}`),
      );
    },
  );

  it('reaches the options the node is created with', async () => {
    const s = await settings('--weight', '3.5');
    expect(s.weight).toBe(3.5);
    const o = clusterNodeOptions(s, memoryTransport(), silent);
    expect(o.weight).toBe(3.5);
    expect(resolveOptions(o).weight).toBe(3.5);
  });

  it('is left to the runtime default when not given', async () => {
    const o = clusterNodeOptions(await settings(), memoryTransport(), silent);
    expect('weight' in o).toBe(false);
    expect(resolveOptions(o).weight).toBe(1);
  });

  it('is validated on the command line, not only in the runtime', async () => {
    expect(await usageMessage('--weight', '0')).toBe('--weight: a number in (0, 1000], got "0"');
  });
});

describe('aether node flags', () => {
  it('reads the other placement flags into the node options', async () => {
    const s = await settings('--shards', '64', '--replicas', '3', '--placement', 'consistent-hash');
    expect(clusterNodeOptions(s, memoryTransport(), silent)).toMatchObject({
      nodeId: 'n1',
      cluster: 'c1',
      shardCount: 64,
      replicas: 3,
      placement: 'consistent-hash',
    });
  });

  it('reads timing flags as durations over the preset', async () => {
    const s = await settings('--timing', 'fast', '--lease-ttl', '4s', '--renew', '1000');
    expect(s.timing).toEqual({ ...FAST_TIMING, leaseTtlMs: 4_000, renewIntervalMs: 1_000 });
  });

  it('reads the NATS flags through the shared parser', async () => {
    const s = await settings('--nats', 'nats://a:4222', '--connect-timeout', '3s');
    expect(s.nats).toEqual({ servers: ['nats://a:4222'], timeout: 3_000 });
  });

  it.each([
    [['--shards', '0'], '--shards: expected a positive integer, got "0"'],
    [['--replicas', '7'], '--replicas: at most 5, got 7'],
    [['--placement', 'random'], '--placement: balanced or consistent-hash, got "random"'],
    [['--lease-ttl', 'long'], /^--lease-ttl: expected a duration/],
    [['--renew', '0'], '--renew: must be above 0, got "0"'],
    [['--timing', 'fast', '--renew', '1500'], /^--renew: must be below --lease-ttl/],
    [['--connect-timeout', 'x'], /^--connect-timeout: expected a duration/],
  ] as const)('rejects %j naming the flag', async (flags, message) => {
    const got = await usageMessage(...flags);
    if (typeof message === 'string') expect(got).toBe(message);
    else expect(got).toMatch(message);
  });

  it('requires --cluster and --id', async () => {
    await expect(parseNodeFlags(['--id', 'n1'], {})).rejects.toThrow('--cluster is required');
    await expect(parseNodeFlags(['--cluster', 'c'], {})).rejects.toThrow('--id is required');
  });
});
