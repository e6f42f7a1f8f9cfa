/**
 * Churn of fresh ids: without compaction every id that ever joined stays in the topology record;
 * with it, the record stays bounded by what departed within about two retentions.
 */
import { describe, expect, it } from 'vitest';
import {
  compactDeparted,
  completeMigration,
  departedDue,
  joinCluster,
  leaveCluster,
  rebalanceShards,
} from '../../../src/domain/commands.js';
import { checkInvariants } from '../../../src/domain/invariants.js';
import type { ClusterState } from '../../../src/domain/state.js';
import { MAX_RETIRED_NODES } from '../../../src/domain/state.js';
import { bootstrapped, LeastLoadedTestPlacement, run, stampFor } from './fixtures.js';

const CHURN = 1_000;
/** A fresh node joins every STEP ms and the one that joined LIVE steps earlier leaves. */
const STEP = 1_000;
const LIVE = 3;
const RETENTION = 10_000;
const SHARDS = 64;
const strategy = new LeastLoadedTestPlacement();

/**
 * Leader n1 stays; fresh ids `fresh-<i>` join and leave with their shards handed over each step. With
 * `compact`, the leader compacts once every retention, as a root that checks `departedDue` on a timer.
 */
function churn(compact: boolean): { state: ClusterState; maxNodes: number; maxBytes: number } {
  let s = bootstrapped(['n1'], SHARDS);
  let maxNodes = 0;
  let maxBytes = 0;
  let lastCompaction = 0;
  for (let i = 0; i < CHURN; i++) {
    const now = 10_000 + i * STEP;
    const leader = stampFor('n1', now);
    s = run(s, joinCluster(s, { nodeId: `fresh-${i}`, incarnation: now }, leader));
    if (i >= LIVE) s = run(s, leaveCluster(s, { nodeId: `fresh-${i - LIVE}`, reason: 'graceful' }, leader));
    const planned = rebalanceShards(s, { strategy, reason: 'node-left', rebalanceId: `rb-${i}` }, leader);
    if (planned.ok) s = run(s, planned);
    while (s.rebalance !== null) {
      s = run(s, completeMigration(s, { shardId: s.rebalance.remaining[0]!.shardId }, leader));
    }
    if (compact && now - lastCompaction >= RETENTION && departedDue(s, now, RETENTION).length > 0) {
      s = run(s, compactDeparted(s, { retentionMs: RETENTION }, leader));
      lastCompaction = now;
    }
    maxNodes = Math.max(maxNodes, Object.keys(s.nodes).length);
    maxBytes = Math.max(maxBytes, JSON.stringify(s).length);
  }
  expect(checkInvariants(s)).toEqual([]);
  return { state: s, maxNodes, maxBytes };
}

describe(`${CHURN} joins and leaves of fresh ids`, () => {
  it('keep the node records and the encoded topology bounded when departed nodes are compacted', () => {
    const { state, maxNodes, maxBytes } = churn(true);
    // The leader, LIVE members and the one joining, plus what departed within the last two retentions
    // (one retention of waiting, one of compaction period).
    const nodeBound = 1 + LIVE + 1 + (2 * RETENTION) / STEP;
    expect(maxNodes).toBeLessThanOrEqual(nodeBound);
    expect(state.retired).toHaveLength(MAX_RETIRED_NODES);
    // 64 owners, at most ~25 node records and 128 tombstones of ~45 bytes (measured: 8.8 KB at most,
    // against 126 KB and growing without compaction).
    expect(maxBytes).toBeLessThanOrEqual(10_000);
  });

  it('grow without bound without compaction (what the bound above guards against)', () => {
    const { state, maxBytes } = churn(false);
    expect(Object.keys(state.nodes)).toHaveLength(CHURN + 1);
    expect(maxBytes).toBeGreaterThan(100_000);
  });
});
