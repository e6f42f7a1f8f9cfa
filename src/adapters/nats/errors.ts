/**
 * Maps errors of the NATS client to the library's typed errors, so callers branch on `code`
 * and never on client classes or messages.
 * @internal
 */
import { JetStreamApiError, jserrors } from '@nats-io/jetstream/internal';
import {
  ClosedConnectionError,
  TimeoutError as NatsTimeoutError,
  NoRespondersError,
  RequestError,
} from '@nats-io/transport-node';
import {
  CasConflictError,
  ClusterError,
  InvalidValueError,
  KeyExistsError,
  StoppedError,
  TimeoutError,
  TransportError,
} from '../../domain/errors.js';

/** JetStream API error code for "wrong last sequence" (a failed compare-and-set). */
export const WRONG_LAST_SEQUENCE = 10071;

/** What was being done when the error happened; decides how a CAS failure reads. */
export interface ErrorContext {
  readonly op: string;
  readonly key?: string;
  /** Expected revision of a CAS write; 0 for `create`. */
  readonly expected?: number;
}

/** The revision the server reports in "wrong last sequence: N", or null. */
function actualRevision(err: JetStreamApiError): number | null {
  const m = /wrong last sequence:\s*(\d+)/i.exec(err.message);
  return m?.[1] ? Number(m[1]) : null;
}

function isTimeout(err: unknown): boolean {
  if (err instanceof NatsTimeoutError) return true;
  if (err instanceof RequestError && err.cause instanceof NatsTimeoutError) return true;
  return err instanceof Error && err.name === 'TimeoutError' && !(err instanceof ClusterError);
}

function isNoResponders(err: unknown): boolean {
  if (err instanceof NoRespondersError) return true;
  if (err instanceof RequestError) return err.isNoResponders();
  // JetStream reports "no responders" as "not enabled"; mid-operation it means no stream leader answered.
  return err instanceof jserrors.JetStreamNotEnabled;
}

/** Converts any error thrown by the NATS client into a {@link ClusterError}. @internal */
export function mapNatsError(err: unknown, ctx: ErrorContext): ClusterError {
  if (err instanceof ClusterError) return err;
  const where = ctx.key === undefined ? ctx.op : `${ctx.op} "${ctx.key}"`;
  if (err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE && ctx.key !== undefined) {
    if (ctx.expected === 0) return new KeyExistsError(ctx.key, { cause: err });
    return new CasConflictError(ctx.key, ctx.expected ?? 0, actualRevision(err), { cause: err });
  }
  if (isTimeout(err)) {
    return new TimeoutError(`${where} timed out; the outcome is unknown (re-read to reconcile)`, {
      cause: err,
    });
  }
  if (err instanceof ClosedConnectionError) return new StoppedError(`${where}: connection is closed`);
  if (isNoResponders(err)) {
    return new TransportError(`${where}: no responders (is the stream leader or service available?)`, {
      cause: err,
    });
  }
  if (err instanceof Error && /^invalid (key|bucket name)/.test(err.message)) {
    return new InvalidValueError(`${where}: ${err.message}`);
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new TransportError(`${where} failed: ${msg}`, { cause: err });
}
