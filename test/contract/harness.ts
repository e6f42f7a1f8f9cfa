/**
 * The harness a transport contract run needs, and helpers that wait on conditions with a deadline
 * in harness time (simulated for memory, real for NATS) — never a fixed sleep.
 */
import type { Connection, Transport } from '../../src/ports/transport.js';

/** What a transport under test provides to {@link describeTransportContract}. */
export interface ContractHarness {
  transport: Transport;
  /** Lets `ms` of time pass: advances a SimulatedClock for memory; really waits for NATS. */
  wait(ms: number): Promise<void>;
  /**
   * Unique-per-test bucket/stream name prefix, so tests never see each other's data.
   * Letters, digits, `_` and `-` only: it starts bucket names, stream names and subjects.
   */
  prefix: string;
  cleanup(): Promise<void>;
}

/** What each contract test gets: the harness plus connections that are closed after the test. */
export interface ContractContext {
  readonly h: ContractHarness;
  /** Connects a node whose id is unique to this test; closed after the test. */
  connect(node: string): Promise<Connection>;
  /** `prefix` + `_` + `name`: a bucket or stream name of this test. */
  name(name: string): string;
  /** `prefix` + `.` + `tokens`: a subject of this test. */
  subject(tokens: string): string;
}

const DEFAULT_TIMEOUT_MS = 3000;
const STEP_MS = 5;

/** Waits until `cond` holds, letting harness time pass in small steps; fails after `timeoutMs` of it. */
export async function until(
  h: ContractHarness,
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<void> {
  let waited = 0;
  // A zero wait first lets already-settled work finish without any time passing.
  await h.wait(0);
  while (!(await cond())) {
    if (waited >= timeoutMs) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await h.wait(STEP_MS);
    waited += STEP_MS;
  }
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Tracks a promise's outcome without letting a rejection go unhandled. */
export function track<T>(p: Promise<T>): { readonly outcome: Outcome<T> | null } {
  const t: { outcome: Outcome<T> | null } = { outcome: null };
  p.then(
    (value) => {
      t.outcome = { ok: true, value };
    },
    (error: unknown) => {
      t.outcome = { ok: false, error };
    },
  );
  return t;
}

/** Waits (in harness time) until `p` settles and returns how. */
export async function outcome<T>(
  h: ContractHarness,
  what: string,
  p: Promise<T>,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<Outcome<T>> {
  const t = track(p);
  await until(h, what, () => t.outcome !== null, timeoutMs);
  return t.outcome!;
}

/** Waits until `p` rejects and returns the error; fails if it resolves. */
export async function rejection(
  h: ContractHarness,
  what: string,
  p: Promise<unknown>,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<unknown> {
  const o = await outcome(h, what, p, timeoutMs);
  if (o.ok) throw new Error(`${what}: expected a rejection, got ${String(o.value)}`);
  return o.error;
}

/** Waits until `p` resolves and returns its value; fails with the error if it rejects. */
export async function value<T>(
  h: ContractHarness,
  what: string,
  p: Promise<T>,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<T> {
  const o = await outcome(h, what, p, timeoutMs);
  if (!o.ok) throw o.error;
  return o.value;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** UTF-8 bytes of `s`. */
export const bytes = (s: string): Uint8Array => enc.encode(s);
/** `b` decoded as UTF-8. */
export const text = (b: Uint8Array | null): string | null => (b ? dec.decode(b) : null);
