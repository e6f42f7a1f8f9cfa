/** Test kit: reads a cluster's committed topology straight from NATS, not through any node. */
import { natsTransport } from '../../src/adapters/nats/index.js';
import type { ClusterState } from '../../src/domain/state.js';
import { systemClock } from '../../src/ports/clock.js';
import { names } from '../../src/protocol/names.js';
import { KvTopologyStore } from '../../src/runtime/topology-store.js';

export async function readTopology(server: string, cluster: string): Promise<ClusterState | null> {
  const conn = await natsTransport({ servers: server }).connect(
    `topology-reader-${Math.random().toString(36).slice(2, 8)}`,
  );
  try {
    const bucket = await conn.kv(names(cluster).topologyBucket);
    const record = await new KvTopologyStore(bucket, systemClock, { timeoutMs: 5_000 }).read();
    return record?.state ?? null;
  } finally {
    await conn.close();
  }
}
