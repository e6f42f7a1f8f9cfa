/**
 * Consistent hashing capped at each node's fair share: the ring decides where shards would like to
 * be, quotas decide how many each node may hold, and only the shards that must move do.
 */
import { InvariantViolationError } from '../domain/errors.js';
import type {
  PlacementInput,
  PlacementNode,
  PlacementResult,
  PlacementStrategy,
} from '../domain/placement-strategy.js';
import type { HashRing, HashRingOptions } from './hash-ring.js';
import { finish, KEPT, prepare } from './plan.js';

/**
 * How far down a shard's preference list to look when ranking which of a node's shards it should
 * give up; past this the difference no longer matters for stability and the walk gets long.
 */
const RANK_CAP = 8;
/** Tolerance for float error in weighted shares. */
const EPSILON = 1e-9;

/**
 * The default strategy. Each Active node gets a quota: its fair share of the shards by weight,
 * rounded so the quotas sum to the shard count (unweighted: they differ by at most one). Shards on an
 * Active node within its quota stay put; a node over quota gives up its surplus; shards of gone and
 * draining nodes move too. Every shard that moves goes to the first node in its ring preference
 * order that is still under quota, so placement stays as close to the hash as the quotas allow.
 *
 * The moves are the fewest any balanced placement needs: the rounding of quotas favours the nodes
 * that hold more today, so a join moves exactly the newcomer's quota and a leave exactly the
 * leaver's shards.
 */
export class BalancedPlacement implements PlacementStrategy {
  readonly name = 'balanced';
  private readonly ringOptions: HashRingOptions;

  constructor(options: HashRingOptions = {}) {
    this.ringOptions = options;
  }

  place(input: PlacementInput): PlacementResult {
    const prepared = prepare(input, this.ringOptions);
    const { shardCount, active, ring, kind, owner, start, preferred } = prepared;
    const n = active.length;

    const held = new Int32Array(n);
    for (let s = 0; s < shardCount; s++) if (kind[s] === KEPT) held[owner[s]!]!++;
    const quota = quotas(active, shardCount, held);
    const capacity = new Int32Array(n);
    for (let i = 0; i < n; i++) capacity[i] = quota[i]! - Math.min(held[i]!, quota[i]!);

    const pending: number[] = [];
    const surplusShards: number[][] = [];
    for (let s = 0; s < shardCount; s++) {
      if (kind[s] !== KEPT) {
        pending.push(s);
        continue;
      }
      const i = owner[s]!;
      if (held[i]! > quota[i]!) {
        const list = surplusShards[i] ?? [];
        list.push(s);
        surplusShards[i] = list;
      }
    }
    for (let i = 0; i < n; i++) {
      const shards = surplusShards[i];
      if (shards === undefined) continue;
      pending.push(
        ...releaseOrder(shards, i, ring, start, preferred, capacity).slice(0, held[i]! - quota[i]!),
      );
    }
    pending.sort((a, b) => a - b);

    const target = new Int32Array(shardCount).fill(-1);
    assignByPreference(pending, ring, start, preferred, capacity, target);
    return finish(prepared, target);
  }
}

/**
 * Quota per node: `floor(shardCount * weight / totalWeight)`, plus one for as many nodes as the
 * remainder needs, chosen among nodes whose exact share is fractional (so every quota is within one
 * of the exact share). The extra shard goes first to nodes holding more than their floor (giving it to
 * them saves a move), then to the larger fractional share, then to the node holding more, then by id.
 */
function quotas(active: readonly PlacementNode[], shardCount: number, held: Int32Array): Int32Array {
  const n = active.length;
  const weights = active.map((a) => a.weight ?? 1);
  const uniform = weights.every((w) => w === weights[0]);
  let totalWeight = 0;
  for (const w of weights) totalWeight += w;
  const quota = new Int32Array(n);
  const frac = new Float64Array(n);
  let assigned = 0;
  for (let i = 0; i < n; i++) {
    const exact = uniform ? shardCount / n : (shardCount * weights[i]!) / totalWeight;
    // The epsilon absorbs float error on exact integers (e.g. 341.99999999 for 342).
    const f = Math.floor(exact + EPSILON);
    quota[i] = f;
    frac[i] = exact - f > EPSILON ? exact - f : 0;
    assigned += f;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => {
    const ea = frac[a]! > 0 ? 0 : 1;
    const eb = frac[b]! > 0 ? 0 : 1;
    const ga = held[a]! > quota[a]! ? 0 : 1;
    const gb = held[b]! > quota[b]! ? 0 : 1;
    return ea - eb || ga - gb || frac[b]! - frac[a]! || held[b]! - held[a]! || a - b;
  });
  // The remainder is the sum of the fractional parts, so it is smaller than the number of nodes
  // that have one; the wrap-around and the reduction below only guard against float error.
  let extra = shardCount - assigned;
  for (let k = 0; extra > 0; k = (k + 1) % n, extra--) quota[order[k]!]!++;
  for (let k = n - 1; extra < 0; k = (k + n - 1) % n) {
    const i = order[k]!;
    if (quota[i]! > 0) {
      quota[i]!--;
      extra++;
    }
  }
  return quota;
}

