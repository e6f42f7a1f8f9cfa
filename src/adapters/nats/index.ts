/**
 * The NATS adapters: JetStream KV buckets, the core message bus and the JetStream audit stream,
 * behind the ports of `src/ports/`.
 */
export { WRONG_LAST_SEQUENCE } from './errors.js';
export { AUDIT_LIMIT_DEFAULTS, type AuditLogOptions, NatsAuditLog } from './nats-audit-log.js';
export { NatsBus } from './nats-bus.js';
export { NatsKvBucket } from './nats-kv.js';
export {
  NATS_DEFAULTS,
  type NatsConnectionHandle,
  type NatsTransport,
  type NatsTransportOptions,
  natsTransport,
} from './nats-transport.js';
export {
  checkReplicas,
  checkServer,
  checkServerVersion,
  compareVersions,
  type NatsLogger,
  type NatsStoreWarning,
  RECOMMENDED_REPLICAS,
  RECOMMENDED_SERVER_VERSION,
  type ServerCheck,
  type StoreWarning,
  silentLogger,
} from './store-checks.js';
