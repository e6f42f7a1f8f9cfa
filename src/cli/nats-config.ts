/**
 * `aether nats-config`: prints the NATS permissions of a cluster's roles (node, operator, observer)
 * as a nats-server `authorization` block, or as JSON for tooling.
 */
import { parseArgs } from 'node:util';
import {
  authorizationConf,
  defaultUsers,
  NATS_ROLES,
  natsPermissions,
} from '../protocol/nats-permissions.js';
import { requireCluster, UsageError } from './flags.js';

const HELP = `usage: aether nats-config --cluster NAME [--format conf|json]

Prints the NATS permissions of a cluster's roles, to include in nats-server's config:
  node      runs a cluster node: heartbeats, events, hand-offs, commands, lease and topology writes
  operator  reads like an observer and sends commands to the leader
  observer  reads events, heartbeats, inspection, the audit stream and the buckets; publishes nothing

  --cluster NAME          cluster name (letters, digits, "_", "-")
  --format conf|json      an "authorization { users = [...] }" block (default), or the allow
                          lists per role as JSON

Users are aether-NAME-node, aether-NAME-operator and aether-NAME-observer; nats-server reads their
passwords from $AETHER_NODE_PASSWORD, $AETHER_OPERATOR_PASSWORD and $AETHER_OBSERVER_PASSWORD.
Connect with --user NAME --pass SECRET (or natsTransport({ user, pass })).

Exit codes: 0 printed, 2 on invalid options.`;

export async function natsConfig(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      cluster: { type: 'string' },
      format: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const cluster = requireCluster(values.cluster);
  const format = values.format ?? 'conf';
  if (format === 'conf') {
    process.stdout.write(authorizationConf(cluster));
    return 0;
  }
  if (format === 'json') {
    const perms = natsPermissions(cluster);
    const users = defaultUsers(cluster);
    const out = NATS_ROLES.map((role) => ({
      role,
      user: users.find((u) => u.role === role)?.user,
      passwordVariable: users.find((u) => u.role === role)?.passwordVariable,
      ...perms[role],
    }));
    console.log(JSON.stringify({ cluster, roles: out }, null, 2));
    return 0;
  }
  throw new UsageError(`--format: expected conf or json, got ${JSON.stringify(format)}`);
}
