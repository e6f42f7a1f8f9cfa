/**
 * `createClusterNode` as users call it: a node created without a transport joins the in-memory
 * transport shared by the nodes of this process (the embedded default).
 */
import { memoryTransport } from './adapters/memory/memory-transport.js';
import { InvalidConfigError } from './domain/errors.js';
import type { Transport } from './ports/transport.js';
import { ClusterNode, createClusterNode as createNode } from './runtime/cluster-node.js';
import type { ClusterNodeOptions } from './runtime/options.js';

let shared: Transport | null = null;

/**
 * Creates a cluster node. Nothing happens until `start()`.
 * @throws InvalidConfigError naming the field when an option is invalid.
 */
export function createClusterNode(options: ClusterNodeOptions): ClusterNode {
  if (options !== null && typeof options === 'object' && options.transport === undefined) {
    if (options.clock !== undefined) {
      throw new InvalidConfigError(
        'transport',
        'is required with a custom clock: pass memoryTransport({ clock }) driven by the same clock',
      );
    }
    shared ??= memoryTransport();
    return createNode({ ...options, transport: shared });
  }
  return createNode(options);
}

export { ClusterNode };
