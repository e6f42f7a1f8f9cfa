/**
 * Plain consistent hashing: every shard belongs to the node the hash ring prefers for it.
 */

import type { PlacementInput, PlacementResult, PlacementStrategy } from '../domain/placement-strategy.js';
import type { HashRingOptions } from './hash-ring.js';
import { finish, KEPT, prepare } from './plan.js';

/**
 * Places each shard on its ring owner (150 virtual nodes per unit of weight). A join takes over the
 * arcs of the newcomer's points, a leave hands the leaver's arcs to their successors, and nothing
 * else moves. Load follows the random spread of the ring, which 1024 shards do not smooth out: the
 * busiest node carries about 1.3× the mean at 10–20 nodes and 1.5–2× at 50–100 (see
 * `bench/RESULTS-placement.md`); `BalancedPlacement` caps that.
 */
export class ConsistentHashPlacement implements PlacementStrategy {
  readonly name = 'consistent-hash';
  private readonly ringOptions: HashRingOptions;

  constructor(options: HashRingOptions = {}) {
    this.ringOptions = options;
  }

  place(input: PlacementInput): PlacementResult {
    const prepared = prepare(input, this.ringOptions);
    const { shardCount, kind, owner, preferred } = prepared;
    const target = new Int32Array(shardCount).fill(-1);
    for (let s = 0; s < shardCount; s++) {
      const want = preferred[s]!;
      // A shard already on its Active ring owner stays; everything else goes to the ring owner.
      if (kind[s] !== KEPT || owner[s] !== want) target[s] = want;
    }
    return finish(prepared, target);
  }
}
