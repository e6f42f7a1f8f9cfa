/**
 * Opens a NATS connection with the coordination defaults, turning a failure to reach any server
 * into a {@link TransportError} that names the servers (and the timeout, when none answered).
 * @internal
 */
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { TransportError } from '../../domain/errors.js';
import { mapNatsError } from './errors.js';

/** Defaults applied under the caller's options. */
export const NATS_DEFAULTS = {
  // The client's 20 s default would stall a node's start for as long as a lease lasts many times over.
  timeout: 2_000,
  reconnect: true,
  // A coordination node never gives up on its store; it reports 'reconnecting' instead.
  maxReconnectAttempts: -1,
  // Short enough to be back within a lease renewal, long enough not to hammer a restarting server.
  reconnectTimeWait: 250,
  // A wrong URL should fail start at once, not retry silently.
  waitOnFirstConnect: false,
  // Detects a silently dead connection (no FIN, e.g. a partition) in ~15 s instead of ~4 minutes.
  pingInterval: 5_000,
  maxPingOut: 3,
} as const satisfies NodeConnectionOptions;

/**
 * Connects with {@link NATS_DEFAULTS} under `opts`. A connect that times out is not an operation
 * whose outcome is unknown but a server that did not answer: it becomes a TransportError, so
 * callers that retry store timeouts do not retry it. (The client leaves the socket of such an
 * attempt open, so a command line that gives up must bound its own exit.)
 * @param who what connects, for the message (e.g. `n1`).
 * @throws TransportError when no server could be reached.
 */
export async function connectNats(opts: NodeConnectionOptions, who: string): Promise<NatsConnection> {
  const o = { ...NATS_DEFAULTS, ...opts };
  const where = `connect ${who} to ${String(o.servers ?? 'localhost')}`;
  try {
    return await connect(o);
  } catch (err) {
    if (err instanceof Error && err.name === 'TimeoutError') {
      throw new TransportError(`${where}: no NATS server answered within ${o.timeout} ms`, { cause: err });
    }
    throw mapNatsError(err, { op: where });
  }
}
