/**
 * The NATS permissions of a cluster's roles, derived from its subjects, buckets and stream: what a
 * node, an operator and an observer may publish and subscribe to, and the nats-server `authorization`
 * block that enforces it. Without these permissions any client of the server can speak as a node.
 */
import { names } from './names.js';

/** Who connects to a cluster's NATS. */
export type NatsRole = 'node' | 'operator' | 'observer';

export const NATS_ROLES: readonly NatsRole[] = ['node', 'operator', 'observer'];

/** What one role may do. */
export interface RolePermissions {
  /** Subjects the role may publish on. */
  readonly publish: readonly string[];
  /** Subjects the role may subscribe to. */
  readonly subscribe: readonly string[];
}

/** JetStream API calls that read a stream: info, direct and leader gets, and consumers to read it with. */
function readStream(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.>`,
    `$JS.API.CONSUMER.DELETE.${stream}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.>`,
    // Flow-control replies and acknowledgements of the reader's own consumers.
    `$JS.FC.${stream}.>`,
    `$JS.ACK.${stream}.>`,
  ];
}

/**
 * The permissions of each role in `cluster`. A node may do everything a node does: heartbeats,
 * events, renewals, hand-offs, commands and their replies, inspection, lease and topology writes, and
 * creating the buckets and the stream. An operator reads what an observer reads and sends commands to
 * the leader. An observer only reads: live events, heartbeats, renewals, inspection, the audit stream
 * and the two buckets.
 */
export function natsPermissions(cluster: string): Readonly<Record<NatsRole, RolePermissions>> {
  const n = names(cluster);
  const prefix = `aether.${cluster}`;
  const lease = `KV_${n.leaseBucket}`;
  const topology = `KV_${n.topologyBucket}`;
  const streams = [n.auditStream, lease, topology];
  const reads = ['$JS.API.INFO', ...streams.flatMap(readStream)];
  const watched = [n.heartbeats, n.events, `${prefix}.renewals.>`, `${prefix}.inspect.>`, '_INBOX.>'];
  return {
    node: {
      publish: [
        n.heartbeats,
        n.events,
        `${prefix}.renewals.>`,
        n.leader,
        `${prefix}.handoff.>`,
        // A starting node asks whether a process of its id runs (see the start checks).
        `${prefix}.member.>`,
        `${prefix}.inspect.>`,
        `$KV.${n.leaseBucket}.>`,
        `$KV.${n.topologyBucket}.>`,
        ...reads,
        ...streams.map((s) => `$JS.API.STREAM.CREATE.${s}`),
        // Replies to hand-off requests and leader commands.
        '_INBOX.>',
      ],
      subscribe: [...watched, n.leader, `${prefix}.handoff.>`, `${prefix}.member.>`],
    },
    operator: { publish: [n.leader, ...reads], subscribe: watched },
    observer: { publish: reads, subscribe: watched },
  };
}

/** A user of the generated configuration: its name and where its password comes from. */
export interface NatsUser {
  readonly role: NatsRole;
  readonly user: string;
  /** Name of the environment variable nats-server reads the password from (`$NAME` in the config). */
  readonly passwordVariable: string;
}

/** The default users: `aether-<cluster>-<role>`, passwords from `AETHER_<ROLE>_PASSWORD`. */
export function defaultUsers(cluster: string): readonly NatsUser[] {
  return NATS_ROLES.map((role) => ({
    role,
    user: `aether-${cluster}-${role}`,
    passwordVariable: `AETHER_${role.toUpperCase()}_PASSWORD`,
  }));
}

const quote = (s: string) => JSON.stringify(s);

function list(subjects: readonly string[], indent: string): string {
  return `[\n${subjects.map((s) => `${indent}  ${quote(s)}`).join(',\n')}\n${indent}]`;
}

/**
 * The nats-server `authorization` block for `cluster`: one user per role with its allow lists, and
 * default permissions that deny everything, so a user added later without permissions can do nothing
 * (nats-server otherwise lets such a user do anything). Passwords are environment variables resolved
 * by nats-server at start; an unset one stops it with a message naming the variable.
 */
export function authorizationConf(cluster: string, users = defaultUsers(cluster)): string {
  const perms = natsPermissions(cluster);
  const entries = users.map((u) => {
    const p = perms[u.role];
    return [
      `    # ${u.role}`,
      '    {',
      `      user = ${quote(u.user)}`,
      `      password = $${u.passwordVariable}`,
      '      permissions = {',
      `        publish = { allow = ${list(p.publish, '        ')} }`,
      `        subscribe = { allow = ${list(p.subscribe, '        ')} }`,
      '      }',
      '    }',
    ].join('\n');
  });
  return [
    `# NATS permissions of aether cluster "${cluster}" (nats-server >= 2.9): one user per role.`,
    `# Passwords come from the environment: ${users.map((u) => `$${u.passwordVariable}`).join(', ')}.`,
    'authorization {',
    '  # A user listed without permissions may do nothing.',
    '  default_permissions = { publish = { deny = [">"] }, subscribe = { deny = [">"] } }',
    '  users = [',
    entries.join('\n'),
    '  ]',
    '}',
    '',
  ].join('\n');
}
