import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  durationMs,
  formatDuration,
  natsTransportOptions,
  parseDuration,
  parseKeyValues,
  parsePositiveDuration,
  parsePositiveInt,
  parseTimingOverrides,
  UsageError,
} from '../../src/cli/flags.js';

/** The UsageError a call throws, for asserting on its message. */
function usageError(f: () => unknown): UsageError {
  try {
    f();
  } catch (err) {
    if (err instanceof UsageError) return err;
    throw err;
  }
  throw new Error('expected a UsageError, got none');
}

async function usageErrorOf(p: Promise<unknown>): Promise<UsageError> {
  const err = await p.then(
    () => new Error('expected a UsageError, got none'),
    (e: unknown) => e,
  );
  if (err instanceof UsageError) return err;
  throw err;
}

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['5s', 5_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['2d', 172_800_000],
    ['1500', 1_500],
    ['0', 0],
    [' 30s ', 30_000],
  ])('reads %j as %d ms', (text, ms) => {
    expect(parseDuration('--duration', text)).toBe(ms);
  });

  it.each([
    '',
    's',
    '5x',
    '5 s',
    '-5s',
    '+5s',
    '1.5s',
    '5S',
    '5sec',
    '1e3',
    '0x10',
    '5s5',
    '99999999999999999d',
  ])('rejects %j with a message naming the flag and the value', (text) => {
    const err = usageError(() => parseDuration('--fault-every', text));
    expect(err.message).toMatch(/^--fault-every: expected a duration such as 250ms, 5s, 5m, 1h, 2d/);
    expect(err.message).toContain(JSON.stringify(text));
  });

  it.each([
    [0, '0ms'],
    [250, '250ms'],
    [1_500, '1500ms'],
    [5_000, '5s'],
    [90_000, '90s'],
    [300_000, '5m'],
    [3_600_000, '1h'],
    [172_800_000, '2d'],
  ])('writes %d ms as %j, which reads back the same', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration('--duration', text)).toBe(ms);
  });

  it('returns null from durationMs rather than throwing, for callers with other forms', () => {
    expect(durationMs('90s')).toBe(90_000);
    expect(durationMs('yesterday')).toBeNull();
  });

  it('rejects 0 where a positive duration is needed, naming the flag', () => {
    expect(parsePositiveDuration('--lease-ttl', '2s')).toBe(2_000);
    expect(usageError(() => parsePositiveDuration('--lease-ttl', '0ms')).message).toBe(
      '--lease-ttl: must be above 0, got "0ms"',
    );
  });
});

describe('parseKeyValues', () => {
  it('splits entries, trimming blanks and skipping empty ones', () => {
    expect(parseKeyValues('--timing', ' a=1 , b = 2s ,')).toEqual([
      { key: 'a', value: '1', entry: 'a=1' },
      { key: 'b', value: '2s', entry: 'b = 2s' },
    ]);
  });

  it.each([
    ['leaseTtlMs', 'leaseTtlMs'],
    ['a=1,=2', '=2'],
    ['a=1,b=', 'b='],
  ])('rejects %j naming the flag and the entry %j', (text, entry) => {
    expect(usageError(() => parseKeyValues('--timing', text)).message).toBe(
      `--timing: bad entry ${JSON.stringify(entry)}: expected key=value`,
    );
  });

  it('rejects a key given twice', () => {
    expect(usageError(() => parseKeyValues('--timing', 'a=1,a=2')).message).toBe(
      '--timing: "a" is given twice',
    );
  });

  it('rejects an empty list', () => {
    expect(usageError(() => parseKeyValues('--timing', ' , ')).message).toMatch(
      /^--timing: expected key=value/,
    );
  });
});

