/**
 * Typed errors. Every failure the library reports is a {@link ClusterError} with a stable `code`,
 * so callers can branch on `err.code` or on the `isXxx()` predicates instead of parsing messages.
 */

/** Stable error codes, one per failure kind. */
export type ClusterErrorCode =
  | 'INVALID_CONFIG'
  | 'INVALID_VALUE'
  | 'INVARIANT_VIOLATION'
  | 'COMMAND_REJECTED'
  | 'CAS_CONFLICT'
  | 'KEY_EXISTS'
  | 'NOT_FOUND'
  | 'TIMEOUT'
  | 'NOT_LEADER'
  | 'TRANSPORT'
  | 'STORE_MISCONFIGURED'
  | 'STOPPED';

/** Base class of every error thrown by the library. */
export class ClusterError extends Error {
  readonly code: ClusterErrorCode;
  constructor(code: ClusterErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Thrown when options passed to a constructor or `createClusterNode` are invalid; `field` names the option. */
export class InvalidConfigError extends ClusterError {
  readonly field: string;
  constructor(field: string, message: string) {
    super('INVALID_CONFIG', `invalid config: ${field}: ${message}`);
    this.field = field;
  }
}

/** Thrown when a value object (node id, shard id, term) is constructed from an invalid value. */
export class InvalidValueError extends ClusterError {
  constructor(message: string) {
    super('INVALID_VALUE', message);
  }
}

/** Thrown by `apply` when an event would break one of the five invariants; the message prints the offending state. */
export class InvariantViolationError extends ClusterError {
  readonly invariant: string;
  readonly evidence: unknown;
  constructor(invariant: string, message: string, evidence: unknown) {
    super('INVARIANT_VIOLATION', `invariant "${invariant}" violated: ${message}\n${safeJson(evidence)}`);
    this.invariant = invariant;
    this.evidence = evidence;
  }
}

/** Thrown (or returned as a rejection) when a command's preconditions do not hold. */
export class CommandRejectedError extends ClusterError {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super('COMMAND_REJECTED', `${reason}: ${message}`);
    this.reason = reason;
  }
}

/** Thrown when a compare-and-set write finds a different revision than expected (NATS API code 10071). */
export class CasConflictError extends ClusterError {
  constructor(
    readonly key: string,
    readonly expected: number,
    readonly actual: number | null,
    options?: { cause?: unknown },
  ) {
    super(
      'CAS_CONFLICT',
      `compare-and-set on "${key}" expected revision ${expected}, found ${actual}`,
      options,
    );
  }
}

/** Thrown when `create` finds the key already present. */
export class KeyExistsError extends ClusterError {
  constructor(
    readonly key: string,
    options?: { cause?: unknown },
  ) {
    super('KEY_EXISTS', `key "${key}" already exists`, options);
  }
}

/** Thrown when an operation did not complete in time; the outcome is unknown and must be reconciled by reading. */
export class TimeoutError extends ClusterError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TIMEOUT', message, options);
  }
}

/** Thrown when a leader-only operation is attempted by a node that is not the leader of the current term. */
export class NotLeaderError extends ClusterError {
  constructor(message: string) {
    super('NOT_LEADER', message);
  }
}

/** Thrown when the transport fails (disconnected, closed, server error). */
export class TransportError extends ClusterError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TRANSPORT', message, options);
  }
}

/** Thrown at start when the store (bucket, stream, server) does not match the configuration. */
export class StoreMisconfiguredError extends ClusterError {
  constructor(message: string) {
    super('STORE_MISCONFIGURED', message);
  }
}

/** Thrown when an operation is attempted on a stopped node or closed transport. */
export class StoppedError extends ClusterError {
  constructor(message: string) {
    super('STOPPED', message);
  }
}

export const isClusterError = (e: unknown): e is ClusterError => e instanceof ClusterError;
export const isCasConflict = (e: unknown): e is CasConflictError => e instanceof CasConflictError;
export const isKeyExists = (e: unknown): e is KeyExistsError => e instanceof KeyExistsError;
export const isTimeout = (e: unknown): e is TimeoutError => e instanceof TimeoutError;
export const isInvariantViolation = (e: unknown): e is InvariantViolationError =>
  e instanceof InvariantViolationError;

function safeJson(v: unknown): string {
  try {
    const s = JSON.stringify(v, null, 1);
    return s.length > 4000 ? `${s.slice(0, 4000)}…` : s;
  } catch {
    return String(v);
  }
}