/**
 * The shards of over-quota node `node`, in the order it should give them up: first those whose ring
 * owner is another node with room (they go home), then those the ring ranks this node lowest for.
 */
function releaseOrder(
  shards: readonly number[],
  node: number,
  ring: HashRing,
  start: Uint32Array,
  preferred: Uint32Array,
  capacity: Int32Array,
): number[] {
  const key = new Map<number, number>();
  for (const s of shards) {
    const p = preferred[s]!;
    const home = p !== node && capacity[p]! > 0;
    // Lower key = released earlier.
    key.set(s, home ? -1 : RANK_CAP - rankOf(ring, start[s]!, node));
  }
  return [...shards].sort((a, b) => key.get(a)! - key.get(b)! || a - b);
}

/** Position of `node` in the distinct-node walk from point `from`, capped at {@link RANK_CAP}. */
function rankOf(ring: HashRing, from: number, node: number): number {
  const seen: number[] = [];
  for (let step = 0; step < ring.pointCount; step++) {
    const o = ring.ownerAt(from + step);
    if (o === node) return seen.length;
    if (!seen.includes(o)) {
      seen.push(o);
      if (seen.length >= RANK_CAP) break;
    }
  }
  return RANK_CAP;
}

/**
 * Gives each pending shard (ascending ids) the first node with capacity in its ring preference
 * order. Goes round by round — every shard tries its first choice, then every shard still waiting
 * its second, and so on — so a shard never loses its preferred node to another shard's fallback.
 * Terminates: total capacity equals the pending count, and each round shows every waiting shard a
 * node it has not tried.
 */
function assignByPreference(
  pending: readonly number[],
  ring: HashRing,
  start: Uint32Array,
  preferred: Uint32Array,
  capacity: Int32Array,
  target: Int32Array,
): void {
  const nodeCount = ring.nodes.length;
  const points = ring.pointCount;
  let waiting: number[] = [];
  for (const s of pending) {
    const p = preferred[s]!;
    if (capacity[p]! > 0) {
      capacity[p]!--;
      target[s] = p;
    } else waiting.push(s);
  }
  if (waiting.length === 0) return;

  // Walk state per waiting shard: points stepped past and nodes already tried.
  const step = new Map<number, number>();
  const tried = new Map<number, Uint8Array>();
  for (const s of waiting) {
    step.set(s, 1);
    const t = new Uint8Array(nodeCount);
    t[preferred[s]!] = 1;
    tried.set(s, t);
  }
  while (waiting.length > 0) {
    const next: number[] = [];
    for (const s of waiting) {
      const t = tried.get(s)!;
      let k = step.get(s)!;
      let candidate = -1;
      for (; k < points; k++) {
        const o = ring.ownerAt(start[s]! + k);
        if (t[o] === 0) {
          t[o] = 1;
          candidate = o;
          k++;
          break;
        }
      }
      step.set(s, k);
      if (candidate < 0) {
        // Tried every node: only possible if the quotas were wrong. Fail loudly rather than spin.
        candidate = roomiest(capacity);
        if (capacity[candidate]! <= 0) {
          throw new InvariantViolationError('placement-capacity', `no node has room for shard ${s}`, {
            capacity: [...capacity],
            waiting,
          });
        }
      }
      if (capacity[candidate]! > 0) {
        capacity[candidate]!--;
        target[s] = candidate;
      } else next.push(s);
    }
    waiting = next;
  }
}

/** The node with the most capacity left, lowest index on ties; a fallback that the walk never needs. */
function roomiest(capacity: Int32Array): number {
  let best = 0;
  for (let i = 1; i < capacity.length; i++) if (capacity[i]! > capacity[best]!) best = i;
  return best;
}