describe('parseTimingOverrides', () => {
  it('reads timing fields with duration values', () => {
    expect(
      parseTimingOverrides('--timing', 'leaseTtlMs=2s,renewIntervalMs=500ms,retryIntervalMs=250'),
    ).toEqual({
      leaseTtlMs: 2_000,
      renewIntervalMs: 500,
      retryIntervalMs: 250,
    });
  });

  it('names the entry whose value is not a duration', () => {
    const err = usageError(() => parseTimingOverrides('--timing', 'leaseTtlMs=2s,renewIntervalMs=fast'));
    expect(err.message).toMatch(/^--timing: bad entry "renewIntervalMs=fast": expected a duration/);
    expect(err.message).toContain('got "fast"');
  });

  it('names the entry whose key is not a timing field, and lists the fields', () => {
    const err = usageError(() => parseTimingOverrides('--timing', 'leaseTTL=2s'));
    expect(err.message).toMatch(/^--timing: bad entry "leaseTTL=2s": unknown field "leaseTTL"/);
    expect(err.message).toContain('leaseTtlMs');
  });
});

describe('parsePositiveInt', () => {
  it('reads digits and passes undefined through', () => {
    expect(parsePositiveInt('--shards', '256')).toBe(256);
    expect(parsePositiveInt('--shards', undefined)).toBeUndefined();
  });

  it.each(['0', '-1', '1.5', '1e3', '', 'ten', '99999999999999999999'])(
    'rejects %j naming the flag',
    (raw) => {
      expect(usageError(() => parsePositiveInt('--shards', raw)).message).toBe(
        `--shards: expected a positive integer, got ${JSON.stringify(raw)}`,
      );
    },
  );
});

describe('natsTransportOptions', () => {
  const noEnv = {};

  it('defaults to the local server and sets nothing else', async () => {
    expect(await natsTransportOptions({}, noEnv)).toEqual({ servers: ['nats://127.0.0.1:4222'] });
  });

  it('takes servers from --nats, then $NATS_URL', async () => {
    expect((await natsTransportOptions({ nats: 'a:4222, tls://b:4443' }, noEnv)).servers).toEqual([
      'a:4222',
      'tls://b:4443',
    ]);
    expect((await natsTransportOptions({}, { NATS_URL: 'nats://c:1' })).servers).toEqual(['nats://c:1']);
  });

  it('maps --connect-timeout to the client timeout, as a duration', async () => {
    expect((await natsTransportOptions({ 'connect-timeout': '5s' }, noEnv)).timeout).toBe(5_000);
    expect((await natsTransportOptions({ 'connect-timeout': '750' }, noEnv)).timeout).toBe(750);
  });

  it.each([
    [{ 'connect-timeout': 'soon' }, /^--connect-timeout: expected a duration/],
    [{ 'connect-timeout': '0s' }, /^--connect-timeout: must be above 0/],
    [{ nats: 'http://a:80' }, /^--nats: expected nats:\/\/host:port/],
    [{ nats: ' , ' }, /^--nats: no server given/],
    [{ user: 'u' }, /^--user needs --pass/],
    [{ pass: 'p' }, /^--pass needs --user/],
    [{ user: 'u', pass: 'p', token: 't' }, /exclude each other/],
    [{ 'tls-cert': 'c.pem' }, /^--tls-cert and --tls-key go together/],
    [{ creds: '/nonexistent/x.creds' }, /^--creds: file not found/],
    [{ 'tls-ca': '/nonexistent/ca.pem' }, /^--tls-ca: file not found/],
  ])('rejects %j naming the flag', async (flags, message) => {
    expect((await usageErrorOf(natsTransportOptions(flags, noEnv))).message).toMatch(message);
  });

  it('passes user and password, token and TLS files through', async () => {
    expect(await natsTransportOptions({ user: 'u', pass: 'p' }, noEnv)).toMatchObject({
      user: 'u',
      pass: 'p',
    });
    expect(await natsTransportOptions({}, { NATS_TOKEN: 't' })).toMatchObject({ token: 't' });
    const dir = mkdtempSync(join(tmpdir(), 'aether-flags-'));
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, '');
    expect((await natsTransportOptions({ 'tls-ca': ca }, noEnv)).tls).toEqual({ caFile: ca });
  });
});
