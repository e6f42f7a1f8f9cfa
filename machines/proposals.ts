/**
 * What the root commits as leader: proposals from its children (lifecycle judges, the rebalancer),
 * from operators and from its own election, decided through the domain's commands into one batch
 * of events per commit. Pure.
 */

import { applyAll } from '../src/domain/apply.js';
import {
  compactDeparted,
  completeMigration,
  drainNode,
  electLeader,
  finishRebalance,
  joinCluster,
  leaveCluster,
  markNodeFailed,
  type Rejection,
  rebalanceShards,
} from '../src/domain/commands.js';
import { isInvariantViolation } from '../src/domain/errors.js';
import type { DomainEvent, EventStamp, RebalanceReason } from '../src/domain/events.js';
import type { PlacementStrategy } from '../src/domain/placement-strategy.js';
import { type ClusterState, retiredIncarnation } from '../src/domain/state.js';
import type { NodeId, ShardId, Term } from '../src/domain/values.js';
import { BalancedPlacement, ConsistentHashPlacement } from '../src/placement/index.js';

/** Placement strategies by name; the name travels in machine context, which must stay serializable. */
export const STRATEGIES: Readonly<Record<string, PlacementStrategy>> = {
  balanced: new BalancedPlacement(),
  'consistent-hash': new ConsistentHashPlacement(),
};

/** Who is waiting for a proposal's outcome. */
export type ProposalSource = 'lifecycle' | 'rebalancer' | 'root' | { readonly requestId: string };

export type Proposal = (
  | { readonly kind: 'election'; readonly term: Term }
  | { readonly kind: 'join'; readonly nodeId: NodeId; readonly incarnation: number; readonly weight: number }
  | {
      readonly kind: 'failed';
      readonly nodeId: NodeId;
      /** Incarnation judged failed; null for an operator's command (whatever incarnation is current). */
      readonly incarnation: number | null;
      readonly lastSeen: number;
    }
  | {
      readonly kind: 'leave';
      readonly nodeId: NodeId;
      readonly reason: 'graceful' | 'drained';
      /** The incarnation that leaves; null for whatever incarnation is current. */
      readonly incarnation: number | null;
    }
  | {
      readonly kind: 'drain';
      readonly nodeId: NodeId;
      /** The incarnation to drain; null for whatever incarnation is current. */
      readonly incarnation: number | null;
    }
  | { readonly kind: 'rebalance'; readonly reason: RebalanceReason }
  | { readonly kind: 'migrations'; readonly shardIds: readonly ShardId[]; readonly finish: boolean }
  /**
   * Remove the records of nodes departed at least `retentionMs` (`timing.departedRetentionMs`) ago; queue
   * it when {@link departedDue} is not empty. Carries the retention so that a batch decides alone.
   */
  | { readonly kind: 'compact'; readonly retentionMs: number }
) & { readonly source: ProposalSource };

export interface ProposalOutcome {
  readonly proposal: Proposal;
  readonly events: readonly DomainEvent[];
  readonly rejection: Rejection | null;
}

export interface Batch {
  readonly events: readonly DomainEvent[];
  readonly next: ClusterState;
  readonly outcomes: readonly ProposalOutcome[];
}

export interface BatchOptions {
  readonly strategy: string;
  readonly maxMovesPerRound: number;
  /** Lets the election of a node that is not yet a member admit it in the same commit (bootstrap). */
  readonly selfIncarnation: number;
  readonly selfWeight: number;
}

/**
 * Decides the proposals in order against `state`, applying each accepted one's events before the
 * next, so the batch is exactly what sequential commits would have produced.
 */
export function decideBatch(
  state: ClusterState,
  proposals: readonly Proposal[],
  stamp: EventStamp,
  opts: BatchOptions,
): Batch {
  let current = state;
  const events: DomainEvent[] = [];
  const outcomes: ProposalOutcome[] = [];
  for (const proposal of proposals) {
    let result: Result;
    let next = current;
    try {
      result = decideOne(current, proposal, stamp, opts);
      if (result.ok) next = applyAll(current, result.events);
    } catch (err) {
      // A decision that would break an invariant is refused, never committed; the node lives on.
      if (!isInvariantViolation(err)) throw err;
      result = { ok: false, rejection: { code: 'INVARIANT_VIOLATION', message: err.message } };
    }
    if (result.ok) {
      current = next;
      events.push(...result.events);
      outcomes.push({ proposal, events: result.events, rejection: null });
    } else {
      outcomes.push({ proposal, events: [], rejection: result.rejection });
    }
  }
  return { events, next: current, outcomes };
}

type Result = { ok: true; events: DomainEvent[] } | { ok: false; rejection: Rejection };

