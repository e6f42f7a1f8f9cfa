/**
 * The flags the `aether` subcommands share, parsed one way everywhere: the NATS connection flags,
 * durations (`250ms`, `5s`, `5m`, `1h`, `2d`, plain milliseconds), `key=value` lists and counts.
 * Every mistake is a {@link UsageError} whose message starts with the flag.
 *
 * It loads no NATS client code until a `--creds` file has to be read, so the commands that only
 * parse durations (`simulate`, `chaos`) stay light.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { NatsTransportOptions } from '../adapters/nats/nats-transport.js';
import { DEFAULT_TIMING, type TimingConfig } from '../config.js';
import { isNodeId } from '../domain/values.js';

/** Thrown when a command line is wrong: the message names the flag; the command exits with code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The NATS connection flags of every command that talks to NATS. */
export const NATS_FLAGS = {
  nats: { type: 'string' },
  user: { type: 'string' },
  pass: { type: 'string' },
  token: { type: 'string' },
  creds: { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'connect-timeout': { type: 'string' },
} as const;

export const NATS_FLAGS_HELP = `NATS connection:
  --nats URL[,URL...]   servers (default $NATS_URL or nats://127.0.0.1:4222)
  --user NAME           user (default $NATS_USER); needs --pass
  --pass SECRET         password (default $NATS_PASSWORD)
  --token SECRET        token (default $NATS_TOKEN)
  --creds FILE          credentials file (JWT + nkey seed; default $NATS_CREDS)
  --tls-ca FILE         CA certificate to verify the server with (implies TLS)
  --tls-cert FILE       client certificate (with --tls-key)
  --tls-key FILE        client key (with --tls-cert)
  --connect-timeout D   how long to try to reach a server at start: 500ms, 5s (default 2s)`;

/** The values `parseArgs` gives for {@link NATS_FLAGS}. */
export type NatsFlagValues = { [K in keyof typeof NATS_FLAGS]?: string | undefined };

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function readableFile(flag: string, path: string): string {
  if (!existsSync(path)) throw new UsageError(`--${flag}: file not found: ${path}`);
  return path;
}

/**
 * Turns the NATS flags (falling back to the usual `NATS_*` environment variables) into the options
 * of `natsTransport` (also valid for the client's own `connect`). Only what the flags set is present,
 * so the transport's defaults apply to the rest.
 * @throws UsageError naming the flag when a value is malformed or the flags are inconsistent.
 */
export async function natsTransportOptions(
  v: NatsFlagValues,
  env: NodeJS.ProcessEnv = process.env,
): Promise<NatsTransportOptions> {
  const raw = v.nats ?? (env.NATS_URL || undefined) ?? 'nats://127.0.0.1:4222';
  const servers = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (servers.length === 0) throw new UsageError('--nats: no server given');
  for (const s of servers) {
    const url = /^[a-z]+:\/\//i.test(s) ? s : `nats://${s}`;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError(`--nats: not a server URL: ${JSON.stringify(s)}`);
    }
    if (!['nats:', 'tls:'].includes(parsed.protocol) || parsed.hostname === '') {
      throw new UsageError(`--nats: expected nats://host:port or tls://host:port, got ${JSON.stringify(s)}`);
    }
  }
  const opts: Mutable<NatsTransportOptions> = { servers };
  const user = v.user ?? (env.NATS_USER || undefined);
  const pass = v.pass ?? (env.NATS_PASSWORD || undefined);
  const token = v.token ?? (env.NATS_TOKEN || undefined);
  const creds = v.creds ?? (env.NATS_CREDS || undefined);
  const methods = [user !== undefined, token !== undefined, creds !== undefined].filter(Boolean).length;
  if (methods > 1) throw new UsageError('--user, --token and --creds exclude each other: give one');
  if (user !== undefined) {
    if (pass === undefined) throw new UsageError('--user needs --pass (or $NATS_PASSWORD)');
    opts.user = user;
    opts.pass = pass;
  } else if (v.pass !== undefined) {
    throw new UsageError('--pass needs --user');
  }
  if (token !== undefined) opts.token = token;
  const ca = v['tls-ca'];
  const cert = v['tls-cert'];
  const key = v['tls-key'];
  if ((cert === undefined) !== (key === undefined))
    throw new UsageError('--tls-cert and --tls-key go together: give both');
  if (ca !== undefined || cert !== undefined) {
    opts.tls = {
      ...(ca !== undefined ? { caFile: readableFile('tls-ca', ca) } : {}),
      ...(cert !== undefined ? { certFile: readableFile('tls-cert', cert) } : {}),
      ...(key !== undefined ? { keyFile: readableFile('tls-key', key) } : {}),
    };
  }
  if (v['connect-timeout'] !== undefined) {
    opts.timeout = parsePositiveDuration('--connect-timeout', v['connect-timeout']);
  }
  if (creds !== undefined) {
    const data = readFileSync(readableFile('creds', creds));
    // Loaded here only: the other flags need no client code.
    const { credsAuthenticator } = await import('@nats-io/transport-node');
    opts.authenticator = credsAuthenticator(new Uint8Array(data));
  }
  return opts;
}

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const DURATION_EXPECTED = 'expected a duration such as 250ms, 5s, 5m, 1h, 2d or a number of milliseconds';

