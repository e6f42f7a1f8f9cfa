#!/usr/bin/env node
/**
 * The `aether` command line. Each subcommand lives in its own module and is loaded on demand, so
 * `aether demo` does not pay for the NATS client and `aether node` does not load the visualizer.
 */
import { ClusterError, InvalidConfigError } from '../domain/errors.js';
import { isParseArgsError, UsageError } from './flags.js';

/** A subcommand: parses its own arguments and resolves with the process exit code. */
export type Subcommand = (argv: readonly string[]) => Promise<number>;

const COMMANDS: Readonly<Record<string, { summary: string; load: () => Promise<Subcommand> }>> = {
  demo: {
    summary: 'run a cluster in this process with a scripted story and the live visualizer',
    load: async () => (await import('./demo.js')).demo,
  },
  simulate: {
    summary: 'run a seeded, deterministic simulation of a cluster under faults and check its invariants',
    load: async () => (await import('./simulate.js')).simulate,
  },
  chaos: {
    summary: 'run a chaos scenario script against a simulated cluster with the invariant checker on',
    load: async () => (await import('./chaos.js')).chaos,
  },
  visualize: {
    summary: 'serve the live visualizer for a cluster over NATS (nodes publish with inspection.publish)',
    load: async () => (await import('./visualize.js')).visualize,
  },
  node: {
    summary: 'run one cluster node over NATS (status on stdout, graceful leave on SIGTERM)',
    load: async () => (await import('./node.js')).node,
  },
  check: {
    summary: "check a running cluster's invariants over NATS, as an observer (--follow)",
    load: async () => (await import('./check.js')).check,
  },
  events: {
    summary: "print a cluster's domain events from its audit stream (--since, --follow)",
    load: async () => (await import('./events.js')).events,
  },
  'nats-config': {
    summary: "print the NATS permissions of a cluster's roles (node, operator, observer) for nats-server",
    load: async () => (await import('./nats-config.js')).natsConfig,
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  const lines = Object.entries(COMMANDS).map(([k, v]) => `  ${k.padEnd(width)}  ${v.summary}`);
  return (
    `usage: aether <command> [options]\n\ncommands:\n${lines.join('\n')}\n\n` +
    `Run "aether <command> --help" for a command's options.\n` +
    'Exit codes: 0 success, 1 a failure at run time (NATS not reached, store refused), 2 invalid options.'
  );
}

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    console.error(`aether: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await (await cmd.load())(rest);
  } catch (err) {
    // A wrong command line (or a config the library rejects) is the caller's to fix: exit 2.
    if (
      err instanceof UsageError ||
      err instanceof InvalidConfigError ||
      isParseArgsError(err) ||
      (err instanceof Error && err.name === 'TypeError' && /parseArgs|option/i.test(err.message))
    ) {
      console.error(`aether ${name}: ${err.message}`);
      return 2;
    }
    // Any other library error (a server not reached, a store refusing): exit 1, one line.
    if (err instanceof ClusterError) {
      console.error(`aether ${name}: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