function decideOne(state: ClusterState, p: Proposal, s: EventStamp, opts: BatchOptions): Result {
  switch (p.kind) {
    case 'election': {
      const elected = electLeader(state, { nodeId: s.origin, term: p.term }, s);
      if (!elected.ok) return elected;
      const afterElection = applyAll(state, elected.events);
      const self = afterElection.nodes[s.origin];
      // Bootstrap (nobody is Active yet) or a restarted leader (its old process is on record): the new
      // leader admits itself, as this process, in the same commit.
      if (self?.status === 'Active' && self.incarnation === opts.selfIncarnation) return elected;
      const joined = joinCluster(
        afterElection,
        { nodeId: s.origin, incarnation: opts.selfIncarnation, weight: opts.selfWeight },
        s,
      );
      if (!joined.ok) return joined;
      return { ok: true, events: [...elected.events, ...joined.events] };
    }
    case 'join':
      return joinCluster(state, { nodeId: p.nodeId, incarnation: p.incarnation, weight: p.weight }, s);
    case 'failed': {
      const known = state.nodes[p.nodeId];
      // A failure proposed for an incarnation that has since been replaced is refused as stale.
      return markNodeFailed(
        state,
        {
          nodeId: p.nodeId,
          lastSeen: p.lastSeen || (known?.lastSeen ?? 0),
          ...(p.incarnation === null ? {} : { incarnation: p.incarnation }),
        },
        s,
      );
    }
    case 'leave':
      return leaveCluster(
        state,
        {
          nodeId: p.nodeId,
          reason: p.reason,
          ...(p.incarnation === null ? {} : { incarnation: p.incarnation }),
        },
        s,
      );
    case 'drain':
      return drainNode(
        state,
        { nodeId: p.nodeId, ...(p.incarnation === null ? {} : { incarnation: p.incarnation }) },
        s,
      );
    case 'rebalance': {
      const strategy = STRATEGIES[opts.strategy] ?? STRATEGIES.balanced!;
      return rebalanceShards(
        state,
        { strategy, reason: p.reason, rebalanceId: s.nextId(), maxMoves: Number.MAX_SAFE_INTEGER },
        s,
      );
    }
    case 'migrations': {
      let current = state;
      const events: DomainEvent[] = [];
      for (const shardId of p.shardIds) {
        const r = completeMigration(current, { shardId }, s);
        // A move invalidated by a topology change is skipped; the queued re-plan covers it.
        if (!r.ok) continue;
        current = applyAll(current, r.events);
        events.push(...r.events);
      }
      if (p.finish && current.rebalance !== null) {
        const f = finishRebalance(current, {}, s);
        if (f.ok) events.push(...f.events);
      }
      return { ok: true, events };
    }
    case 'compact':
      return compactDeparted(state, { retentionMs: p.retentionMs }, s);
  }
}

/**
 * Departed nodes whose records a `compact` proposal would remove at `now` (see `compactDeparted`):
 * queue one when this is not empty. Each removed id's lifecycle actor must be stopped once committed.
 */
export { departedDue } from '../src/domain/commands.js';

/** Reason for rebalancing after a membership event. */
export function rebalanceReasonFor(event: DomainEvent): RebalanceReason | null {
  switch (event.type) {
    case 'NodeJoined':
      return 'node-joined';
    case 'NodeFailed':
      return 'node-failed';
    case 'NodeLeft':
      return 'node-left';
    case 'NodeDraining':
      return 'node-draining';
    default:
      return null;
  }
}

/** Draining nodes that own no shard any more and may leave. */
export function drainedNodes(state: ClusterState): NodeId[] {
  const owning = new Set<NodeId>();
  for (const o of state.shardMap.owners) if (o !== null) owning.add(o);
  return Object.values(state.nodes)
    .filter((n) => n.status === 'Draining' && !owning.has(n.id))
    .map((n) => n.id)
    .sort();
}

/**
 * Whether `nodeId` may campaign for leadership: it is Active, or a newer process of an Active member,
 * or no node is Active yet (bootstrap).
 */
export function eligibleToLead(state: ClusterState, nodeId: NodeId, incarnation: number): boolean {
  const self = state.nodes[nodeId];
  // A process of a member removed after it departed may not lead: its own admission would be refused.
  if (incarnation <= (retiredIncarnation(state, nodeId) ?? -1)) return false;
  if (self && self.incarnation === incarnation) return self.status === 'Active';
  if (self && self.incarnation > incarnation) return false;
  // A newer process of a member still on record may lead: when every member restarted within the
  // failure timeout, no one else could, and no leader would be left to fail the old records.
  if (self && self.status === 'Active') return true;
  return !Object.values(state.nodes).some((n) => n.status === 'Active');
}