/**
 * `5s` → 5000, `250` → 250; null for anything else (a fraction, a sign, an unknown unit, a value
 * past 2^53 ms). Whole amounts only, so a duration prints back exactly as it was read.
 */
export function durationMs(text: string): number | null {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m?.[1]) return null;
  const ms = Number(m[1]) * (UNIT_MS[m[2] ?? 'ms'] ?? 1);
  return Number.isSafeInteger(ms) ? ms : null;
}

/**
 * Parses the value of a duration flag (`--duration 5m`) into milliseconds; 0 is allowed.
 * @param flag the flag as typed, e.g. `--duration`, named in the error.
 * @throws UsageError when the value is not a duration.
 */
export function parseDuration(flag: string, text: string): number {
  const ms = durationMs(text);
  if (ms === null) throw new UsageError(`${flag}: ${DURATION_EXPECTED}, got ${JSON.stringify(text)}`);
  return ms;
}

/** Writes milliseconds in the largest unit that divides them, so `parseDuration` reads it back. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit] ?? 1;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** Like {@link parseDuration}, rejecting 0 too. */
export function parsePositiveDuration(flag: string, text: string): number {
  const ms = parseDuration(flag, text);
  if (ms === 0) throw new UsageError(`${flag}: must be above 0, got ${JSON.stringify(text)}`);
  return ms;
}

/** One `key=value` entry of a list flag, with the entry as typed for messages. */
export interface KeyValue {
  readonly key: string;
  readonly value: string;
  readonly entry: string;
}

/**
 * Splits a `key=value,key=value` flag into entries. Blank entries (a trailing comma) are skipped.
 * @throws UsageError naming the flag and the entry when an entry has no `=`, an empty side, or a
 * key given twice.
 */
export function parseKeyValues(flag: string, text: string): KeyValue[] {
  const out: KeyValue[] = [];
  const seen = new Set<string>();
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    const key = eq < 0 ? '' : entry.slice(0, eq).trim();
    const value = eq < 0 ? '' : entry.slice(eq + 1).trim();
    if (key === '' || value === '')
      throw new UsageError(`${flag}: bad entry ${JSON.stringify(entry)}: expected key=value`);
    if (seen.has(key)) throw new UsageError(`${flag}: ${JSON.stringify(key)} is given twice`);
    seen.add(key);
    out.push({ key, value, entry });
  }
  if (out.length === 0) throw new UsageError(`${flag}: expected key=value[,key=value...], got nothing`);
  return out;
}

const TIMING_FIELDS = Object.keys(DEFAULT_TIMING) as (keyof TimingConfig)[];

/**
 * Parses timing overrides, e.g. `--timing leaseTtlMs=2s,renewIntervalMs=500ms`: keys are
 * {@link TimingConfig} fields, values durations. Whether the result is a consistent timing is for
 * `resolveTiming` to say.
 * @throws UsageError naming the flag and the entry.
 */
export function parseTimingOverrides(flag: string, text: string): Partial<TimingConfig> {
  const out: Partial<Mutable<TimingConfig>> = {};
  for (const { key, value, entry } of parseKeyValues(flag, text)) {
    if (!(TIMING_FIELDS as string[]).includes(key))
      throw new UsageError(
        `${flag}: bad entry ${JSON.stringify(entry)}: unknown field ${JSON.stringify(key)} (known: ${TIMING_FIELDS.join(', ')})`,
      );
    const ms = durationMs(value);
    if (ms === null)
      throw new UsageError(
        `${flag}: bad entry ${JSON.stringify(entry)}: ${DURATION_EXPECTED}, got ${JSON.stringify(value)}`,
      );
    out[key as keyof TimingConfig] = ms;
  }
  return out;
}

/**
 * Parses a count flag (`--shards 256`): digits only, at least 1; `undefined` passes through.
 * @throws UsageError naming the flag.
 */
export function parsePositiveInt(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || !Number.isSafeInteger(n))
    throw new UsageError(`${flag}: expected a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

/** Whether an error is one of `parseArgs`'s own (unknown flag, missing value). */
export function isParseArgsError(err: unknown): err is TypeError {
  return err instanceof TypeError && String((err as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS');
}

/** The `--cluster` flag: required, and a name NATS subjects and buckets can carry. @throws UsageError. */
export function requireCluster(value: string | undefined): string {
  if (value === undefined) throw new UsageError('--cluster is required');
  if (!isNodeId(value)) {
    throw new UsageError(`--cluster: letters, digits, "_" or "-" (1-64), got ${JSON.stringify(value)}`);
  }
  return value;
}
